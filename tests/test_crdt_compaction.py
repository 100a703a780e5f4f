"""A text document rebuilt compactly after many changes (crdt.CrdtStore, `PycrdtBackend.compact`):
nothing a person or a peer sees may change with it: the text, the deltas sent (still readable by
every peer), others' edits merged after it, undo, and the document rebuilt from the oplog.

CPython only (the Yrs backend's), so not in tests/core, whose every test must give the same outcome
under Pyodide (tests/test_pyodide_suite.py); it borrows two of tests/core's modules."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

pytest.importorskip("pycrdt", reason="compaction is the CPython backend's (Yrs); under Pyodide the backend is Yjs")
sys.path.insert(0, str(Path(__file__).parent / "core"))

from test_crdt import NOTES_MODULE
from test_crdt_kept_text import rendered, shown, type_keys

import openprod.crdt as crdt
from helpers import sync
from openprod.crdt import PycrdtBackend


def _keys(rng: random.Random, text: str, count: int) -> tuple[list[tuple[int, int, str]], str]:
    keys = []
    for _ in range(count):
        at = rng.randint(0, len(text))
        if text and rng.random() < 0.3:
            at = min(at, len(text) - 1)
            keys.append((at, 1, ""))
            text = text[:at] + text[at + 1:]
        else:
            char = rng.choice("abc é😀\n")
            keys.append((at, 0, char))
            text = text[:at] + char + text[at:]
    return keys, text


def test_compacted_documents_type_sync_and_undo_like_the_others(peer_factory, monkeypatch) -> None:
    monkeypatch.setattr(crdt, "COMPACT_AFTER", 7)
    alice = peer_factory("Alice")
    alice.ws.adopt_module(NOTES_MODULE)
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record("props.Props", {"item": "Dagger"})
    sync(alice, bob)
    store = alice.ws._cx.crdt
    rng = random.Random(5)
    keys, expected = _keys(rng, "", 60)
    type_keys(alice, rid, keys[:1])
    first = next(iter(store._docs.values()))
    type_keys(alice, rid, keys[1:])
    assert next(iter(store._docs.values())) is not first  # compacted on the way
    assert shown(alice, rid) == rendered(alice, rid) == expected
    sync(alice, bob)
    assert shown(bob, rid) == expected  # the deltas made after compacting read anywhere
    more, bob_text = _keys(rng, expected, 30)
    type_keys(bob, rid, more)
    type_keys(alice, rid, [(0, 0, "A: ")])  # concurrent with Bob's
    sync(alice, bob)
    assert shown(alice, rid) == rendered(alice, rid) == shown(bob, rid) == rendered(bob, rid)
    merged = shown(alice, rid)
    assert "A: " in merged and len(merged) == len(bob_text) + 3  # both kept
    type_keys(alice, rid, [(len(merged), 0, " end")])
    assert alice.ws.undo().done
    assert shown(alice, rid) == rendered(alice, rid) == merged
    alice.ws._cx.crdt.reset()  # rebuilt from the oplog (and compacted at once: over 7 deltas)
    assert shown(alice, rid) == rendered(alice, rid) == merged
    sync(alice, bob)
    assert alice.ws.state_hash() == bob.ws.state_hash()


def test_compaction_keeps_the_client_id_so_the_next_delta_continues_the_clock() -> None:
    backend = PycrdtBackend(random.Random(1).randbytes)
    doc = backend.new_doc("text")
    for i in range(50):
        backend.edit_text(doc, [(i, 0, "x")])
    compacted = backend.compact(doc)
    assert compacted[0].client_id == doc[0].client_id and str(compacted[1]) == "x" * 50
    delta_here = backend.edit_text(compacted, [(50, 0, "y")])
    delta_there = backend.edit_text(doc, [(50, 0, "y")])
    assert delta_here == delta_there  # the same update, whichever copy made it
    listed = backend.new_doc("list")
    backend.edit_list(listed, [(0, 0, [1, "two", [3]])])
    assert backend.elements(backend.compact(listed)) == [1, "two", [3]]
