"""Running one SyncSession over an asyncio transport (WebSocket or WebRTC data channel).

The session is sans-IO; this is its I/O shell on CPython, used by the relay and the Python
client alike. It feeds received frames in, pumps the session's work against the Workspace
(synchronous PyNaCl verification), sends what the session wants sent, and sleeps until the
session's next timer or until a new local bundle wakes it. Bundles stored in the workspace by
anyone (a local edit, another peer's session) reach this peer through `ws.listeners`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from openprod import BundleEvent, Workspace
from openprod.sync import Closed, Event, State, SyncSession, pump

from .logs import now_ms

Send = Callable[[bytes], Awaitable[None]]


class SessionRunner:
    def __init__(self, session: SyncSession, ws: Workspace, send: Send, *, source: str,
                 close_transport: Callable[[], Awaitable[None]],
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.session = session
        self.ws = ws
        self._send = send
        self._close_transport = close_transport
        self.source = source
        self._on_event = on_event
        self._wake = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self.closed: Closed | None = None
        self.frames_in = 0
        self.frames_out = 0

    def _stored(self, event: BundleEvent) -> None:
        self.session.bundle_stored(event)
        self._wake.set()

    def _process(self) -> None:
        pump(self.session, self.ws, now_ms, source=self.source)
        while (event := self.session.next_event()) is not None:
            if isinstance(event, Closed):
                self.closed = event
            if self._on_event is not None:
                self._on_event(event)

    async def _flush(self) -> None:
        async with self._send_lock:
            for frame in self.session.data_to_send():
                self.frames_out += 1
                await self._send(frame)

    async def _timers(self) -> None:
        while self.session.state is not State.CLOSED:
            due = self.session.get_timer()
            timeout = None if due is None else max(0.0, (due - now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            due = self.session.get_timer()
            if due is not None and due <= now_ms():
                self.session.handle_timer(now_ms())
            self._process()
            await self._flush()
        # Closed by a timer (timeout) or from outside: the peer has been told why; hang up so
        # that `run` stops waiting for frames.
        with contextlib.suppress(Exception):
            await self._close_transport()

    async def _read(self, frames: AsyncIterator[bytes], queue: asyncio.Queue[bytes | None]) -> None:
        try:
            async for frame in frames:
                queue.put_nowait(frame)
        finally:
            queue.put_nowait(None)

    async def run(self, frames: AsyncIterator[bytes]) -> Closed:
        """Drive the session until it closes or `frames` ends. Returns why it closed.

        Frames are read by their own task into a queue and fed to the session in runs: every
        frame already waiting goes in before the session's work is pumped, so consecutive
        batches are ingested with one commit instead of one each.
        """
        self.ws.listeners.append(self._stored)
        timers = asyncio.create_task(self._timers())
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(frames, queue))
        try:
            self._process()
            await self._flush()
            ended = False
            while not ended and self.session.state is not State.CLOSED:
                frame = await queue.get()
                while frame is not None:
                    self.frames_in += 1
                    self.session.receive_frame(frame, now_ms())
                    if queue.empty() or self.session.state is State.CLOSED:
                        break
                    frame = queue.get_nowait()
                ended = frame is None
                self._process()
                await self._flush()
                self._wake.set()  # the session's next timer may have moved
            if self.session.state is not State.CLOSED:
                self.session.connection_lost(now_ms())
                self._process()
        finally:
            self.ws.listeners.remove(self._stored)
            self._wake.set()
            for task in (timers, reader):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.closed is None:  # pragma: no cover - the session always reports its end
            self.closed = Closed("closed", "transport ended", True)
        return self.closed

    def close(self, reason: str = "closed", detail: str = "goodbye") -> None:
        """Close orderly from outside: the timer task sends the goodbye and hangs up."""
        if self.session.state is not State.CLOSED:
            self.session.close(now_ms(), reason, detail)
            self._process()
        self._wake.set()
