"""Attachments in the browser worker: the blob store's Python side, blob transfer on the sync
links, and the page's attachment calls.

The bytes live in IndexedDB (worker/blobs.js), which is asynchronous, so the core's synchronous
`BlobStore` is split here: `WorkerBlobStore` keeps the index (which blobs are complete, how far
each transfer got, a running SHA-256 per transfer) and queues the writes, which the worker drains
(`take_writes`) and awaits before the next frames go out. Serving a piece needs a read from
IndexedDB, so the `BlobExchange` runs with `serve=False` and `BlobLinks` hands each request to the
worker (`take_reads`), which answers with `piece` or `none`.

A transfer interrupted by a dropped link resumes from its partial blob (same page), and so does
one interrupted by a reload: at start-up the worker hands back the chunks it kept, in order
(`WorkerBlobStore.resume`), which rebuilds the running SHA-256 and the size, and wants the blob
again, so only the rest is asked for. The whole blob is still verified against its hash at the end.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from openprod import ValidationError, Workspace
from openprod.blobs import BlobMismatch, BlobRef, check_hash
from openprod.sync import BlobExchange, BlobWanted, SyncSession

from . import writes

__all__ = ["ATTACHMENT_METHODS", "AttachmentsApi", "BlobLinks", "WorkerBlobStore"]


@dataclass
class _Partial:
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


class WorkerBlobStore:
    """A BlobStore whose bytes the worker keeps in IndexedDB (see the module docstring)."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self._partial: dict[str, _Partial] = {}
        self._writes: list[list[Any]] = []

    def known(self, blob: str, size: int) -> None:
        """The worker holds this blob complete (attached here, or fetched before a reload)."""
        self.sizes[check_hash(blob)] = int(size)

    def resume(self, blob: str, offset: int, data: Any) -> int:
        """Bytes of an unfinished transfer the worker kept in IndexedDB before a reload, in order
        from 0: counted and hashed again (not written again). Returns the size now held."""
        part = self._partial.setdefault(check_hash(blob), _Partial())
        if int(offset) != part.size:
            raise ValidationError(f"a partial blob resumes in order: expected offset {part.size}, got {offset}")
        chunk = _as_bytes(data)
        part.digest.update(chunk)
        part.size += len(chunk)
        return part.size

    def forget(self, blob: str) -> None:
        self.sizes.pop(blob, None)

    def take_writes(self) -> list[list[Any]]:
        """[["chunk", hash, offset, bytes] | ["complete", hash, size] | ["discard", hash]] in order."""
        out, self._writes = self._writes, []
        return out

    # --- BlobStore ----------------------------------------------------------------------------

    def has(self, blob: str) -> bool:
        return blob in self.sizes

    def size(self, blob: str) -> int | None:
        return self.sizes.get(blob)

    def read(self, blob: str, offset: int, length: int) -> bytes:
        raise ValidationError("the worker reads blob bytes from IndexedDB (BlobLinks answers requests)")

    def put(self, blob: str, data: bytes) -> None:
        self.append_partial(blob, 0, data)
        self.finish(blob)

    def partial_size(self, blob: str) -> int:
        found = self._partial.get(blob)
        return 0 if found is None else found.size

    def read_partial(self, blob: str) -> bytes:
        raise ValidationError("partial blobs are in IndexedDB")

    def append_partial(self, blob: str, offset: int, data: bytes) -> None:
        part = self._partial.setdefault(check_hash(blob), _Partial())
        if offset != part.size:
            raise ValidationError(f"a partial blob grows in order: expected offset {part.size}, got {offset}")
        part.digest.update(data)
        part.size += len(data)
        self._writes.append(["chunk", blob, offset, bytes(data)])

    def discard_partial(self, blob: str) -> None:
        if self._partial.pop(blob, None) is not None:
            self._writes.append(["discard", blob])

    def finish(self, blob: str) -> None:
        part = self._partial.pop(blob, None) or _Partial()
        got = "sha256:" + part.digest.hexdigest()
        if got != blob:
            self._writes.append(["discard", blob])
            raise BlobMismatch(f"the bytes hash to {got[:20]}..., not {blob[:20]}...: refused")
        self.sizes[blob] = part.size
        self._writes.append(["complete", blob, part.size])


class BlobLinks:
    """Blob transfer on the sync hub's links: the exchange fetches, the worker serves from IndexedDB."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.store = WorkerBlobStore()
        self.changed: set[str] = set()
        self.exchange = BlobExchange(self.store, max_bytes=lambda: ws.settings.max_blob_bytes,
                                     on_change=self.changed.add, serve=False)
        self._reads: list[list[Any]] = []
        self._sessions: dict[str, SyncSession] = {}

    def on_event(self, link: str, session: SyncSession, event: Any) -> bool:
        """A session event: True if it was about blobs (and is handled here)."""
        self._sessions[link] = session
        if isinstance(event, BlobWanted):
            self._reads.append([link, event.digest.hex(), event.offset, event.length])
            return True
        return self.exchange.on_event(session, event)

    def forget_link(self, link: str) -> None:
        self._sessions.pop(link, None)

    def pump(self, sessions: dict[str, SyncSession], now: int) -> None:
        self._sessions = dict(sessions)
        self.exchange.pump(sessions.values(), now)

    def take_reads(self) -> str:
        """JSON [[link, digest hex, offset, length]]: requests the worker answers from IndexedDB."""
        out, self._reads = self._reads, []
        return json.dumps(out)

    def piece(self, link: str, digest_hex: str, offset: int, total: int, data: Any) -> None:
        session = self._sessions.get(link)
        if session is not None and session.blobs_ready:
            session.send_blob_piece(bytes.fromhex(digest_hex), int(offset), int(total), _as_bytes(data))

    def none(self, link: str, digest_hex: str, offset: int, reason: str) -> None:
        session = self._sessions.get(link)
        if session is not None and session.blobs_ready:
            session.send_blob_none(bytes.fromhex(digest_hex), int(offset), reason)

    def max_bytes(self) -> int:
        return self.ws.settings.max_blob_bytes

    def want(self, ref_json: str) -> str:
        ref = BlobRef.parse(json.loads(ref_json))
        return json.dumps(_status(self.exchange.want(ref)))

    def status(self, refs_json: str) -> str:
        """JSON {hash: {state, received, size, detail}} for the given refs."""
        refs = [BlobRef.parse(r) for r in json.loads(refs_json)]
        return json.dumps({r.hash: _status(self.exchange.status(r)) for r in refs})

    def asked_bytes(self) -> int:
        """Bytes this worker asked peers for since it started (a resumed transfer asks only for the rest)."""
        return self.exchange.asked_bytes

    def take_changed(self) -> str:
        out, self.changed = sorted(self.changed), set()
        return json.dumps(out)


def _status(status: Any) -> dict[str, Any]:
    return {"state": status.state, "received": status.received, "size": status.size, "detail": status.detail}


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    to_bytes = getattr(value, "to_bytes", None)
    if to_bytes is not None:
        return bytes(to_bytes())
    raise TypeError(f"expected bytes, got {type(value).__name__}")


class AttachmentsApi:
    """Mixed into Session: put an attachment in a blob field, and list the workspace's attachments."""

    ws: Workspace

    async def m_attach(self, record: str, field: str, blob: str, name: str, size: int,
                       media_type: str) -> dict[str, Any]:
        """The worker stored the bytes (and hashed them): the field now references them."""
        fdef = self.ws.schema.field(field)
        if fdef.type != "blob":
            raise ValidationError(f"{fdef.display_name} does not hold files")
        ref = BlobRef(blob, name, int(size), media_type.lower() or "application/octet-stream")
        async with writes.transaction(self.ws) as tx:
            tx.set_field(record, fdef.id, ref)
        return {"value": list(ref.value)}

    async def m_attachments(self) -> list[dict[str, Any]]:
        """Every attachment on a live record: what the 'kept on this device' list shows."""
        return [{"record": a.record, "label": self.ws.records.label(a.record), "field": a.field,
                 "field_name": self.ws.schema.field(a.field).display_name, **a.ref.to_dict()}
                for a in self.ws.attachments.list()]

    async def m_blob_limit(self) -> int:
        return self.ws.settings.max_blob_bytes


ATTACHMENT_METHODS = {"attach": True, "attachments": False, "blob_limit": False}
