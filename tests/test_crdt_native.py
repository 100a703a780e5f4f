"""A keystroke's Yrs edit goes through pycrdt's native objects, not its Python wrappers
(`PycrdtBackend.edit_text`, session 13): it must make exactly the update pycrdt's public API makes.

The delta is what is signed, stored and sent, so a byte of difference would fork what peers and
the oplog hold. pycrdt is pinned (pyproject); if an upgrade changes the private names or what the
native calls do, these tests say so. CPython only (the Yrs backend's; under Pyodide it is Yjs)."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest

pycrdt = pytest.importorskip("pycrdt", reason="the Yrs backend is CPython's; under Pyodide the backend is Yjs")

from openprod.crdt import PycrdtBackend  # noqa: E402


def _public_edit(doc: Any, edits: list[tuple[int, int, str]]) -> bytes:
    """The edits through pycrdt's public API, their update read as the backend reads it (the
    document's observer, one transaction): what `edit_text` did before session 13."""
    ydoc, text = doc[0], doc[1]
    updates: list[bytes] = []
    subscription = ydoc.observe(lambda event: updates.append(bytes(event.update)))
    try:
        with ydoc.transaction():
            for index, delete, insert in edits:
                if delete:
                    del text[index:index + delete]
                if insert:
                    text.insert(index, insert)
    finally:
        ydoc.unobserve(subscription)
    return updates[0] if len(updates) == 1 else bytes(pycrdt.merge_updates(*updates))


def _random_edits(rng: random.Random, text: str) -> tuple[list[tuple[int, int, str]], str]:
    """1-3 edits in UTF-8 byte indices (Yrs's), each at a character boundary."""
    edits = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        at = rng.randint(0, len(text))
        delete = rng.randint(0, min(3, len(text) - at)) if rng.random() < 0.4 else 0
        insert = "".join(rng.choice("ab é😀\n") for _ in range(rng.choice((0, 1, 1, 1, 4)))) if delete else \
            "".join(rng.choice("ab é😀\n") for _ in range(rng.choice((1, 1, 1, 4))))
        units = len(text[:at].encode())
        edits.append((units, len(text[at:at + delete].encode()), insert))
        text = text[:at] + insert + text[at + delete:]
    return edits, text


@pytest.mark.parametrize("seed", range(4))
def test_native_edit_makes_the_public_apis_update(seed: int) -> None:
    rng = random.Random(seed)
    backend = PycrdtBackend(os.urandom)
    ours = backend.new_doc("text")
    client_id = ours[0].client_id
    theirs: Any = pycrdt.Doc(client_id=client_id)  # the same client: the same ids, so the same bytes
    reference = (theirs, theirs.get("t", type=pycrdt.Text))
    expected = ""
    for _ in range(300):
        edits, expected = _random_edits(rng, expected)
        assert backend.edit_text(ours, edits) == _public_edit(reference, edits)
        assert str(ours[1]) == str(reference[1]) == expected
    assert ours[0].get_update() == theirs.get_update()


def test_a_failed_edit_leaves_the_document_usable() -> None:
    """An edit that raises inside the native transaction still commits and drops it (as pycrdt's
    own exit does): the document takes the next edit, and pycrdt's public API still works."""
    backend = PycrdtBackend(os.urandom)
    doc = backend.new_doc("text")
    backend.edit_text(doc, [(0, 0, "hello")])
    with pytest.raises(TypeError):
        backend.edit_text(doc, [(1, 0, "X"), (2, 0, 5)])  # type: ignore[list-item]
    assert str(doc[1]) == "hXello"  # committed up to the failure, as before
    assert doc[2].out is None  # the observer collects nothing outside an edit (others' deltas pay nothing)
    delta = backend.edit_text(doc, [(0, 0, "Z")])
    assert str(doc[1]) == "ZhXello"
    other = backend.new_doc("text")
    backend.apply(other, doc[0].get_update())
    assert str(other[1]) == "ZhXello"
    with doc[0].transaction():
        doc[1].insert(0, "Q")
    assert str(doc[1]) == "QZhXello" and delta
