"""Connection limits below the app: what a stranger can hold open before saying who they are.

uvicorn (pinned) takes its HTTP and WebSocket protocol classes as configuration; these subclasses
add what it lacks for a relay on a venue network anyone can reach:

* **connections per address**: at most `per_address` open connections from one client address
  (an IPv6 /64 counts as one address) and `total` in all; more are dropped at once, before a
  byte is read, so a flood of sockets cannot exhaust the relay's file descriptors;
* **request headers in time**: a connection must deliver each request's headers within
  `header_timeout_s` of connecting (or of its previous response), else it is dropped
  (slow-header attacks hold a socket for free otherwise);
* **sends that finish**: a WebSocket peer that stops reading blocks a send for at most
  `send_timeout_s`; then the connection is dropped without flushing, and its buffers with it;
* **a hard hang-up for the app**: `scope["extensions"]["openprod.abort"]` drops a WebSocket
  at once (a close handshake waits for a peer that may never read);
* **no work for a closed socket**: after our close frame a peer may send its close and what was
  in flight; one that keeps sending (`AFTER_CLOSE_BYTES`) is dropped instead of having every
  frame parsed and thrown away while we wait for its close.

Connections from a configured reverse proxy are not counted per address (they carry many people).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections import Counter
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .logs import warn

ABORT = "openprod.abort"
CLOSE_WAIT_S = 3.0  # after our close frame, how long the peer has to answer it (uvicorn waits 10 s)
AFTER_CLOSE_BYTES = 256 * 1024  # what a peer may still send after our close frame (its close, frames in flight)


def hard_close(transport: asyncio.BaseTransport) -> None:
    """Drop a connection now: a reset, not a close that waits (in the kernel too) to deliver what the
    peer never reads."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


def address_key(host: str) -> str:
    """One client for the limits: an IPv4 address, or an IPv6 /64 (one device's usual share)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class ConnectionGuard:
    def __init__(self, *, per_address: int = 64, total: int = 2_000, header_timeout_s: float = 10.0,
                 send_timeout_s: float = 30.0, trusted_proxies: tuple[str, ...] = ()) -> None:
        self.per_address = per_address
        self.total = total
        self.header_timeout_s = header_timeout_s
        self.send_timeout_s = send_timeout_s
        self.trusted = frozenset(trusted_proxies)
        self._owner: dict[int, str] = {}  # id(transport) -> address key
        self._counts: Counter[str] = Counter()
        self.refused = 0
        self.slow_headers = 0
        self.stalled_sends = 0

    @property
    def open(self) -> int:
        return len(self._owner)

    def admit(self, transport: asyncio.BaseTransport, client: tuple[str, int] | None) -> bool:
        host = client[0] if client else "-"
        key = address_key(host)
        if len(self._owner) >= self.total or (host not in self.trusted and self._counts[key] >= self.per_address):
            self.refused += 1
            warn("connection_refused", client=host, open_from_client=self._counts[key], open=len(self._owner),
                 per_address=self.per_address, total=self.total)
            return False
        self._owner[id(transport)] = key
        if host not in self.trusted:
            self._counts[key] += 1
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        key = self._owner.pop(id(transport), None)
        if key is not None and self._counts[key] > 0:
            self._counts[key] -= 1
            if not self._counts[key]:
                del self._counts[key]

    def stats(self) -> dict[str, int]:
        return {"connections": len(self._owner), "refused_connections": self.refused,
                "slow_headers_dropped": self.slow_headers, "stalled_sends_dropped": self.stalled_sends}

    def protocols(self) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
        """The (HTTP, WebSocket) protocol classes to hand to uvicorn's Config(http=..., ws=...)."""
        guard = self

        class GuardedWebSocket(WebSocketsSansIOProtocol):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.close_timeout = CLOSE_WAIT_S
                self._after_close = 0

            def data_received(self, data: bytes) -> None:
                if self.close_sent:
                    self._after_close += len(data)
                    if self._after_close > AFTER_CLOSE_BYTES:
                        hard_close(self.transport)
                        return
                super().data_received(data)

            def handle_connect(self, event: Any) -> None:
                super().handle_connect(event)
                scope = getattr(self, "scope", None)
                if scope is not None:
                    scope["extensions"][ABORT] = lambda: hard_close(self.transport)

            async def send(self, message: Any) -> None:
                if not self.writable.is_set():
                    try:
                        async with asyncio.timeout(guard.send_timeout_s):
                            await self.writable.wait()
                    except TimeoutError:
                        guard.stalled_sends += 1
                        warn("send_stalled", client=self.client[0] if self.client else "-",
                             seconds=guard.send_timeout_s)
                        hard_close(self.transport)
                        raise ClientDisconnected() from None
                await super().send(message)
                if message.get("type") == "websocket.close" and self.close_timer is not None:
                    # uvicorn's timer would close() and so wait forever to flush to a peer that never reads.
                    self.close_timer.cancel()
                    self.close_timer = self.loop.call_later(self.close_timeout, hard_close, self.transport)

            async def run_asgi(self) -> None:
                await super().run_asgi()
                if self.close_timer is None and not self.disconnected:
                    self.loop.call_later(self.close_timeout, hard_close, self.transport)  # close() may never flush

            def connection_lost(self, exc: Exception | None) -> None:
                guard.release(self.transport)
                super().connection_lost(exc)

        class GuardedHttp(H11Protocol):
            _deadline: asyncio.TimerHandle | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)  # type: ignore[arg-type]
                if not guard.admit(transport, self.client):
                    hard_close(transport)
                    return
                sock = transport.get_extra_info("socket")
                if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                    with contextlib.suppress(OSError):  # no Nagle: a small reply must not wait 40 ms for an ACK
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._arm()

            def _arm(self) -> None:
                self._disarm()
                self._deadline = self.loop.call_later(guard.header_timeout_s, self._headers_too_slow)

            def _disarm(self) -> None:
                if self._deadline is not None:
                    self._deadline.cancel()
                    self._deadline = None

            def _headers_too_slow(self) -> None:
                self._deadline = None
                if self.cycle is None or self.cycle.response_complete:  # still waiting for a request
                    guard.slow_headers += 1
                    warn("slow_headers_dropped", client=self.client[0] if self.client else "-",
                         seconds=guard.header_timeout_s)
                    hard_close(self.transport)

            def handle_events(self) -> None:
                before = self.cycle
                super().handle_events()
                if self.cycle is not before:
                    self._disarm()  # a request arrived whole; its body has its own deadline (app.BodyLimit)

            def handle_websocket_upgrade(self, event: Any) -> None:
                self._disarm()
                super().handle_websocket_upgrade(event)

            def on_response_complete(self) -> None:
                super().on_response_complete()
                if not self.transport.is_closing():
                    self._arm()

            def connection_lost(self, exc: Exception | None) -> None:
                self._disarm()
                guard.release(self.transport)
                super().connection_lost(exc)

        return GuardedHttp, GuardedWebSocket
