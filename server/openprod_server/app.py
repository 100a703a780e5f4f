"""The relay's HTTP surface: a Starlette app (documented in docs/relay.md).

    GET  /healthz                      status, counts, URLs
    POST /api/{action}                 signed requests: publish, join, create_key, list_keys,
                                       revoke_key, set_join_mode, members
    WS   /sync/{workspace}             the sync protocol, binary frames of at most 16 KiB
    WS   /signal/{workspace}           WebRTC signalling room (offers, answers, candidates)
    GET  /trust, /trust/ca.pem, ...    the local CA for devices to trust (HTTPS on a LAN)
    GET  /                             the built web app (build/web), or how to build it
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from openprod.sync import Closed, Role, SyncSession, encode_message_v1
from openprod.sync.errors import REASON_NOT_JOINED
from openprod.sync.messages import Refuse

from . import signalling, trust
from .config import RelayConfig
from .errors import HttpError
from .logs import log, now_ms
from .relay import Relay, not_joined_detail, parse_workspace_id, ws_text
from .runner import SessionRunner

VERSION = "0.1.0"
WS_MAX_MESSAGE = 1024 * 1024  # uvicorn drops bigger WebSocket messages; the session refuses > 16 KiB


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


def create_app(config: RelayConfig, *, urls: list[str] | None = None) -> Starlette:
    relay = Relay(config)
    rooms = signalling.Rooms(relay)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": VERSION, "relay_actor": relay.identity.actor_id.hex(),
                             "uptime_s": round((now_ms() - relay.started_at) / 1000, 1), "tls": config.tls,
                             "urls": urls or [], **relay.stats(), "rtc_peers": rooms.rtc_peer_count()})

    async def api(request: Request) -> Response:
        action = request.path_params["action"]
        handlers = {"publish": relay.publish, "create_key": relay.create_key, "list_keys": relay.list_keys,
                    "revoke_key": relay.revoke_key, "set_join_mode": relay.set_join_mode, "members": relay.members}
        try:
            if action not in (*handlers, "join"):
                raise HttpError("bad_request", f"unknown action {action!r}")
            try:
                body = await request.json()
            except ValueError:
                raise HttpError("malformed", "the body must be JSON") from None
            signed = relay.verify_request(body, action)
            client = request.client.host if request.client else "-"
            result = relay.join(signed, client) if action == "join" else handlers[action](signed)
        except HttpError as exc:
            return exc.response()
        return JSONResponse(result)

    async def sync_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client.host if websocket.client else "-"
        try:
            ws_id = parse_workspace_id(websocket.path_params["workspace"])
        except HttpError:
            ws_id = b"\x00" * 16
        hosted = relay.hosted(ws_id)
        if hosted is None:
            refusal = Refuse(reason=REASON_NOT_JOINED, detail=not_joined_detail(ws_id, b"\x00" * 32))
            await websocket.send_bytes(encode_message_v1(refusal))
            await websocket.close()
            log("sync_refused", ws=websocket.path_params["workspace"], client=client, reason=REASON_NOT_JOINED)
            return
        await serve_session(hosted_ws=ws_id, client=client, transport="websocket",
                            send=websocket.send_bytes, frames=websocket_frames(websocket),
                            close=websocket.close)

    async def serve_session(*, hosted_ws: bytes, client: str, transport: str, send: Any,
                            frames: AsyncIterator[bytes], close: Any) -> Closed:
        hosted = relay.hosted(hosted_ws)
        assert hosted is not None
        session = SyncSession(hosted.replica, role=Role.ACCEPTOR, nonce=secrets.token_bytes(16), now=now_ms(),
                              config=config.session, admit=relay.admission(hosted_ws))
        hosted.sessions.add(session)
        started = time.perf_counter()
        runner = SessionRunner(session, hosted.ws, send, source=f"{transport}:{client}", close_transport=close)
        log("session_open", ws=ws_text(hosted_ws), client=client, transport=transport)
        try:
            closed = await runner.run(frames)
        finally:
            hosted.sessions.discard(session)
            with contextlib.suppress(Exception):
                await close()
        log("session_closed", ws=ws_text(hosted_ws), client=client, transport=transport,
            actor=session.peer.hex() if session.peer else None, reason=closed.reason, detail=closed.detail,
            by_peer=closed.by_peer, frames_in=runner.frames_in, frames_out=runner.frames_out,
            seconds=round(time.perf_counter() - started, 2))
        return closed

    rooms.serve_session = serve_session

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/api/{action}", api, methods=["POST"]),
        WebSocketRoute("/sync/{workspace}", sync_socket),
        WebSocketRoute("/signal/{workspace}", rooms.endpoint),
        *trust.routes(config),
    ]
    if (config.web_dir / "index.html").exists():
        routes.append(Mount("/", StaticFiles(directory=str(config.web_dir), html=True)))
    else:
        routes.append(Route("/", no_web_app))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log("relay_started", data=str(config.data_dir), relay_actor=relay.identity.actor_id.hex(), urls=urls or [],
            tls=config.tls, web=str(config.web_dir) if (config.web_dir / "index.html").exists() else None)
        yield
        await rooms.close()
        relay.close()
        log("relay_stopped")

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.relay = relay
    app.state.rooms = rooms
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
