"""WebRTC signalling: one room per workspace, over a WebSocket of JSON text messages.

Only members get in. The relay sends a challenge nonce; the peer answers with its actor id and
a signature over it (`signal_proof_bytes_v1`, WebCrypto can make it); the relay checks the
signature and membership. Then:

    relay -> peer   {"type": "welcome", "id", "peers": [{"id", "actor"}], "relay": "relay", "ice_servers"}
    relay -> room   {"type": "peer-joined", "id", "actor"}, {"type": "peer-left", "id"}
    peer  -> peer   {"type": "offer" | "answer" | "candidate" | "bye", "to": id, ...}  (delivered with "from")
    peer  -> relay  the same with "to": "relay": the relay's own aiortc peer answers

Messages are forwarded as they are (SDP and candidates are opaque here) but capped in size,
and only within one room: signalling never crosses workspaces.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection
from starlette.websockets import WebSocket, WebSocketDisconnect

from openprod.identity import short_actor
from openprod.sync.proof import signal_proof_bytes_v1

from .logs import log, warn
from .relay import not_joined_detail, parse_workspace_id, ws_text
from .rtc import ChannelTransport, RelayRtc, restrict_host_addresses

if TYPE_CHECKING:
    from .relay import Relay

MAX_SIGNAL = 64 * 1024
RELAY_ID = "relay"
FORWARDED = ("offer", "answer", "candidate", "bye")


@dataclass
class Member:
    id: str
    actor: bytes
    socket: WebSocket
    connections: list[RTCPeerConnection] = field(default_factory=list)


class Rooms:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.rooms: dict[bytes, dict[str, Member]] = {}
        self.rtc = RelayRtc(relay.config.ice_servers)
        if relay.config.rtc_addresses:
            restrict_host_addresses(relay.config.rtc_addresses)
        self.serve_session: Any = None  # set by the app: runs a sync session over a transport

    def rtc_peer_count(self) -> int:
        return len(self.rtc.connections)

    async def close(self) -> None:
        await self.rtc.close()

    async def _send(self, member: Member, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await member.socket.send_text(json.dumps(message))

    async def _authenticate(self, socket: WebSocket, ws: bytes) -> bytes | None:
        nonce = secrets.token_bytes(16)
        await socket.send_text(json.dumps({"type": "challenge", "nonce": base64.b64encode(nonce).decode()}))
        try:
            reply = json.loads(await socket.receive_text())
            actor = bytes.fromhex(reply["actor"])
            signature = base64.b64decode(reply["signature"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            await socket.send_text(json.dumps({"type": "refused", "reason": "malformed",
                                               "detail": "expected {type: auth, actor: hex, signature: base64}"}))
            return None
        if len(actor) != 32 or not self.relay._verifier.verify(
                actor, signal_proof_bytes_v1(workspace=ws, actor=actor, nonce=nonce), signature):
            await socket.send_text(json.dumps({"type": "refused", "reason": "bad_signature",
                                               "detail": "the signature does not prove the actor's key"}))
            return None
        if not self.relay.registry.is_member(ws, actor):
            warn("signal_refused", ws=ws_text(ws), actor=actor.hex(), reason="not_joined")
            await socket.send_text(json.dumps({"type": "refused", "reason": "not_joined",
                                               "detail": not_joined_detail(ws, actor)}))
            return None
        return actor

    async def endpoint(self, socket: WebSocket) -> None:
        await socket.accept()
        try:
            ws = parse_workspace_id(socket.path_params["workspace"])
        except Exception:
            ws = bytes(16)
        try:
            actor = await self._authenticate(socket, ws)
        except WebSocketDisconnect:
            return
        if actor is None:
            await socket.close()
            return
        room = self.rooms.setdefault(ws, {})
        member = Member(secrets.token_hex(8), actor, socket)
        await self._send(member, {"type": "welcome", "id": member.id, "relay": RELAY_ID,
                                  "peers": [{"id": m.id, "actor": m.actor.hex()} for m in room.values()],
                                  "ice_servers": [s.to_json() for s in self.relay.config.ice_servers]})
        for other in room.values():
            await self._send(other, {"type": "peer-joined", "id": member.id, "actor": actor.hex()})
        room[member.id] = member
        log("signal_joined", ws=ws_text(ws), actor=actor.hex(), id=member.id)
        try:
            while True:
                text = await socket.receive_text()
                if len(text) > MAX_SIGNAL:
                    await self._send(member, {"type": "error", "reason": "oversize",
                                              "detail": f"signalling messages are at most {MAX_SIGNAL} bytes"})
                    continue
                try:
                    message = json.loads(text)
                except ValueError:
                    message = None
                if not isinstance(message, dict) or message.get("type") not in FORWARDED or not isinstance(
                        message.get("to"), str):
                    await self._send(member, {"type": "error", "reason": "malformed",
                                              "detail": "expected {type: offer|answer|candidate|bye, to: id, ...}"})
                    continue
                if message["to"] == RELAY_ID:
                    await self._to_relay(ws, member, message)
                    continue
                target = room.get(message["to"])
                if target is None:
                    await self._send(member, {"type": "error", "reason": "unknown_peer", "detail": message["to"]})
                    continue
                await self._send(target, {**message, "from": member.id, "actor": actor.hex()})
        except WebSocketDisconnect:
            pass
        finally:
            room.pop(member.id, None)
            if not room:
                self.rooms.pop(ws, None)
            for other in room.values():
                await self._send(other, {"type": "peer-left", "id": member.id})
            log("signal_left", ws=ws_text(ws), actor=actor.hex(), id=member.id)

    async def _to_relay(self, ws: bytes, member: Member, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "offer" and isinstance(message.get("sdp"), str):
            client = member.socket.client.host if member.socket.client else "-"

            async def start(transport: ChannelTransport, pc: RTCPeerConnection) -> None:
                await transport.opened.wait()
                try:
                    await self.serve_session(hosted_ws=ws, client=client, transport="webrtc", send=transport.send,
                                             frames=transport.frames(), close=transport.close)
                finally:
                    await self.rtc.drop(pc)

            if self.relay.hosted(ws) is None:
                return
            pc, sdp = await self.rtc.answer(message["sdp"], start)
            member.connections.append(pc)
            await self._send(member, {"type": "answer", "from": RELAY_ID, "sdp": sdp})
            log("rtc_answered", ws=ws_text(ws), actor=short_actor(member.actor))
        elif kind == "candidate" and member.connections:
            with contextlib.suppress(Exception):
                await self.rtc.add_candidate(member.connections[-1], message.get("candidate"))
        elif kind == "bye":
            for pc in member.connections:
                await self.rtc.drop(pc)
            member.connections.clear()
