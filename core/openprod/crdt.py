"""CRDT text and list fields in the Yjs update format: merged automatically, never in conflict.

The backend (pycrdt/Yrs on CPython, Yjs in the browser) is handed in behind `CrdtBackend`;
both read and write the same binary updates, so peers on either side merge each other's edits.
Every edit is an ApplyCrdt op whose delta is a Yjs update, so state is simply all deltas of a
field applied in any order (Yjs updates commute and are idempotent). Documents are rebuilt from
the oplog on first use and cached; rendering (the text or list people see) is lazy, because
re-storing a long text after every keystroke would cost more than the keystroke.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from typing import Any, Protocol

TEXT_ROOT = "t"  # Y.Doc.getText("t") / pycrdt doc.get("t", type=Text)
LIST_ROOT = "l"  # Y.Doc.getArray("l")
CACHE_SIZE = 256
# A cached text document is rebuilt compactly (`PycrdtBackend.compact`) once it has taken this many
# changes since it was built or last compacted, and at least 1/COMPACT_SHARE of the changes it held
# then: the cost of a rebuild grows with the document, so this keeps it a small share per edit.
COMPACT_AFTER = 1000
COMPACT_SHARE = 8

Edit = tuple[int, int, str]  # (index, how many characters to delete there, text to insert there)
ListEdit = tuple[int, int, list[Any]]  # (raw index, how many elements to delete there, elements to insert)


def element(value: Any, stamp: bytes) -> list[Any]:
    """A list element as stored: the value and the HLC of the operation that added it.

    The stamp is what lets a ClearAndAdd clear exactly the elements added before it, on every
    peer, whatever order the operations arrive in (spec conflicts.md, "ClearAndAdd")."""
    return [value, stamp.hex()]


def unstamped(raw: Any) -> tuple[Any, str]:
    """(value, stamp hex) of a stored element; elements of lists written before stamps were
    introduced are bare values, older than any clear ("")."""
    stamped = isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str)
    value, stamp = (raw[0], raw[1]) if stamped else (raw, "")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)  # Yrs hands every number back as a float, Yjs (via Pyodide) an int: one form
    return value, stamp


def visible(raw: list[Any], cleared: str) -> list[tuple[int, Any]]:
    """(raw index, value) of the elements a person sees: those added at or after the last clear."""
    out = []
    for index, item in enumerate(raw):
        value, stamp = unstamped(item)
        if stamp >= cleared:
            out.append((index, value))
    return out


class CrdtBackend(Protocol):
    """One Yjs implementation. Handles are opaque documents owned by the backend."""

    def new_doc(self, kind: str) -> Any: ...

    def apply(self, doc: Any, delta: bytes) -> None: ...

    def edit_text(self, doc: Any, edits: list[Edit]) -> bytes:
        """Apply `edits` (indices in this backend's `units`) in order; return their Yjs update."""
        ...

    def units(self, text: str) -> int:
        """How long `text` is in this backend's text indices (Yrs: UTF-8 bytes; Yjs: UTF-16
        code units); Python counts characters, so non-ASCII edits are converted with this."""
        ...

    def edit_list(self, doc: Any, edits: list[ListEdit]) -> bytes:
        """Apply (index, delete count, elements to insert) edits to the raw array, in order, and
        return the Yjs update that encodes them: element operations, never a whole-list rewrite."""
        ...

    def elements(self, doc: Any) -> list[Any]:
        """The raw elements of a list, stamped (see `element`) or, in older lists, bare values."""
        ...

    def render(self, doc: Any, kind: str) -> Any: ...

    def length(self, doc: Any) -> int:
        """Items in a list (a text's length in `units`), without rendering it."""
        ...

    def encode_state(self, doc: Any) -> bytes: ...


class _Capture:
    """A pycrdt document's kept observer: collects the updates of the local edit running now."""

    __slots__ = ("out", "subscription")

    def __init__(self) -> None:
        self.subscription: Any = None
        self.out: list[bytes] | None = None

    def note(self, event: Any) -> None:
        if self.out is not None:
            self.out.append(bytes(event.update))


class PycrdtBackend:
    """Yrs through pycrdt (CPython). A document is (Doc, its root, its `_Capture`)."""

    def __init__(self, random_bytes: Any) -> None:
        import pycrdt

        self._pycrdt = pycrdt
        self._random = random_bytes

    def new_doc(self, kind: str) -> Any:
        client_id = int.from_bytes(self._random(4), "big") & 0x7FFF_FFFF
        doc: Any = self._pycrdt.Doc(client_id=client_id)
        root = doc.get(TEXT_ROOT, type=self._pycrdt.Text) if kind == "text" else doc.get(LIST_ROOT,
                                                                                         type=self._pycrdt.Array)
        return (doc, root, _Capture())

    def apply(self, doc: Any, delta: bytes) -> None:
        doc[0].apply_update(delta)

    def _captured(self, doc: Any, change: Any) -> bytes:
        """Run `change` in one transaction and return exactly that transaction's update.

        (A diff against the previous state vector would also carry the whole delete set: a
        keystroke in a long, much-edited text would cost kilobytes.) The document's observer is
        subscribed at its first local edit and kept: subscribing and dropping one per keystroke
        cost about 10 us of Python in pycrdt (a keystroke's Yrs edit is 60-100 us). Documents
        only built from the oplog or merged into never get one, so others' deltas pay nothing."""
        ydoc, capture = doc[0], doc[2]
        if capture.subscription is None:
            capture.subscription = ydoc.observe(capture.note)
        updates: list[bytes] = []
        capture.out = updates
        try:
            with ydoc.transaction():
                change()
        finally:
            capture.out = None
        return updates[0] if len(updates) == 1 else bytes(self._pycrdt.merge_updates(*updates))

    def edit_text(self, doc: Any, edits: list[Edit]) -> bytes:
        """As `_captured` with the edits, but through pycrdt's native objects (its `Doc._doc`,
        `Text._integrated` and their transaction), not its Python wrappers: a keystroke's wrappers
        (a Transaction object, its enter and exit, each edit's nested transaction and checks) cost
        ~3 us of Python around the same Yrs calls. Same Yrs calls, same update bytes (pycrdt is
        pinned; tests/test_crdt_native.py checks both against its public API)."""
        ydoc, native, capture = doc[0], doc[1]._integrated, doc[2]
        if capture.subscription is None:
            capture.subscription = ydoc.observe(capture.note)
        updates: list[bytes] = []
        capture.out = updates
        txn = ydoc._doc.create_transaction()
        try:
            for index, delete, insert in edits:
                if delete:
                    native.remove_range(txn, index, delete)
                if insert:
                    native.insert(txn, index, insert, None)
        finally:
            try:
                txn.commit()  # as pycrdt's Transaction.__exit__: committed even when an edit raised
            finally:
                txn.drop()
                capture.out = None
        if ydoc._exceptions:  # the observer raised (pycrdt collects it): as pycrdt's exit does
            exceptions = tuple(ydoc._exceptions)
            ydoc._exceptions.clear()
            raise ExceptionGroup("Observer callback error", exceptions)
        return updates[0] if len(updates) == 1 else bytes(self._pycrdt.merge_updates(*updates))

    def edit_list(self, doc: Any, edits: list[ListEdit]) -> bytes:
        array = doc[1]

        def change() -> None:
            for index, delete, insert in edits:
                if delete:
                    del array[index:index + delete]
                for offset, item in enumerate(insert):
                    array.insert(index + offset, item)

        return self._captured(doc, change)

    def units(self, text: str) -> int:
        return len(text.encode("utf-8"))

    def elements(self, doc: Any) -> list[Any]:
        return list(doc[1].to_py())

    def render(self, doc: Any, kind: str) -> Any:
        return str(doc[1]) if kind == "text" else list(doc[1].to_py())

    def length(self, doc: Any) -> int:
        return len(doc[1])

    def encode_state(self, doc: Any) -> bytes:
        return bytes(doc[0].get_update())

    def compact(self, doc: Any) -> Any:
        """The same document rebuilt from its own state, in one piece of memory.

        Why: Yrs finds an index by walking the document's blocks. Blocks made one keystroke at a
        time, between the SQLite pages and Python objects a transaction allocates, end up spread
        over the heap, and the walk slows with cache misses: at 60,000 keystrokes of the W3 trace
        an edit took 290-445 us on the document typed through the workspace and 93-116 us on the
        same document rebuilt (measured the way bench/w3_breakdown.py does). Same client id, so this peer's next edit
        continues its own clock; same content, so the next delta is what it would have been."""
        ydoc, root = doc[0], doc[1]
        fresh: Any = self._pycrdt.Doc(client_id=ydoc.client_id)
        fresh.apply_update(ydoc.get_update())
        kind = self._pycrdt.Text if isinstance(root, self._pycrdt.Text) else self._pycrdt.Array
        return (fresh, fresh.get(TEXT_ROOT if kind is self._pycrdt.Text else LIST_ROOT, type=kind), _Capture())


# A local edit's text is spliced at the latest when this many edits wait (see `KeptText`).
SPLICE_AFTER = 32


class KeptText:
    """A text field's text after local edits: a text and the character-indexed edits made to it
    since, spliced into one string only when read (`text()`), or every `SPLICE_AFTER` edits.

    Why not splice each keystroke: each made a new copy of the whole text that undo then kept (100
    of them), and for a long text that cost more than the copy: at 30,000 steps of the W3 trace
    (~18,000 characters) a keystroke took ~4.5 % less CPU without it, part of that in Yrs's own edit,
    whose blocks the kept copies pushed out of the cache (docs/benchmarks.md, session 13). Spliced
    every `SPLICE_AFTER` edits, one copy is kept per that many keystrokes, and undo, reading an
    older text, splices at most that many edits. Length and ASCII-ness are known without splicing."""

    __slots__ = ("_base", "_edits", "_text", "_waiting", "ascii", "length")

    def __init__(self, text: str | None, base: KeptText | None = None, edits: tuple[Edit, ...] = (),
                 length: int = 0, ascii: bool = True, waiting: int = 0) -> None:
        self._text = text
        self._base = base
        self._edits = edits
        self.length = len(text) if text is not None else length
        self.ascii = text.isascii() if text is not None else ascii  # False: perhaps not (then read it)
        self._waiting = waiting  # edits since the last spliced text, this one's included

    @classmethod
    def of(cls, text: str) -> KeptText:
        return cls(text)

    def then(self, edits: list[Edit]) -> KeptText:
        """The text after checked `edits` (in characters), spliced now if enough edits wait."""
        length = self.length
        for _, delete, insert in edits:
            length += len(insert) - delete
        waiting = (0 if self._text is not None else self._waiting) + len(edits)
        after = KeptText(None, self, tuple(edits), length,
                         self.ascii and all(insert.isascii() for _, _, insert in edits), waiting)
        if waiting >= SPLICE_AFTER:
            after.text()
        return after

    def text(self) -> str:
        """The text itself (spliced once, then kept)."""
        if self._text is None:
            chain: list[KeptText] = []
            node: KeptText = self
            while node._text is None:
                chain.append(node)
                assert node._base is not None
                node = node._base
            edits = [edit for kept in reversed(chain) for edit in kept._edits]
            self._text = _spliced(node._text, edits)
            self._base, self._edits, self._waiting = None, (), 0
            self.ascii = self._text.isascii()
        return self._text

    def __str__(self) -> str:
        return self.text()


def _spliced(text: str, edits: list[Edit]) -> str:
    """`text` after `edits`, one after the other."""
    for index, delete, insert in edits:
        text = "".join((text[:index], insert, text[index + delete:]))
    return text


class CrdtStore:
    """Live documents for CRDT fields, loaded from the oplog on demand (LRU cache)."""

    def __init__(self, conn: sqlite3.Connection, backend: CrdtBackend | None,
                 members: Any = lambda field: (field,), records: Any = lambda entity: [entity]) -> None:
        self.conn = conn
        self.backend = backend
        self.members = members  # field id -> the mapped fields that share its document
        self.records = records  # record id -> the ids merged with it (their deltas share it too)
        self._docs: OrderedDict[tuple[bytes, str], Any] = OrderedDict()
        self._cleared: dict[tuple[bytes, str], str] = {}  # a cached list's last ClearAndAdd (HLC hex)
        # a cached text document as people see it, kept up to date by local edits (see `edit_text`)
        self._texts: dict[tuple[bytes, str], KeptText] = {}
        self._own: tuple[tuple[bytes, str], bytes] | None = None  # the last local delta, already in its doc
        # a cached text document's changes since it was built or compacted, and the changes it held then
        self._changes: dict[tuple[bytes, str], list[int]] = {}
        # staged (overlay) deltas being viewed, each with its ClearAndAdd HLC (None for an edit)
        self.extra: dict[tuple[bytes, str], list[tuple[bytes, bytes | None]]] = {}

    def reset(self) -> None:
        """Forget cached documents (after a rollback or a rebuild)."""
        self._docs.clear()
        self._cleared.clear()
        self._texts.clear()
        self._changes.clear()
        self._own = None
        self.extra.clear()

    def require(self) -> CrdtBackend:
        if self.backend is None:
            from .errors import LocalError

            raise LocalError("this workspace was opened without a CRDT backend; text/list fields need one")
        return self.backend

    def doc(self, entity: bytes, field: str, kind: str) -> Any:
        """The document of a field (shared by fields mapped together), built from the oplog."""
        members = tuple(self.members(field))
        key = (entity, members[0])
        found = self._docs.get(key)
        if found is not None:  # a keystroke asks three times: the imports below only on a miss
            self._docs.move_to_end(key)
            return found
        from .operations import decode_stored_op
        from .oplog import MAIN_WRITES

        backend = self.require()
        doc = backend.new_doc(kind)
        marks = ",".join("?" * len(members))
        records = list(self.records(entity))
        rmarks = ",".join("?" * len(records))
        cleared = ""
        held = 0
        for (payload,) in self.conn.execute(
                f"SELECT l.payload FROM {MAIN_WRITES} WHERE t.target IN ({rmarks}) AND l.field IN ({marks})"
                " AND l.op_type IN ('ApplyCrdt', 'ClearAndAdd') ORDER BY l.seq", (*records, *members)):
            op: Any = decode_stored_op(payload)
            backend.apply(doc, op.delta)
            held += 1
            if op.TYPE == "ClearAndAdd":
                cleared = max(cleared, op.hlc.hex())
        for record in records:
            for member in members:
                for delta, clear in self.extra.get((record, member), ()):
                    backend.apply(doc, delta)
                    if clear is not None:
                        cleared = max(cleared, clear.hex())
        self._docs[key] = doc
        self._cleared[key] = cleared
        if kind == "text":
            self._changes[key] = [held, 0]  # built from `held` deltas, one at a time: as scattered
            self._compact_if_due(key)
        if len(self._docs) > CACHE_SIZE:
            old, _ = self._docs.popitem(last=False)
            self._cleared.pop(old, None)
            self._texts.pop(old, None)
            self._changes.pop(old, None)
        return self._docs[key]

    def _compact_if_due(self, key: tuple[bytes, str]) -> None:
        """Rebuild a text document compactly when enough changes piled up (`COMPACT_AFTER`)."""
        counts = self._changes.get(key)
        compact = getattr(self.backend, "compact", None)
        if counts is None or compact is None or counts[0] < max(COMPACT_AFTER, counts[1] // COMPACT_SHARE):
            return
        self._docs[key] = compact(self._docs[key])
        self._changes[key] = [0, counts[0] + counts[1]]

    def applied(self, entity: bytes, field: str, delta: bytes, cleared: bytes | None = None) -> None:
        """A delta (of a ClearAndAdd at HLC `cleared`) was applied to state: bring a cached
        document up to date (idempotent)."""
        key = (entity, next(iter(self.members(field))))
        if self._own is not None and self._own[0] == key and self._own[1] == delta:
            self._own = None  # this peer's own edit, made on the cached document a moment ago
            return
        doc = self._docs.get(key)
        if doc is not None and self.backend is not None:
            self.backend.apply(doc, delta)
            self._texts.pop(key, None)
            counts = self._changes.get(key)
            if counts is not None:
                counts[0] += 1
            if cleared is not None:
                self._cleared[key] = max(self._cleared.get(key, ""), cleared.hex())

    def cleared(self, entity: bytes, field: str) -> str:
        """HLC (hex) of the last ClearAndAdd on a list field, "" if it was never cleared."""
        self.doc(entity, field, "list")
        return self._cleared.get((entity, next(iter(self.members(field)))), "")

    def list_view(self, entity: bytes, field: str) -> list[tuple[int, Any]]:
        """(raw index, value) of each element a person sees in a list field, in order."""
        doc = self.doc(entity, field, "list")
        return visible(self.require().elements(doc), self.cleared(entity, field))

    def render(self, entity: bytes, field: str, kind: str) -> Any:
        if kind == "list":
            return [value for _, value in self.list_view(entity, field)]
        return self._text(self.doc(entity, field, kind), (entity, next(iter(self.members(field)))))

    def _kept(self, doc: Any, key: tuple[bytes, str]) -> KeptText:
        kept = self._texts.get(key)
        if kept is None:
            kept = self._texts[key] = KeptText.of(self.require().render(doc, "text"))
        return kept

    def _text(self, doc: Any, key: tuple[bytes, str]) -> str:
        return self._kept(doc, key).text()

    def text_length(self, entity: bytes, field: str) -> int:
        """Characters in a text field (rendered once, then kept)."""
        key = (entity, next(iter(self.members(field))))
        return self._kept(self.doc(entity, field, "text"), key).length

    def edit_text(self, entity: bytes, field: str, edits: list[Edit]) -> tuple[KeptText, KeptText, bytes]:
        """Apply checked `edits` to a text field's document: (the text before, after, the Yjs update).

        Why the text is kept here: undo needs the text as it was, and rendering a long, much-edited
        text from Yrs on every keystroke costs more than the keystroke. The next text is the
        previous one with the edits, in Python (`KeptText`, spliced when read): edits are in
        characters, and only the backend's indices differ (`_in_units`). Another's delta drops the
        kept text; it is rendered when next asked for."""
        backend = self.require()
        doc = self.doc(entity, field, "text")
        key = (entity, next(iter(self.members(field))))
        before = self._kept(doc, key)
        delta = backend.edit_text(doc, edits if before.ascii else _in_units(backend, before.text(), edits))
        self._own = (key, delta)
        counts = self._changes.get(key)
        if counts is not None:
            counts[0] += 1
            self._compact_if_due(key)
        after = self._texts[key] = before.then(edits)
        return before, after, delta


def _in_units(backend: CrdtBackend, text: str, edits: list[Edit]) -> list[Edit]:
    """Character-indexed `edits` of `text` as the backend indexes them: "é" is two UTF-8 bytes
    in Yrs and "😀" two UTF-16 units in Yjs, so an index past either would land mid-character."""
    out: list[Edit] = []
    for index, delete, insert in edits:
        out.append((backend.units(text[:index]), backend.units(text[index:index + delete]), insert))
        text = text[:index] + insert + text[index + delete:]
    return out
