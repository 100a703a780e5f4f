"""Blob transfer over sync sessions: serve what this device holds, fetch what it wants.

One `BlobExchange` per workspace and device, shared by all its sessions (the relay's, a browser's
WebRTC peers). Sans-IO like the session: the shell hands it session events (`on_event`) and calls
`pump(sessions, now)` after each turn; it talks to the handed-in `BlobStore` and never to a
socket or a clock.

Fetching one blob: pieces are asked from one source at a time (a window of `WINDOW` requests) and
appended to the store's partial blob in order, so a dropped connection resumes where it stopped,
from the same peer or another, in this process or after a restart (the partial is in the store).
Each piece must be what was asked (offset, and the full asked length unless it ends the blob; the
blob's `total` must be the referenced size): a short (truncated) or lying piece drops that source
for this blob and the request is made again. The complete blob is verified against its hash by
the store (`finish`); a corrupted blob is discarded and fetched again from the start, from another
source when there is one, at most `MAX_ATTEMPTS` times. A blob no connected peer holds is
"missing": asked again of every peer after `retry_ms`, and of any peer that connects, so a blob
that arrives after the op that references it is picked up.

A source that stops answering (it swallows requests, or its device went to sleep with the link
still open) is given `request_timeout_ms` from the last piece it sent for this blob (or from being
chosen), and from the last answer it sent for any blob (a fetch queued behind another on the same
peer is waiting, not stuck), before the fetch moves on: it is set aside for this blob and another
peer that has it is asked, from the same offset; the person reads "Still fetching… trying another
device". With no other peer the blob is "missing" ("Not on any connected device") and every peer,
the silent one included, is asked again after `retry_ms`. So a fetch never waits on one peer
forever; `next_timer` tells the shell when to pump next even if no frame arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..blobs import BlobMismatch, BlobRef, BlobStore, hash_bytes, hash_text
from ..errors import ValidationError
from .blob_messages import MAX_PIECE
from .events import BlobArrived, BlobUnavailable, BlobWanted, Closed
from .session import State, SyncSession

WINDOW = 8  # requests in flight per blob: 8 x 15 KiB keeps a LAN busy and memory small
MAX_ATTEMPTS = 3
RETRY_MS = 5_000
REQUEST_TIMEOUT_MS = 15_000  # a piece is 15 KiB: even a slow link answers one request well inside this

TRYING_ANOTHER = "Still fetching… trying another device"
NOT_CONNECTED = "Not on any connected device"

HERE = "here"
FETCHING = "fetching"
MISSING = "missing"  # no connected peer has it yet
TOO_LARGE = "too_large"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class BlobStatus:
    """Where a wanted blob stands on this device (what the app shows)."""

    state: str
    received: int
    size: int
    detail: str = ""


@dataclass
class _Fetch:
    ref: BlobRef
    digest: bytes
    written: int  # bytes in the store's partial blob
    asked: int  # bytes asked of the current source (written <= asked)
    source: SyncSession | None = None
    refused_by: set[int] = field(default_factory=set)  # sessions that lack it, or sent bad pieces
    attempts: int = 0
    state: str = FETCHING
    detail: str = ""
    retry_at: int = 0
    progress_at: int | None = None  # when the current source was chosen or last sent a piece
    progress_mark: int = 0  # `written` at progress_at


class BlobExchange:
    def __init__(self, store: BlobStore, *, max_bytes: Callable[[], int], retry_ms: int = RETRY_MS,
                 request_timeout_ms: int = REQUEST_TIMEOUT_MS,
                 on_change: Callable[[str], Any] | None = None, serve: bool = True) -> None:
        self.store = store
        self.serve = serve  # False: the shell answers BlobWanted itself (an async store: IndexedDB)
        self.max_bytes = max_bytes
        self.retry_ms = retry_ms
        self.request_timeout_ms = request_timeout_ms
        self.on_change = on_change  # told a blob's hash whenever its status changes (progress bars)
        self._fetches: dict[str, _Fetch] = {}
        self.served_pieces = 0
        self.refused_pieces = 0
        self.timed_out = 0  # sources set aside for not answering
        self.asked_bytes = 0  # bytes requested of peers (a resumed transfer asks only for the rest)
        self._answers: dict[int, int] = {}  # session -> blob answers received (any blob)
        self._heard: dict[int, tuple[int, int]] = {}  # session -> (answers, when that count was first seen)

    # --- what the shell asks ------------------------------------------------------------------

    def want(self, ref: BlobRef) -> BlobStatus:
        """Fetch this blob when a peer has it (idempotent). Returns its status now."""
        if self.store.has(ref.hash):
            return self.status(ref)
        current = self._fetches.get(ref.hash)
        if current is not None and current.state != FAILED:
            return self.status(ref)
        if ref.size > self.max_bytes():
            return BlobStatus(TOO_LARGE, 0, ref.size, "larger than this workspace's attachment limit")
        written = self.store.partial_size(ref.hash)
        if written > ref.size:
            self.store.discard_partial(ref.hash)
            written = 0
        self._fetches[ref.hash] = _Fetch(ref, hash_bytes(ref.hash), written, written)
        return self.status(ref)

    def status(self, ref: BlobRef) -> BlobStatus:
        if self.store.has(ref.hash):
            return BlobStatus(HERE, ref.size, ref.size)
        fetch = self._fetches.get(ref.hash)
        if fetch is None:
            if ref.size > self.max_bytes():
                return BlobStatus(TOO_LARGE, 0, ref.size, "larger than this workspace's attachment limit")
            return BlobStatus(MISSING, self.store.partial_size(ref.hash), ref.size)  # not asked for
        return BlobStatus(fetch.state, fetch.written, ref.size, fetch.detail)

    def pending(self) -> list[str]:
        return [h for h, f in self._fetches.items() if f.state in (FETCHING, MISSING)]

    def next_timer(self) -> int | None:
        """The earliest time `pump` has something to do without a frame arriving (a source's
        timeout, a missing blob's retry), or None."""
        times: list[int] = []
        for fetch in self._fetches.values():
            if fetch.state == MISSING:
                times.append(fetch.retry_at)
            elif fetch.state == FETCHING and fetch.source is not None and fetch.progress_at is not None:
                heard = self._heard.get(id(fetch.source))
                since = fetch.progress_at if heard is None else max(fetch.progress_at, heard[1])
                times.append(since + self.request_timeout_ms)
        return min(times) if times else None

    # --- session events -----------------------------------------------------------------------

    def on_event(self, session: SyncSession, event: object) -> bool:
        """Handle a session event if it is about blobs (or a close); True if it was a blob event."""
        if isinstance(event, BlobWanted):
            if not self.serve:
                return False
            self._serve(session, event)
        elif isinstance(event, BlobArrived):
            self._answers[id(session)] = self._answers.get(id(session), 0) + 1
            self._arrived(session, event)
        elif isinstance(event, BlobUnavailable):
            self._answers[id(session)] = self._answers.get(id(session), 0) + 1
            self._unavailable(session, event)
        elif isinstance(event, Closed):
            self._lost(session)
            return False
        else:
            return False
        return True

    def pump(self, sessions: Iterable[SyncSession], now: int) -> None:
        """Send whatever requests can go now: a source for each wanted blob, and its window of pieces."""
        ready = [s for s in sessions if s.blobs_ready]
        for session in ready:
            count = self._answers.get(id(session), 0)
            heard = self._heard.get(id(session))
            if heard is None or heard[0] != count:
                self._heard[id(session)] = (count, now)
        for fetch in list(self._fetches.values()):
            if fetch.state == MISSING:
                if now >= fetch.retry_at:
                    fetch.refused_by = set()  # ask everyone again: one of them may have it by now
                    fetch.retry_at = now + self.retry_ms  # (a timer in the past would wake the shell at once)
                if not any(id(s) not in fetch.refused_by for s in ready):
                    continue
                fetch.state = FETCHING
            if fetch.state != FETCHING:
                continue
            if fetch.source is not None and fetch.source.state is State.CLOSED:
                self._drop_source(fetch)
            if fetch.source is not None:
                self._check_progress(fetch, now)
            if fetch.source is None:
                fetch.source = next((s for s in ready if id(s) not in fetch.refused_by), None)
                if fetch.source is None:
                    fetch.state, fetch.retry_at = MISSING, now + self.retry_ms
                    if fetch.detail in ("", TRYING_ANOTHER):  # keep a reason already given (damaged, too large)
                        fetch.detail = NOT_CONNECTED
                    self._changed(fetch)
                    continue
                fetch.progress_at, fetch.progress_mark = now, fetch.written
            self._ask(fetch)

    # --- internals ----------------------------------------------------------------------------

    def _check_progress(self, fetch: _Fetch, now: int) -> None:
        """Set a silent source aside once it has sent nothing for `request_timeout_ms`."""
        if fetch.progress_at is None or fetch.written != fetch.progress_mark:
            fetch.progress_at, fetch.progress_mark = now, fetch.written
            if fetch.detail == TRYING_ANOTHER:
                fetch.detail = ""  # the new source answers
            return
        if now - fetch.progress_at < self.request_timeout_ms:
            return
        assert fetch.source is not None
        heard = self._heard.get(id(fetch.source))
        if heard is not None and now - heard[1] < self.request_timeout_ms:
            return  # the peer is answering (another blob first): this one waits its turn
        fetch.refused_by.add(id(fetch.source))
        self._drop_source(fetch)
        fetch.detail = TRYING_ANOTHER
        self.timed_out += 1
        self._changed(fetch)

    def _ask(self, fetch: _Fetch) -> None:
        source = fetch.source
        assert source is not None
        if fetch.ref.size == 0 and fetch.written == 0:
            self._complete(fetch)
            return
        in_flight = (fetch.asked - fetch.written + MAX_PIECE - 1) // MAX_PIECE
        while fetch.asked < fetch.ref.size and in_flight < WINDOW:
            length = min(MAX_PIECE, fetch.ref.size - fetch.asked)
            if not source.blob_asked(fetch.digest, fetch.asked):  # else still owed from before a timeout
                if source.blob_capacity <= 0:
                    break
                source.request_blob(fetch.digest, fetch.asked, length)
                self.asked_bytes += length
            fetch.asked += length
            in_flight += 1

    def _serve(self, session: SyncSession, event: BlobWanted) -> None:
        if session.state is State.CLOSED:
            return
        blob = hash_text(event.digest)
        size = self.store.size(blob)
        if size is None:
            session.send_blob_none(event.digest, event.offset, "not_here")
        elif size > self.max_bytes():
            session.send_blob_none(event.digest, event.offset, "too_large")
        elif event.offset >= size and not (size == 0 and event.offset == 0):
            session.send_blob_none(event.digest, event.offset, "not_here")  # past the end: no such range here
        else:
            data = self.store.read(blob, event.offset, event.length)
            session.send_blob_piece(event.digest, event.offset, size, data)
            self.served_pieces += 1

    def _arrived(self, session: SyncSession, event: BlobArrived) -> None:
        fetch = self._fetches.get(hash_text(event.digest))
        if fetch is None or fetch.source is not session or event.offset < fetch.written:
            return  # late, from a source already dropped, or for a blob already finished
        expected = min(MAX_PIECE, fetch.ref.size - event.offset)
        if event.total != fetch.ref.size or event.offset != fetch.written or len(event.data) != expected:
            self.refused_pieces += 1
            size = fetch.ref.size
            why = (f"a piece said the file is {event.total} bytes, not {size}" if event.total != size
                   else f"a piece was {len(event.data)} bytes where {expected} were asked (truncated)")
            self._bad_source(fetch, session, why)
            return
        self.store.append_partial(fetch.ref.hash, event.offset, event.data)
        fetch.written += len(event.data)
        if fetch.written == fetch.ref.size:
            self._complete(fetch)
        else:
            self._changed(fetch)

    def _complete(self, fetch: _Fetch) -> None:
        try:
            self.store.finish(fetch.ref.hash)
        except BlobMismatch:
            fetch.attempts += 1
            self.refused_pieces += 1
            if fetch.source is not None:
                fetch.refused_by.add(id(fetch.source))
            fetch.source, fetch.written, fetch.asked = None, 0, 0
            if fetch.attempts >= MAX_ATTEMPTS:
                fetch.state = FAILED
                fetch.detail = f"the file arrived damaged {fetch.attempts} times and was refused each time"
            else:
                fetch.detail = "the file arrived damaged; fetching it again"
            self._changed(fetch)
            return
        except ValidationError as exc:  # the store refused it for another reason (a full disk is raised as OSError)
            fetch.state, fetch.detail = FAILED, str(exc)
            self._changed(fetch)
            return
        del self._fetches[fetch.ref.hash]
        if self.on_change is not None:
            self.on_change(fetch.ref.hash)

    def _unavailable(self, session: SyncSession, event: BlobUnavailable) -> None:
        fetch = self._fetches.get(hash_text(event.digest))
        if fetch is None or fetch.source is not session:
            return
        fetch.refused_by.add(id(session))
        self._drop_source(fetch)
        if event.reason == "too_large":
            fetch.detail = "another device holds it but will not send a file that large"

    def _bad_source(self, fetch: _Fetch, session: SyncSession, why: str) -> None:
        fetch.refused_by.add(id(session))
        fetch.detail = f"refused a bad piece ({why}); asking again"
        self._drop_source(fetch)
        self._changed(fetch)

    def _drop_source(self, fetch: _Fetch) -> None:
        fetch.source, fetch.progress_at = None, None
        fetch.asked = fetch.written  # resume from what is safely in the partial blob

    def _lost(self, session: SyncSession) -> None:
        self._answers.pop(id(session), None)
        self._heard.pop(id(session), None)
        for fetch in self._fetches.values():
            fetch.refused_by.discard(id(session))
            if fetch.source is session:
                self._drop_source(fetch)

    def _changed(self, fetch: _Fetch) -> None:
        if self.on_change is not None:
            self.on_change(fetch.ref.hash)
