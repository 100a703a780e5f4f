"""Running one SyncSession over an asyncio transport (WebSocket or WebRTC data channel).

The session is sans-IO; this is its I/O shell on CPython, used by the relay and the Python
client alike. It feeds received frames in, pumps the session's work against the Workspace
(synchronous PyNaCl verification), sends what the session wants sent, and sleeps until the
session's next timer or until a new local bundle wakes it. Bundles stored in the workspace by
anyone (a local edit, another peer's session) reach this peer through `ws.listeners`.

Whatever the peer does, what the runner holds for it is bounded and its timers fire:

* received frames wait in a queue of `max_queued` frames; when it is full the runner stops
  reading, so the transport's own flow control pushes back on the peer;
* every send must complete within `send_timeout_s`: a peer that stops reading is cut off
  (hung up hard, without waiting to flush) instead of holding the session and its buffers;
* the session's timers (handshake, keepalive) never wait behind a blocked send;
* bundles stored for this peer are queued in the session (bounded by `max_live_bytes`, then a
  catch-up) and sent after `live_coalesce_s`, several to a frame.

On the relay the workspace is not known to be the peer's until the peer is admitted: the runner
can start with `ws=None` and an `env` for the handshake (signing and verifying), and asks
`attach()` for the workspace once the session is open, so no file is opened for a stranger.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from openprod import BundleEvent, Env, Workspace
from openprod.sync import Closed, Event, State, SyncSession, pump
from openprod.sync.errors import REASON_TIMEOUT

from .logs import now_ms

Send = Callable[[bytes], Awaitable[None]]
MAX_QUEUED = 16  # received frames waiting to be fed to the session (16 x 16 KiB)
SEND_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 5.0
# Bundles stored within this long of each other are pushed to a peer in one frame. 10 ms is
# nothing next to a person's pace or the 500 ms propagation target, and at 50 busy peers it
# turns about 12,000 one-bundle frames a second into a few thousand (docs/relay.md, "Under load").
LIVE_COALESCE_S = 0.01


class _Handshake:
    """What the driver works on before admission: the signer and verifier, and no workspace. The
    session hands out no bundle before it is open; if one comes in the same step as the admission,
    the workspace is attached first."""

    def __init__(self, env: Env, attach: Callable[[], Workspace]) -> None:
        self.env = env
        self._attach = attach

    def check_received(self, wires: Sequence[bytes], *, source: str | None = None) -> Any:
        return self._attach().check_received(wires, source=source)

    def apply_received(self, received: Any, verdicts: Sequence[bool] | None = None) -> list[Any]:
        return self._attach().apply_received(received, verdicts)


class SessionRunner:
    def __init__(self, session: SyncSession, ws: Workspace | None, send: Send, *, source: str,
                 close_transport: Callable[[], Awaitable[None]],
                 abort_transport: Callable[[], None] | None = None,
                 on_event: Callable[[Event], None] | None = None,
                 env: Env | None = None, attach: Callable[[SyncSession], Workspace] | None = None,
                 on_failure: Callable[[Exception], tuple[str, str]] | None = None,
                 send_timeout_s: float = SEND_TIMEOUT_S, max_queued: int = MAX_QUEUED,
                 live_coalesce_s: float = LIVE_COALESCE_S) -> None:
        if ws is None and (env is None or attach is None):
            raise ValueError("without a workspace, the runner needs an env for the handshake and attach()")
        self.session = session
        self.ws = ws
        self._send = send
        self._close_transport = close_transport
        self._abort_transport = abort_transport
        self._attach = attach
        self._on_failure = on_failure
        self._handshake = _Handshake(env, self._attach_now) if env is not None else None
        self.source = source
        self._on_event = on_event
        self.send_timeout_s = send_timeout_s
        self.max_queued = max_queued
        self.live_coalesce_s = live_coalesce_s
        self._live_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._hung_up = False
        self.closed: Closed | None = None
        self.frames_in = 0
        self.frames_out = 0

    def _stored(self, event: BundleEvent) -> None:
        """Queue a stored bundle for this peer. The send waits `live_coalesce_s`, so bundles stored
        meanwhile (by any session of the workspace) leave together: one frame, one write and one
        acknowledgement for several bundles instead of one each."""
        self.session.bundle_stored(event)
        if self.live_coalesce_s <= 0:
            self._wake.set()
            return
        if self._live_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # stored outside the loop (a local edit before syncing): send at the next turn
                self._wake.set()
                return
            self._live_timer = loop.call_later(self.live_coalesce_s, self._live_due)

    def _live_due(self) -> None:
        self._live_timer = None
        self._wake.set()

    def _attach_now(self) -> Workspace:
        """Admitted: the workspace is opened now (the session's catch-up snapshot was taken in this
        same step, so no bundle stored in between can be missed)."""
        if self.ws is None:
            assert self._attach is not None
            self.ws = self._attach(self.session)
            self.ws.listeners.append(self._stored)
        return self.ws

    def _session_closed(self) -> bool:
        """Read afresh each time: the session's state changes under every call into it."""
        return self.session.state is State.CLOSED

    @property
    def hung_up(self) -> bool:
        """The transport was dropped hard (a stalled peer, a failed send): nothing more can be sent."""
        return self._hung_up

    def _process(self) -> None:
        target: Any = self.ws if self.ws is not None else self._handshake
        try:
            pump(self.session, target, now_ms, source=self.source)
            if self.ws is None and self.session.state is State.OPEN:
                self._attach_now()
        except Exception as exc:
            # Storage failed under the session (a damaged file, a full disk): the owner of the
            # workspace decides what it means; this session ends with its reason.
            if self._on_failure is None:
                raise
            reason, detail = self._on_failure(exc)
            self.session.close(now_ms(), reason, detail)
        while (event := self.session.next_event()) is not None:
            if isinstance(event, Closed):
                self.closed = event
            if self._on_event is not None:
                self._on_event(event)

    async def _drain_parked(self) -> None:
        """Parked bundles released by what this peer sent apply a step at a time (the workspace's
        `drain_step`), with the event loop free for every other session between steps."""
        while self.ws is not None and self.session.state is not State.CLOSED and not self._hung_up:
            try:
                if not self.ws.drain_parked():
                    return
            except Exception as exc:
                if self._on_failure is None:
                    raise
                reason, detail = self._on_failure(exc)
                self.session.close(now_ms(), reason, detail)
                self._process()
                return
            self._process()  # the session's own sends (its peer is sent what it now lacks)
            await self._flush()
            await asyncio.sleep(0)

    async def _flush(self) -> None:
        async with self._send_lock:
            for frame in self.session.data_to_send():
                if self._hung_up:
                    return
                self.frames_out += 1
                try:
                    async with asyncio.timeout(self.send_timeout_s):
                        await self._send(frame)
                except TimeoutError:
                    self._stalled()
                    return
                except Exception:  # the transport is gone under us
                    if self.session.state is not State.CLOSED:
                        self.session.connection_lost(now_ms())
                        self._process()
                    self._hang_up_hard()
                    return

    def _stalled(self) -> None:
        """The peer has not read for `send_timeout_s`: close the session and drop the connection."""
        if self.session.state is not State.CLOSED:
            self.session.close(now_ms(), REASON_TIMEOUT,
                               f"the peer read nothing for {self.send_timeout_s:g} s; connection dropped")
            self.session.data_to_send()  # the goodbye cannot be delivered to a peer that does not read
            self._process()
        self._hang_up_hard()

    def _hang_up_hard(self) -> None:
        self._hung_up = True
        if self._abort_transport is not None:
            with contextlib.suppress(Exception):
                self._abort_transport()

    async def _hang_up(self) -> None:
        """Close orderly if the transport lets us within a few seconds, else drop it."""
        if self._hung_up:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._close_transport()
        except Exception:
            self._hang_up_hard()

    async def _timers(self) -> None:
        while self.session.state is not State.CLOSED:
            due = self.session.get_timer()
            timeout = None if due is None else max(0.0, (due - now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: a cancel is never swallowed (3.11)
                    await self._wake.wait()
            self._wake.clear()
            due = self.session.get_timer()
            if due is not None and due <= now_ms():
                self.session.handle_timer(now_ms())
            self._process()
            if self._session_closed() and self._send_lock.locked():
                self._stalled()  # a send is stuck: the goodbye could not go out anyway
                break
            await self._flush()
        # Closed by a timer (timeout) or from outside: the peer has been told why; hang up so
        # that `run` stops waiting for frames.
        await self._hang_up()

    async def _read(self, frames: AsyncIterator[bytes], queue: asyncio.Queue[bytes | None]) -> None:
        try:
            async for frame in frames:
                await queue.put(frame)  # a full queue stops the reading: the peer is pushed back
        except asyncio.CancelledError:
            raise
        except Exception:  # a transport error ends the frames as a close does
            pass
        await queue.put(None)

    async def run(self, frames: AsyncIterator[bytes]) -> Closed:
        """Drive the session until it closes or `frames` ends. Returns why it closed.

        Frames are read by their own task into a bounded queue and fed to the session in runs:
        every frame already waiting goes in before the session's work is pumped, so consecutive
        batches are ingested with one commit instead of one each. A cancel ends it at once.
        """
        if self.ws is not None:
            self.ws.listeners.append(self._stored)
        timers = asyncio.create_task(self._timers())
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.max_queued)
        reader = asyncio.create_task(self._read(frames, queue))
        try:
            self._process()
            await self._flush()
            ended = False
            while not ended and self.session.state is not State.CLOSED and not self._hung_up:
                frame = await queue.get()
                while frame is not None:
                    self.frames_in += 1
                    self.session.receive_frame(frame, now_ms())
                    if queue.empty() or self._session_closed():
                        break
                    frame = queue.get_nowait()
                ended = frame is None
                self._process()
                await self._flush()
                await self._drain_parked()
                self._wake.set()  # the session's next timer may have moved
            if self.session.state is not State.CLOSED:
                self.session.connection_lost(now_ms())
                self._process()
        finally:
            if self.ws is not None and self._stored in self.ws.listeners:
                self.ws.listeners.remove(self._stored)
            if self._live_timer is not None:
                self._live_timer.cancel()
                self._live_timer = None
            for task in (timers, reader):
                task.cancel()
            for task in (timers, reader):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.closed is None:  # pragma: no cover - the session always reports its end
            self.closed = Closed("closed", "transport ended", True)
        return self.closed

    def wake(self) -> None:
        """Something outside the session queued frames on it (a blob request): send them soon."""
        self._wake.set()

    def close(self, reason: str = "closed", detail: str = "goodbye") -> None:
        """Close orderly from outside: the timer task sends the goodbye and hangs up."""
        if self.session.state is not State.CLOSED:
            self.session.close(now_ms(), reason, detail)
            self._process()
        self._wake.set()
