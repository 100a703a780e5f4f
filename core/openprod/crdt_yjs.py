"""Yjs (JavaScript) as the CRDT backend under Pyodide: the browser twin of PycrdtBackend.

pycrdt has no browser wheel; Yjs produces and reads the same update format, so deltas made
here merge with deltas made by pycrdt on CPython. The `Y` module object is handed in by the
worker (the core imports no JavaScript by itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .crdt import LIST_ROOT, TEXT_ROOT, Edit, ListEdit


def _to_js(value: Any) -> Any:
    from pyodide.ffi import to_js  # type: ignore[import-not-found]

    return to_js(value)


class YjsBackend:
    def __init__(self, y_module: Any, random_bytes: Callable[[int], bytes]) -> None:
        self._y = y_module
        self._random = random_bytes

    def new_doc(self, kind: str) -> Any:
        doc = self._y.Doc.new()
        doc.clientID = int.from_bytes(self._random(4), "big") & 0x7FFF_FFFF
        root = doc.getText(TEXT_ROOT) if kind == "text" else doc.getArray(LIST_ROOT)
        return (doc, root)

    def apply(self, doc: Any, delta: bytes) -> None:
        self._y.applyUpdate(doc[0], _to_js(delta))

    def _captured(self, ydoc: Any, change: Callable[[], None]) -> bytes:
        """Run `change` in one Yjs transaction; return exactly that transaction's update (a diff
        against the old state vector would also carry the document's whole delete set)."""
        from pyodide.ffi import create_proxy

        updates: list[bytes] = []
        handler = create_proxy(lambda update, *_rest: updates.append(bytes(update.to_py())))
        body = create_proxy(lambda *_args: change())
        ydoc.on("update", handler)
        try:
            ydoc.transact(body)
        finally:
            ydoc.off("update", handler)
            handler.destroy()
            body.destroy()
        if len(updates) == 1:
            return updates[0]
        return bytes(self._y.mergeUpdates(_to_js([_to_js(u) for u in updates])).to_py())

    def edit_text(self, doc: Any, edits: list[Edit]) -> bytes:
        text = doc[1]

        def change() -> None:
            for index, delete, insert in edits:
                if delete:
                    text.delete(index, delete)
                if insert:
                    text.insert(index, insert)

        return self._captured(doc[0], change)

    def edit_list(self, doc: Any, edits: list[ListEdit]) -> bytes:
        array = doc[1]

        def change() -> None:
            for index, delete, insert in edits:
                if delete:
                    array.delete(index, delete)
                if insert:
                    array.insert(index, _to_js(insert))

        return self._captured(doc[0], change)

    def elements(self, doc: Any) -> list[Any]:
        return list(doc[1].toJSON().to_py())

    def render(self, doc: Any, kind: str) -> Any:
        if kind == "text":
            return str(doc[1].toString())
        return list(doc[1].toJSON().to_py())

    def units(self, text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    def length(self, doc: Any) -> int:
        return int(doc[1].length)

    def encode_state(self, doc: Any) -> bytes:
        return bytes(self._y.encodeStateAsUpdate(doc[0]).to_py())
