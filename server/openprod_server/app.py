"""The relay's HTTP surface: a Starlette app (documented in docs/relay.md).

    GET  /healthz                      status, counts, URLs, workspaces that are unavailable and why
    POST /api/{action}                 signed requests: publish, join, create_key, list_keys,
                                       revoke_key, set_join_mode, members
    WS   /sync/{workspace}             the sync protocol, binary frames of at most 16 KiB
    WS   /signal/{workspace}           WebRTC signalling room (offers, answers, candidates)
    GET  /trust, /trust/ca.pem, ...    the local CA for devices to trust (HTTPS on a LAN)
    GET  /                             the built web app (build/web), or how to build it

Request bodies are capped (`max_body`, answered 413) and must arrive in time (`body_timeout_s`,
answered 408); a body that is not JSON, or nests too deeply to parse, is answered 400. The
connection-level limits (per address, header and send timeouts) live in `guard.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from openprod.sync import Closed, Role, SyncSession, encode_message_v1
from openprod.sync.errors import REASON_MALFORMED
from openprod.sync.messages import Refuse

from . import signalling, trust
from .config import RelayConfig
from .discovery import LanPeers
from .errors import HttpError
from .guard import ABORT, ConnectionGuard
from .logs import log, now_ms
from .relay import GateReplica, Relay, parse_workspace_id, ws_text
from .runner import SessionRunner

VERSION = "0.1.0"
WS_MAX_MESSAGE = 80 * 1024  # the largest WebSocket message accepted: a signalling message (64 KiB) and then some


class AccessLog:
    """One JSON line per HTTP request (method, path, status, duration, client)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [0]

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            client = scope.get("client") or ("-", 0)
            log("http", method=scope["method"], path=scope["path"], status=status[0],
                ms=round((time.perf_counter() - start) * 1000, 1), client=client[0])


class _BodyRefused(Exception):
    def __init__(self, error: HttpError) -> None:
        self.error = error


class BodyLimit:
    """Request bodies of at most `max_body` bytes, received within `timeout_s`; else 413 / 408.

    The Content-Length is checked before anything is read; a chunked body is counted as it
    arrives, so a sender that lies or streams forever is stopped at the limit either way.
    """

    def __init__(self, app: ASGIApp, max_body: int, timeout_s: float) -> None:
        self.app = app
        self.max_body = max_body
        self.timeout_s = timeout_s

    def _too_large(self) -> HttpError:
        return HttpError("too_large", f"the request body is over the relay's limit of {self.max_body} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                await self._refuse(scope, receive, send, self._too_large())
                return
        seen = [0]
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        started = [False]

        async def limited() -> Message:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyRefused(HttpError("request_timeout", "the request body did not arrive in time")) from None
            seen[0] += len(message.get("body", b""))
            if seen[0] > self.max_body:
                raise _BodyRefused(self._too_large())
            return message

        async def watch(message: Message) -> None:
            started[0] = started[0] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except _BodyRefused as refused:
            if not started[0]:
                await refused.error.response()(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: HttpError) -> None:
        response = error.response()
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def create_app(config: RelayConfig, *, urls: list[str] | None = None,
               guard: ConnectionGuard | None = None) -> Starlette:
    relay = Relay(config)
    rooms = signalling.Rooms(relay)
    handlers = relay.handlers()
    scheme = "https" if config.tls else "http"
    lan = LanPeers(relay, own_url=(urls or [f"{scheme}://{config.host}:{config.port}/"])[0],
                   manual=config.lan_peers, mdns=config.mdns, interfaces=config.mdns_interfaces,
                   every_s=config.lan_peer_every_s)

    async def lan_hello(request: Request) -> JSONResponse:
        """This relay for LAN peers (discovery.py); 404 unless LAN peering is on."""
        if not lan.enabled:
            return JSONResponse({"error": "unknown_workspace", "detail": "LAN peering is off"}, status_code=404)
        if request.path_params["what"] == "relays":
            return JSONResponse({"relays": lan.known()})
        return JSONResponse(lan.hello())

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({**relay.health(), "version": VERSION, "relay_actor": relay.identity.actor_id.hex(),
                             "uptime_s": round((now_ms() - relay.started_at) / 1000, 1), "tls": config.tls,
                             "urls": urls or [], **relay.stats(), "rtc_peers": rooms.rtc_peer_count(),
                             **(guard.stats() if guard is not None else {})})

    async def api(request: Request) -> Response:
        action = request.path_params["action"]
        try:
            if action not in handlers:
                raise HttpError("bad_request", f"unknown action {action!r}")
            try:
                body = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError):
                raise HttpError("malformed", "the body must be JSON") from None
            except RecursionError:
                raise HttpError("malformed", "the body nests too deeply to be a request") from None
            signed = relay.verify_request(body, action)
            client = request.client.host if request.client else "-"
            result = handlers[action](signed, client)
        except HttpError as exc:
            return exc.response()
        return JSONResponse(result)

    async def sync_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client.host if websocket.client else "-"
        abort = websocket.scope.get("extensions", {}).get(ABORT)
        try:
            ws_id = parse_workspace_id(websocket.path_params["workspace"])
        except HttpError:
            refusal = Refuse(reason=REASON_MALFORMED, detail="the address names no workspace id")
            with contextlib.suppress(Exception):
                async with asyncio.timeout(config.send_timeout_s):
                    await websocket.send_bytes(encode_message_v1(refusal))
                    await websocket.close()
            return
        # Hosted or not, the handshake runs the same way and a stranger is told `not_joined` after it:
        # no answer tells whether a workspace id is hosted here, and no file is opened before admission.
        await serve_session(ws_id=ws_id, client=client, transport="websocket", send=websocket.send_bytes,
                            frames=websocket_frames(websocket), close=websocket.close, abort=abort)

    async def serve_session(*, ws_id: bytes, client: str, transport: str, send: Any,
                            frames: AsyncIterator[bytes], close: Any, abort: Any = None) -> Closed:
        gate = GateReplica(ws_id, relay.identity.actor_id)
        session = SyncSession(gate, role=Role.ACCEPTOR, nonce=secrets.token_bytes(16), now=now_ms(),
                              config=config.session, admit=relay.admission(ws_id, gate))
        started = time.perf_counter()
        runner = SessionRunner(session, None, send, source=f"{transport}:{client}", close_transport=close,
                               abort_transport=abort, env=relay.env(), attach=lambda _s: relay.attach(ws_id, runner),
                               on_event=lambda event: relay.blob_event(ws_id, runner, event),
                               send_timeout_s=config.send_timeout_s,
                               on_failure=lambda exc: relay.storage_failed(ws_id, exc))
        log("session_open", ws=ws_text(ws_id), client=client, transport=transport)
        try:
            closed = await runner.run(frames)
        finally:
            relay.detach(ws_id, runner)
            if not runner.hung_up:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await close()
        log("session_closed", ws=ws_text(ws_id), client=client, transport=transport,
            actor=session.peer.hex() if session.peer else None, reason=closed.reason, detail=closed.detail,
            by_peer=closed.by_peer, frames_in=runner.frames_in, frames_out=runner.frames_out,
            seconds=round(time.perf_counter() - started, 2))
        return closed

    rooms.serve_session = serve_session

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/lan/{what:str}", lan_hello),
        Route("/api/{action}", api, methods=["POST"]),
        WebSocketRoute("/sync/{workspace}", sync_socket),
        WebSocketRoute("/signal/{workspace}", rooms.endpoint),
        *trust.routes(config),
    ]
    if (config.web_dir / "index.html").exists():
        routes.append(Mount("/", StaticFiles(directory=str(config.web_dir), html=True)))
    else:
        routes.append(Route("/", no_web_app))

    async def sweeper() -> None:
        period = max(0.5, min(30.0, config.idle_close_s / 4))
        while True:
            await asyncio.sleep(period)
            with contextlib.suppress(sqlite3.Error):
                relay.sweep()
                relay.pump_all_blobs()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        relay.check_files()
        log("relay_started", data=str(config.data_dir), relay_actor=relay.identity.actor_id.hex(), urls=urls or [],
            tls=config.tls, web=str(config.web_dir) if (config.web_dir / "index.html").exists() else None,
            **relay.health())
        task = asyncio.create_task(sweeper())
        peering = asyncio.create_task(lan.run()) if lan.enabled else None
        yield
        task.cancel()
        if peering is not None:
            peering.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await peering
            await lan.close()
        await rooms.close()
        relay.close()
        log("relay_stopped")

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.relay = relay
    app.state.rooms = rooms
    app.add_middleware(BodyLimit, max_body=config.max_body, timeout_s=config.body_timeout_s)
    app.add_middleware(AccessLog)
    return app


async def websocket_frames(websocket: WebSocket) -> AsyncIterator[bytes]:
    """Binary messages as frames; a text message is passed on as bytes (and refused as malformed)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        yield data if data is not None else (message.get("text") or "").encode()


async def no_web_app(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Openprod relay</title>"
        "<h1>Openprod relay</h1><p>The relay is running, but the web app has not been built.</p>"
        "<p>Run <code>python build.py</code> in the repository, then reload this page.</p>")
