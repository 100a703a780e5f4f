"""WebRTC signalling: one room per workspace, over a WebSocket of JSON text messages.

Only members get in. The relay sends a challenge nonce; the peer answers with its actor id and
a signature over it (`signal_proof_bytes_v1`, WebCrypto can make it) within `auth_timeout_s`;
the relay checks the signature and membership. Then:

    relay -> peer   {"type": "welcome", "id", "peers": [{"id", "actor"}], "relay": "relay", "ice_servers"}
    relay -> room   {"type": "peer-joined", "id", "actor"}, {"type": "peer-left", "id"}
    peer  -> peer   {"type": "offer" | "answer" | "candidate" | "bye", "to": id, ...}  (delivered with "from")
    peer  -> relay  the same with "to": "relay": the relay's own aiortc peer answers

Messages are forwarded as they are (SDP and candidates are opaque here) but capped in size and
rate, and only within one room: signalling never crosses workspaces. Each member has a bounded
outbox with its own writer: a member that does not read is dropped, it never holds up the room.

An offer to the relay costs it a peer connection (and a UDP socket), so: its SDP is checked
first, a member has at most one pending connection (a new offer replaces it), a pending one is
dropped if it does not connect within `rtc_pending_timeout_s` or when the member leaves, and a
member holds at most `rtc_per_member` connected ones.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription
from starlette.websockets import WebSocket, WebSocketDisconnect

from openprod.identity import short_actor
from openprod.sync.proof import signal_proof_bytes_v1

from .guard import ABORT
from .logs import log, now_ms, warn
from .ratelimit import Buckets
from .relay import not_joined_detail, parse_workspace_id, ws_text
from .rtc import ChannelTransport, RelayRtc, restrict_host_addresses

if TYPE_CHECKING:
    from .relay import Relay

MAX_SIGNAL = 64 * 1024
RELAY_ID = "relay"
FORWARDED = ("offer", "answer", "candidate", "bye")
MAX_DROPPED = 500  # messages over the rate limit before the member is put out


@dataclass(eq=False)
class Member:
    id: str
    actor: bytes
    socket: WebSocket
    outbox: asyncio.Queue[dict[str, Any] | None]
    pending: RTCPeerConnection | None = None
    connected: set[RTCPeerConnection] = field(default_factory=set)
    dropped: int = 0
    gone: bool = False

    def hang_up(self) -> None:
        self.gone = True
        abort = self.socket.scope.get("extensions", {}).get(ABORT)
        if abort is not None:
            with contextlib.suppress(Exception):
                abort()


def check_offer(sdp: Any) -> str | None:
    """Why an SDP offer to the relay cannot be answered, or None: it must describe one data channel."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        return "an offer's sdp must be SDP text starting with v=0"
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:
        return f"the SDP cannot be read ({type(exc).__name__})"
    if len(parsed.media) != 1 or parsed.media[0].kind != "application":
        return "the relay takes one data channel: exactly one m=application section"
    media = parsed.media[0]
    if not (media.ice and media.ice.usernameFragment and media.ice.password):
        return "the SDP has no ICE credentials (ice-ufrag, ice-pwd)"
    if not (media.dtls and media.dtls.fingerprints):
        return "the SDP has no DTLS fingerprint"
    if media.sctp_port is None:
        return "the SDP has no SCTP port"
    return None


class Rooms:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.config = relay.config
        self.rooms: dict[bytes, dict[str, Member]] = {}
        self.rtc = RelayRtc(relay.config.ice_servers)
        self.rates = Buckets(relay.config.signal_rate)
        if relay.config.rtc_addresses:
            restrict_host_addresses(relay.config.rtc_addresses)
        self.serve_session: Any = None  # set by the app: runs a sync session over a transport

    def rtc_peer_count(self) -> int:
        return len(self.rtc.connections)

    async def close(self) -> None:
        await self.rtc.close()

    def _send(self, member: Member, message: dict[str, Any]) -> None:
        """Queue a message for a member; a member whose outbox is full is put out (it does not read)."""
        if member.gone:
            return
        try:
            member.outbox.put_nowait(message)
        except asyncio.QueueFull:
            warn("signal_member_dropped", actor=member.actor.hex(), id=member.id, reason="not reading")
            member.hang_up()

    async def _writer(self, member: Member) -> None:
        try:
            while (message := await member.outbox.get()) is not None:
                await member.socket.send_text(json.dumps(message))
        except Exception:  # the socket is gone (or was dropped for not reading)
            member.hang_up()

    async def _receive(self, socket: WebSocket) -> str:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        return text if text is not None else (message.get("bytes") or b"").decode("utf-8", "replace")

    async def _authenticate(self, socket: WebSocket, ws: bytes) -> tuple[bytes | None, dict[str, Any] | None]:
        """(actor, None) when admitted, else (None, the refusal to send)."""
        nonce = secrets.token_bytes(16)
        await socket.send_text(json.dumps({"type": "challenge", "nonce": base64.b64encode(nonce).decode()}))
        try:
            reply = json.loads(await self._receive(socket))
            actor = bytes.fromhex(reply["actor"])
            signature = base64.b64decode(reply["signature"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
            return None, {"type": "refused", "reason": "malformed",
                          "detail": "expected {type: auth, actor: hex, signature: base64}"}
        if len(actor) != 32 or not self.relay._verifier.verify(
                actor, signal_proof_bytes_v1(workspace=ws, actor=actor, nonce=nonce), signature):
            return None, {"type": "refused", "reason": "bad_signature",
                          "detail": "the signature does not prove the actor's key"}
        try:
            member = self.relay.registry.is_member(ws, actor)
        except Exception:
            return None, {"type": "refused", "reason": "unavailable",
                          "detail": "the relay's own records are damaged; its operator must restore them"}
        if not member:
            warn("signal_refused", ws=ws_text(ws), actor=actor.hex(), reason="not_joined")
            return None, {"type": "refused", "reason": "not_joined", "detail": not_joined_detail(ws, actor)}
        return actor, None

    async def endpoint(self, socket: WebSocket) -> None:
        await socket.accept()
        client = socket.client.host if socket.client else "-"
        try:
            ws = parse_workspace_id(socket.path_params["workspace"])
        except Exception:
            ws = bytes(16)
        try:
            async with asyncio.timeout(self.config.auth_timeout_s):
                actor, refusal = await self._authenticate(socket, ws)
                if refusal is not None:
                    await socket.send_text(json.dumps(refusal))
                    await socket.close()
                    return
        except TimeoutError:
            warn("signal_refused", ws=ws_text(ws), client=client, reason="timeout")
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await socket.send_text(json.dumps({"type": "refused", "reason": "timeout",
                                                       "detail": "no answer to the challenge in time"}))
            abort = socket.scope.get("extensions", {}).get(ABORT)
            if abort is not None:
                abort()
            return
        except (WebSocketDisconnect, OSError):
            return
        assert actor is not None
        room = self.rooms.setdefault(ws, {})
        member = Member(secrets.token_hex(8), actor, socket, asyncio.Queue(self.config.signal_queue))
        writer = asyncio.create_task(self._writer(member))
        self._send(member, {"type": "welcome", "id": member.id, "relay": RELAY_ID,
                            "peers": [{"id": m.id, "actor": m.actor.hex()} for m in room.values()],
                            "ice_servers": [s.to_json() for s in self.config.ice_servers]})
        for other in room.values():
            self._send(other, {"type": "peer-joined", "id": member.id, "actor": actor.hex()})
        room[member.id] = member
        log("signal_joined", ws=ws_text(ws), actor=actor.hex(), id=member.id)
        try:
            while not member.gone:
                text = await self._receive(socket)
                self._handle(ws, room, member, text)
        except (WebSocketDisconnect, OSError):
            pass
        finally:
            room.pop(member.id, None)
            if not room:
                self.rooms.pop(ws, None)
            for other in room.values():
                self._send(other, {"type": "peer-left", "id": member.id})
            if member.pending is not None:  # a connection still being set up dies with its member's room
                await self.rtc.drop(member.pending)
                member.pending = None
            with contextlib.suppress(asyncio.QueueFull):
                member.outbox.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            log("signal_left", ws=ws_text(ws), actor=actor.hex(), id=member.id)

    def _handle(self, ws: bytes, room: dict[str, Member], member: Member, text: str) -> None:
        if self.rates.retry_after_ms(member.id, now_ms()):
            member.dropped += 1
            if member.dropped == 1 or member.dropped % 100 == 0:
                self._send(member, {"type": "error", "reason": "rate_limited",
                                    "detail": "too many signalling messages; some were dropped"})
            if member.dropped > MAX_DROPPED:
                warn("signal_member_dropped", actor=member.actor.hex(), id=member.id, reason="flooding")
                member.hang_up()
            return
        self.rates.take(member.id, now_ms())
        if len(text) > MAX_SIGNAL:
            self._send(member, {"type": "error", "reason": "oversize",
                                "detail": f"signalling messages are at most {MAX_SIGNAL} bytes"})
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict) or message.get("type") not in FORWARDED or not isinstance(
                message.get("to"), str):
            self._send(member, {"type": "error", "reason": "malformed",
                                "detail": "expected {type: offer|answer|candidate|bye, to: id, ...}"})
            return
        if message["to"] == RELAY_ID:
            task = asyncio.ensure_future(self._to_relay(ws, room, member, message))
            task.add_done_callback(_report)
            return
        target = room.get(message["to"])
        if target is None:
            self._send(member, {"type": "error", "reason": "unknown_peer", "detail": message["to"][:40]})
            return
        self._send(target, {**message, "from": member.id, "actor": member.actor.hex()})

    def _held_by(self, room: dict[str, Member], actor: bytes) -> int:
        return sum(len(m.connected) + (m.pending is not None) for m in room.values() if m.actor == actor)

    async def _to_relay(self, ws: bytes, room: dict[str, Member], member: Member, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "offer":
            problem = check_offer(message.get("sdp"))
            if problem is not None:
                self._send(member, {"type": "error", "reason": "bad_sdp", "detail": problem})
                return
            if member.pending is not None:  # one pending connection per member: a new offer replaces it
                old, member.pending = member.pending, None
                await self.rtc.drop(old)
            if (self._held_by(room, member.actor) >= self.config.rtc_per_member + 1
                    or len(self.rtc.connections) >= self.config.rtc_total):
                self._send(member, {"type": "error", "reason": "too_many_connections",
                                    "detail": "close another connection to the relay first"})
                return
            if not self.relay.is_hosted(ws):
                return
            client = member.socket.client.host if member.socket.client else "-"

            async def start(transport: ChannelTransport, pc: RTCPeerConnection) -> None:
                await transport.opened.wait()
                try:
                    await self.serve_session(ws_id=ws, client=client, transport="webrtc", send=transport.send,
                                             frames=transport.frames(), close=transport.close,
                                             abort=transport.abort)
                finally:
                    member.connected.discard(pc)
                    await self.rtc.drop(pc)

            try:
                pc, sdp = await self.rtc.answer(message["sdp"], start)
            except Exception as exc:
                self._send(member, {"type": "error", "reason": "bad_sdp",
                                    "detail": f"the offer could not be answered ({type(exc).__name__})"})
                return
            if member.gone:
                await self.rtc.drop(pc)
                return
            member.pending = pc
            self._send(member, {"type": "answer", "from": RELAY_ID, "sdp": sdp})
            log("rtc_answered", ws=ws_text(ws), actor=short_actor(member.actor))
            if await self.rtc.connected(pc, self.config.rtc_pending_timeout_s):
                if member.pending is pc:
                    member.pending = None
                member.connected.add(pc)
            else:
                if member.pending is pc:
                    member.pending = None
                await self.rtc.drop(pc)
                warn("rtc_dropped", ws=ws_text(ws), actor=short_actor(member.actor), reason="not connected in time")
        elif kind == "candidate" and member.pending is not None:
            with contextlib.suppress(Exception):
                await self.rtc.add_candidate(member.pending, message.get("candidate"))
        elif kind == "bye":
            for pc in [*member.connected, *([member.pending] if member.pending else [])]:
                await self.rtc.drop(pc)
            member.connected.clear()
            member.pending = None


def _report(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        warn("signal_failed", error=f"{type(task.exception()).__name__}: {task.exception()}")
