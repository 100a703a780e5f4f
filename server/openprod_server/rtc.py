"""The relay's own WebRTC peer (aiortc): it answers offers sent to "relay" in a signalling room
and runs a sync session over the data channel, exactly as over a WebSocket.

aiortc gathers its ICE candidates while creating the answer (no trickle), so the answer SDP
holds them all; candidates a browser trickles are added as they come. With no STUN/TURN
configured the relay offers host candidates only, which is what a venue LAN needs (and aiortc
must be told `iceServers=[]`, or it quietly uses a public STUN server).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from .config import IceServer
from .logs import warn

MAX_BUFFERED = 1024 * 1024  # pause sending while this much is queued in the data channel
# Frames received and not yet read. A data channel has no back-pressure towards the sender, so this
# is what bounds a peer that sends faster than we read: 2,048 frames (32 MiB), room for a whole
# maximal bundle in pieces while the session is busy, far more than a window of ordinary batches.
MAX_RECEIVED = 2048


def rtc_configuration(servers: tuple[IceServer, ...]) -> RTCConfiguration:
    return RTCConfiguration(iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
                                        for s in servers])


def restrict_host_addresses(addresses: tuple[str, ...]) -> None:
    """Offer only these local addresses as ICE host candidates (aiortc has no option for it).

    aioice lists every non-loopback interface and never 127.0.0.1; a multi-homed show laptop
    should offer only its venue-network address, and loopback tests need 127.0.0.1.
    """
    import aioice.ice

    def chosen(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = chosen


class ChannelTransport:
    """Frames in and out of one data channel, as the session runner wants them."""

    def __init__(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.opened = asyncio.Event()
        if channel.readyState == "open":
            self.opened.set()
        self._drained = asyncio.Event()
        channel.bufferedAmountLowThreshold = MAX_BUFFERED // 2
        channel.on("open", self.opened.set)
        channel.on("message", self._message)
        channel.on("bufferedamountlow", self._drained.set)
        channel.on("close", self._closed)

    def _closed(self) -> None:
        self._drained.set()
        self._queue.put_nowait(None)

    def _message(self, message: bytes | str) -> None:
        if self._queue.qsize() >= MAX_RECEIVED:
            warn("rtc_flooded", detail=f"more than {MAX_RECEIVED} frames unread; channel closed")
            self.abort()
            return
        self._queue.put_nowait(message if isinstance(message, bytes) else message.encode())

    async def frames(self) -> AsyncIterator[bytes]:
        while (frame := await self._queue.get()) is not None:
            yield frame

    async def send(self, frame: bytes) -> None:
        """Send one frame, first waiting while the channel holds more than MAX_BUFFERED unsent (the
        caller bounds that wait: a peer that never reads is dropped by the session runner)."""
        while self.channel.readyState == "open" and self.channel.bufferedAmount > MAX_BUFFERED:
            self._drained.clear()
            await self._drained.wait()
        if self.channel.readyState == "open":
            self.channel.send(frame)

    async def close(self) -> None:
        self.channel.close()

    def abort(self) -> None:
        """Hang up now: the channel closes and the frames end (a send waiting on the buffer gives up)."""
        with contextlib.suppress(Exception):
            self.channel.close()
        self._queue.put_nowait(None)


SessionStarter = Callable[[ChannelTransport, RTCPeerConnection], Awaitable[None]]


class RelayRtc:
    """The relay's peer connections, one per (room member, offer)."""

    def __init__(self, servers: tuple[IceServer, ...]) -> None:
        self.servers = servers
        self.connections: set[RTCPeerConnection] = set()

    async def answer(self, offer_sdp: str, start: SessionStarter) -> tuple[RTCPeerConnection, str]:
        pc = RTCPeerConnection(rtc_configuration(self.servers))
        self.connections.add(pc)

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            transport = ChannelTransport(channel)
            task = asyncio.ensure_future(start(transport, pc))
            task.add_done_callback(_report_failure)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.drop(pc)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await self.drop(pc)  # an offer that cannot be answered leaves nothing behind
            raise
        return pc, pc.localDescription.sdp

    @staticmethod
    async def add_candidate(pc: RTCPeerConnection, candidate: Any) -> None:
        """A trickled browser candidate: {"candidate": "candidate:...", "sdpMid": ..., "sdpMLineIndex": ...}."""
        if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate"), str):
            return
        text = candidate["candidate"]
        if not text:
            return  # end-of-candidates
        parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await pc.addIceCandidate(parsed)

    @staticmethod
    async def connected(pc: RTCPeerConnection, timeout_s: float) -> bool:
        """Wait until `pc` is connected (True), or fails, closes or runs out of time (False)."""
        done = asyncio.Event()

        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState in ("connected", "failed", "closed"):
                done.set()

        if pc.connectionState not in ("connected", "failed", "closed"):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await done.wait()
        return pc.connectionState == "connected"

    async def drop(self, pc: RTCPeerConnection) -> None:
        self.connections.discard(pc)
        with contextlib.suppress(Exception):
            await pc.close()

    async def close(self) -> None:
        for pc in list(self.connections):
            await self.drop(pc)


def _report_failure(task: asyncio.Future[None]) -> None:
    """A data-channel session ended with an error: logged (nobody awaits the task)."""
    if not task.cancelled() and task.exception() is not None:
        warn("rtc_session_failed", error=str(task.exception()))
