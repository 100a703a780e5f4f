"""The Python client peer: syncs a local workspace file with a relay, over a WebSocket or over
a WebRTC data channel (aiortc), and makes the signed requests (publish, join, access keys).

Used by the CLI (`openprod sync`, `openprod join`, `openprod key ...`) and by the tests. The
sync session is the same sans-IO `SyncSession` the relay and the browser run; this module only
opens the transport and stops when asked (by default once both sides report the same state
hash).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from openprod import Workspace
from openprod.errors import REASON_REMOVED_MEMBER
from openprod.sync import (
    BlobExchange,
    BundleRefused,
    CaughtUp,
    Closed,
    Diverged,
    Event,
    InSync,
    PeerRefusedBundle,
    Progress,
    RelayRequest,
    Role,
    SessionConfig,
    SyncSession,
    WorkspaceReplica,
)
from openprod.sync.proof import signal_proof_bytes_v1

from .logs import now_ms
from .runner import SessionRunner

WS_MAX_MESSAGE = 1024 * 1024


class ClientError(Exception):
    """The relay refused a request, or could not be reached. `code` is the relay's error code."""

    def __init__(self, code: str, detail: str, status: int = 0) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status


REFUSED_FOR_GOOD = REASON_REMOVED_MEMBER


@dataclass
class SyncReport:
    transport: str
    established: bool = False
    received: int = 0
    remaining_at_start: int | None = None
    in_sync: bool = False
    state_hash: str | None = None
    diverged: bool = False
    refused_by_us: list[tuple[str, str]] = field(default_factory=list)
    refused_by_peer: list[tuple[str, str]] = field(default_factory=list)
    closed_reason: str = ""
    closed_detail: str = ""
    caught_up: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"transport": self.transport, "established": self.established, "received": self.received,
                "remaining_at_start": self.remaining_at_start, "in_sync": self.in_sync,
                "state_hash": self.state_hash, "diverged": self.diverged, "closed": self.closed_reason,
                "detail": self.closed_detail, "refused_by_us": self.refused_by_us,
                "refused_by_peer": self.refused_by_peer}


def genesis_wire(ws: Workspace) -> bytes:
    """The bundle holding the workspace's first InitWorkspace: what makes its author the owner."""
    wire = ws.oplog.genesis_bundle()
    if wire is None:
        raise ClientError("bad_request", "this file holds no InitWorkspace bundle to publish")
    return wire


class RelayClient:
    def __init__(self, base_url: str, ws: Workspace, *, ssl_context: ssl.SSLContext | None = None,
                 session_config: SessionConfig | None = None, ice_servers: tuple[Any, ...] = ()) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws = ws
        self.ssl_context = ssl_context
        # A CPython peer reads the state hash in one call anyway: check as soon as it has caught up.
        self.session_config = session_config or SessionConfig(check_when_caught_up=True)
        self.ice_servers = ice_servers
        self.blobs: BlobExchange | None = None
        """Attachments to serve and fetch during `sync` (None: bundles only)."""
        self.blobs_until: Callable[[], bool] | None = None
        """With `blobs`: end the session once this is true (e.g. every wanted blob is here)."""

    @property
    def workspace_text(self) -> str:
        return str(uuid.UUID(bytes=self.ws.workspace_id))

    def _socket_url(self, kind: str) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        return f"{scheme}://{self.base_url.split('://', 1)[1]}/{kind}/{self.workspace_text}"

    # --- signed requests ----------------------------------------------------------------------

    def _post(self, action: str, body: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.base_url}/api/{action}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.ssl_context) as response:
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())
            except ValueError:
                error = {"error": "http_error", "detail": str(exc)}
            raise ClientError(error.get("error", "http_error"), error.get("detail", ""), exc.code) from None
        except urllib.error.URLError as exc:
            raise ClientError("unreachable", f"cannot reach {self.base_url}: {exc.reason}") from None

    async def request(self, action: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        signed = RelayRequest(action=action, workspace=self.ws.workspace_id, actor=self.ws.actor_id, at_ms=now_ms(),
                              nonce=secrets.token_bytes(16), args=args or {})
        signature = await self.ws.env.signer.sign_async(signed.signing_bytes())
        return await asyncio.to_thread(self._post, action, signed.body(signature))

    async def publish(self, join_mode: str = "open") -> dict[str, Any]:
        return await self.request("publish", {"genesis": genesis_wire(self.ws), "join_mode": join_mode})

    async def join(self, code: str | None = None, name: str | None = None) -> dict[str, Any]:
        """Join with an access key, in open mode, or (request mode, with `name`) ask the owner."""
        args: dict[str, Any] = {"code": code} if code is not None else {}
        if name is not None:
            args["name"] = name
        return await self.request("join", args)

    # --- sync ---------------------------------------------------------------------------------

    def _new_session(self) -> SyncSession:
        return SyncSession(WorkspaceReplica(self.ws), role=Role.INITIATOR, nonce=secrets.token_bytes(16),
                           now=now_ms(), config=self.session_config)

    def _observer(self, report: SyncReport, runner_box: list[SessionRunner], until_in_sync: bool,
                  on_event: Callable[[Event], None] | None) -> Callable[[Event], None]:
        def settled() -> None:
            # A change the relay will never take (its author was removed) keeps the two apart for good:
            # once everything from the relay is here, stop instead of retrying without end.
            if until_in_sync and runner_box and report.caught_up and any(
                    reason == REFUSED_FOR_GOOD for reason, _detail in report.refused_by_peer):
                runner_box[0].close("closed", "the relay refused changes by a removed member; everything else is "
                                              "in sync")

        def observe(event: Event) -> None:
            if on_event is not None:
                on_event(event)
            if isinstance(event, Progress):
                if report.remaining_at_start is None:
                    report.remaining_at_start = event.remaining + event.received
                report.received = event.received
            elif isinstance(event, CaughtUp):
                report.received = event.received
                report.caught_up = True
                if report.remaining_at_start is None:
                    report.remaining_at_start = event.received
                settled()
            elif isinstance(event, InSync):
                report.in_sync, report.state_hash = True, event.state_hash
                if until_in_sync and runner_box:
                    runner_box[0].close("closed", "in sync")
            elif isinstance(event, Diverged):
                report.diverged = True
            elif isinstance(event, BundleRefused):
                report.refused_by_us.append((event.reason, event.detail))
            elif isinstance(event, PeerRefusedBundle):
                report.refused_by_peer.append((event.reason, event.detail))
                settled()
            elif isinstance(event, Closed):
                report.closed_reason, report.closed_detail = event.reason, event.detail
            else:
                report.established = True
        return observe

    async def _run(self, report: SyncReport, send: Any, frames: AsyncIterator[bytes], close: Any,
                   until_in_sync: bool, on_event: Callable[[Event], None] | None) -> SyncReport:
        box: list[SessionRunner] = []
        observe = self._observer(report, box, until_in_sync, on_event)
        if self.blobs is not None:
            observe = self._with_blobs(self.blobs, observe, box)
        runner = SessionRunner(self._new_session(), self.ws, send, source=f"relay:{self.base_url}",
                               close_transport=close, on_event=observe)
        box.append(runner)
        await runner.run(frames)
        return report

    def _with_blobs(self, blobs: BlobExchange, observe: Callable[[Event], None],
                    box: list[SessionRunner]) -> Callable[[Event], None]:
        """Serve and fetch attachments over this session; close once `blobs_until()` says so."""
        def with_blobs(event: Event) -> None:
            blobs.on_event(box[0].session, event)
            observe(event)
            blobs.pump([box[0].session], now_ms())
            if self.blobs_until is not None and self.blobs_until():
                box[0].close("closed", "attachments done")
        return with_blobs

    async def sync(self, *, transport: str = "websocket", until_in_sync: bool = True,
                   on_event: Callable[[Event], None] | None = None) -> SyncReport:
        """One session with the relay. Returns when in sync (or when the session ends, if watching)."""
        if transport == "websocket":
            return await self._sync_websocket(until_in_sync, on_event)
        if transport == "webrtc":
            return await self._sync_webrtc(until_in_sync, on_event)
        raise ValueError(f"unknown transport {transport!r}")

    async def _connect(self, kind: str) -> ClientConnection:
        try:
            return await connect(self._socket_url(kind), ssl=self.ssl_context if self.base_url.startswith("https")
                                 else None, max_size=WS_MAX_MESSAGE, open_timeout=15, ping_interval=None)
        except ssl.SSLError as exc:
            raise ClientError("tls", f"TLS handshake with {self.base_url} failed: {exc}") from None
        except OSError as exc:
            raise ClientError("unreachable", f"cannot reach {self.base_url}: {exc}") from None

    async def _sync_websocket(self, until_in_sync: bool, on_event: Callable[[Event], None] | None) -> SyncReport:
        conn = await self._connect("sync")

        async def frames() -> AsyncIterator[bytes]:
            with contextlib.suppress(ConnectionClosed):
                async for message in conn:
                    yield message if isinstance(message, bytes) else message.encode()

        try:
            return await self._run(SyncReport("websocket"), conn.send, frames(), conn.close, until_in_sync, on_event)
        finally:
            await conn.close()

    async def _sync_webrtc(self, until_in_sync: bool, on_event: Callable[[Event], None] | None) -> SyncReport:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from .config import IceServer
        from .rtc import ChannelTransport, rtc_configuration

        signal = await self._connect("signal")
        pc: RTCPeerConnection | None = None
        try:
            challenge = json.loads(await signal.recv())
            nonce = base64.b64decode(challenge["nonce"])
            proof = signal_proof_bytes_v1(workspace=self.ws.workspace_id, actor=self.ws.actor_id, nonce=nonce)
            signature = await self.ws.env.signer.sign_async(proof)
            await signal.send(json.dumps({"type": "auth", "actor": self.ws.actor_id.hex(),
                                          "signature": base64.b64encode(signature).decode()}))
            welcome = json.loads(await signal.recv())
            if welcome.get("type") != "welcome":
                raise ClientError(welcome.get("reason", "refused"), welcome.get("detail", ""))
            servers = self.ice_servers or tuple(IceServer(**s) for s in welcome.get("ice_servers", []))
            pc = RTCPeerConnection(rtc_configuration(servers))
            transport = ChannelTransport(pc.createDataChannel("openprod-sync"))
            await pc.setLocalDescription(await pc.createOffer())
            await signal.send(json.dumps({"type": "offer", "to": welcome["relay"], "sdp": pc.localDescription.sdp}))
            while True:
                message = json.loads(await asyncio.wait_for(signal.recv(), 30))
                if message.get("type") == "answer" and message.get("from") == welcome["relay"]:
                    break
            await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
            await asyncio.wait_for(transport.opened.wait(), 30)
            return await self._run(SyncReport("webrtc"), transport.send, transport.frames(), transport.close,
                                   until_in_sync, on_event)
        except TimeoutError:
            raise ClientError("timeout", "WebRTC connection to the relay did not open") from None
        finally:
            if pc is not None:
                await pc.close()
            await signal.close()
