"""The text kept beside a cached text document (crdt.CrdtStore): it must always equal what Yrs
renders, after local keystrokes, others' edits, rolled-back transactions, undo and non-ASCII text."""

from __future__ import annotations

import random

import pytest
from test_crdt import NOTES, NOTES_MODULE

from helpers import crdt_backend, sync
from openprod import ValidationError

BACKEND = crdt_backend(lambda n: bytes(n))  # Yrs on CPython, Yjs under Pyodide
pytestmark = pytest.mark.skipif(BACKEND is None, reason="no CRDT backend here")


@pytest.fixture
def pair(peer_factory):
    alice = peer_factory("Alice")
    alice.ws.adopt_module(NOTES_MODULE)
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record("props.Props", {"item": "Dagger"})
    sync(alice, bob)
    return alice, bob, rid


def shown(peer, rid) -> str:
    return peer.ws.records.get(rid).get("notes") or ""


def rendered(peer, rid) -> str:
    """The text of the field's live Yjs document, read into a fresh document (not what is kept)."""
    doc = BACKEND.new_doc("text")
    BACKEND.apply(doc, peer.ws.records.crdt_state(rid, NOTES))
    return str(BACKEND.render(doc, "text"))


def type_keys(peer, rid, keys: list[tuple[int, int, str]]) -> None:
    for key in keys:
        with peer.ws.transaction() as tx:
            tx.edit_text(rid, NOTES, [key])


def test_keystrokes_and_edits_from_others_keep_the_text_equal_to_the_document(pair) -> None:
    alice, bob, rid = pair
    type_keys(alice, rid, [(0, 0, "H"), (1, 0, "i"), (2, 0, " all"), (2, 0, ","), (6, 1, "")])
    assert shown(alice, rid) == rendered(alice, rid) == "Hi, al"
    sync(alice, bob)
    type_keys(bob, rid, [(0, 0, "Props: ")])
    type_keys(alice, rid, [(6, 0, "l!")])
    sync(alice, bob)
    assert shown(alice, rid) == rendered(alice, rid) == shown(bob, rid) == "Props: Hi, all!"
    type_keys(alice, rid, [(15, 0, " Go")])  # typing on after others' edit arrived
    assert shown(alice, rid) == rendered(alice, rid) == "Props: Hi, all! Go"


def test_a_refused_or_rolled_back_edit_leaves_the_kept_text_alone(pair) -> None:
    alice, _, rid = pair
    type_keys(alice, rid, [(0, 0, "Cue 5")])
    with pytest.raises(ValidationError), alice.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(5, 0, " GO")])
        tx.edit_text(rid, NOTES, [(99, 0, "x")])  # outside the text: the whole transaction goes
    assert shown(alice, rid) == rendered(alice, rid) == "Cue 5"
    with pytest.raises(RuntimeError), alice.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(5, 0, " GO")])
        raise RuntimeError("the caller gave up")
    assert shown(alice, rid) == rendered(alice, rid) == "Cue 5"


def test_undo_of_keystrokes_restores_each_text(pair) -> None:
    alice, _, rid = pair
    type_keys(alice, rid, [(0, 0, "a"), (1, 0, "b"), (0, 1, ""), (1, 0, "c")])
    assert shown(alice, rid) == "bc"
    for expected in ("b", "ab", "a", ""):
        assert alice.ws.undo().done
        assert shown(alice, rid) == rendered(alice, rid) == expected


def test_text_beyond_ascii_is_rendered_not_spliced(pair) -> None:
    alice, bob, rid = pair
    type_keys(alice, rid, [(0, 0, "Fog"), (3, 0, " cue café")])
    assert shown(alice, rid) == rendered(alice, rid) == "Fog cue café"
    sync(alice, bob)
    assert shown(bob, rid) == "Fog cue café"


def test_edits_after_non_ascii_characters_land_where_the_person_put_them(pair) -> None:
    """Edit indices are characters; Yrs counts UTF-8 bytes ("é" is two) and Yjs UTF-16 units ("😀" is
    two). Unconverted, deleting the "é" of "café!" took "é!" with it, and typing after an accent
    landed a character early."""
    alice, bob, rid = pair
    type_keys(alice, rid, [(0, 0, "café!")])
    type_keys(alice, rid, [(3, 1, "e")])  # the accent replaced
    assert shown(alice, rid) == rendered(alice, rid) == "cafe!"
    type_keys(alice, rid, [(0, 0, "Noël 😀 "), (12, 0, " ok"), (5, 1, "🎭")])
    assert shown(alice, rid) == rendered(alice, rid) == "Noël 🎭 cafe! ok"
    with alice.ws.transaction() as tx:  # several edits in one transaction, each after the one before
        tx.edit_text(rid, NOTES, [(0, 4, "Zoë"), (3, 0, ","), (len("Zoë, 🎭 cafe! ok"), 0, "…")])
    assert shown(alice, rid) == rendered(alice, rid) == "Zoë, 🎭 cafe! ok…"
    with alice.ws.transaction() as tx:
        tx.set_text(rid, NOTES, "Zoë, 🎭 café! ok…")  # the smallest edit, found by characters
    assert shown(alice, rid) == rendered(alice, rid) == "Zoë, 🎭 café! ok…"
    with pytest.raises(ValidationError, match="outside the text"), alice.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(len("Zoë, 🎭 café! ok…") + 1, 0, "x")])  # the length is in characters
    sync(alice, bob)
    assert shown(bob, rid) == rendered(bob, rid) == "Zoë, 🎭 café! ok…"


def test_the_browser_backend_counts_utf16_units() -> None:
    """YjsBackend (Pyodide) converts with UTF-16 lengths, as Yjs indexes text (no JavaScript needed)."""
    from openprod.crdt_yjs import YjsBackend

    backend = YjsBackend(None, lambda n: bytes(n))
    assert [backend.units(s) for s in ("", "abc", "é", "😀", "a😀é")] == [0, 3, 1, 2, 4]


def _random_keys(rng: random.Random, text: str, count: int) -> tuple[list[tuple[int, int, str]], list[str]]:
    """`count` keystrokes (inserts, deletes, replacements; some non-ASCII) and the text after each."""
    keys, texts = [], []
    for _ in range(count):
        at = rng.randint(0, len(text))
        delete = rng.randint(0, min(2, len(text) - at)) if rng.random() < 0.35 else 0
        size = rng.choice((0, 1, 1, 3)) if delete else rng.choice((1, 1, 3))
        insert = "".join(rng.choice("ab é😀") for _ in range(size))
        keys.append((at, delete, insert))
        text = text[:at] + insert + text[at + delete:]
        texts.append(text)
    return keys, texts


@pytest.mark.parametrize("seed", range(3))
def test_a_kept_text_reads_as_the_edits_spliced_one_by_one(seed: int) -> None:
    """crdt.KeptText splices only when read, every SPLICE_AFTER edits, and through pieces: each
    state (read in any order, as undo reads older ones) must be the edits spliced one by one."""
    from openprod.crdt import SPLICE_AFTER, KeptText

    rng = random.Random(seed)
    start = "Act 1 café"
    kept = [KeptText.of(start)]
    expected = [start]
    for _ in range(4 * SPLICE_AFTER + 7):
        keys, texts = _random_keys(rng, expected[-1], rng.choice((1, 1, 1, 2)))
        kept.append(kept[-1].then(keys))
        expected.append(texts[-1])
        assert kept[-1].length == len(expected[-1])
        assert kept[-1].ascii is False or expected[-1].isascii()  # True only when it is
    order = list(range(len(kept)))
    rng.shuffle(order)
    for index in order:
        assert kept[index].text() == str(kept[index]) == expected[index]
        assert kept[index].ascii == expected[index].isascii()


def test_undo_of_many_keystrokes_restores_each_text(pair) -> None:
    """More keystrokes than a kept text waits before splicing (crdt.SPLICE_AFTER), then each undone."""
    from openprod.crdt import SPLICE_AFTER

    alice, _, rid = pair
    keys, texts = _random_keys(random.Random(7), "", 2 * SPLICE_AFTER + 5)
    type_keys(alice, rid, keys)
    assert shown(alice, rid) == rendered(alice, rid) == texts[-1]
    for expected in reversed(["", *texts[:-1]]):
        assert alice.ws.undo().done
        assert shown(alice, rid) == rendered(alice, rid) == expected
