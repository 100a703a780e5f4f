"""Sockets a hostile client controls byte by byte: a WebSocket that never reads, HTTP that never
finishes its headers. The libraries the honest clients use read in the background and would
hide exactly the behaviour these tests need."""

from __future__ import annotations

import base64
import os
import select
import socket
import struct
import time


def tcp(port: int, *, source: str = "127.0.0.1", rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: a tiny window
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def upgrade(sock: socket.socket, path: str, timeout: float = 10) -> bytes:
    """The WebSocket opening handshake; returns bytes read past the response (the first frames)."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed during the WebSocket handshake: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"not upgraded: {head[:200]!r}")
    sock.settimeout(None)
    return rest


def frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One masked client frame (binary by default)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def read_frames(sock: socket.socket, buffered: bytes = b"", *, count: int = 1, timeout: float = 10) -> list[bytes]:
    """Read `count` unmasked server frames' payloads (after `buffered`, what was read already)."""
    out: list[bytes] = []
    data = buffered
    deadline = time.monotonic() + timeout
    while len(out) < count:
        while True:
            parsed = _parse(data)
            if parsed is None:
                break
            payload, data = parsed
            out.append(payload)
            if len(out) == count:
                return out
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} frames")
        data += chunk
    return out


def _parse(data: bytes) -> tuple[bytes, bytes] | None:
    if len(data) < 2:
        return None
    length = data[1] & 0x7F
    at = 2
    if length == 126:
        if len(data) < 4:
            return None
        length, at = struct.unpack("!H", data[2:4])[0], 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, at = struct.unpack("!Q", data[2:10])[0], 10
    if len(data) < at + length:
        return None
    return data[at:at + length], data[at + length:]


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the other side has closed (or reset) the connection within `timeout`, reading and
    discarding whatever arrives meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            continue
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def keep_sending(sock: socket.socket, payload: bytes, seconds: float) -> tuple[int, float | None]:
    """Send `payload` frames for up to `seconds` without ever reading. Returns (bytes sent, seconds until
    the peer dropped the connection, or None if it never did)."""
    sock.setblocking(False)
    start = time.monotonic()
    sent = 0
    data = frame(payload) * 64
    while time.monotonic() - start < seconds:
        _, writable, _ = select.select([], [sock], [], 0.05)
        if not writable:
            if _reset(sock):
                return sent, time.monotonic() - start
            continue
        try:
            sent += sock.send(data)
        except BlockingIOError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return sent, time.monotonic() - start
    return sent, None


def _reset(sock: socket.socket) -> bool:
    """Whether the connection was reset or closed (without reading any data it still holds)."""
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def sync_handshake(sock: socket.socket, buffered: bytes, workspace: bytes, actor: bytes, sign: object,
                   clock: dict[bytes, bytes] | None = None) -> object:
    """Say hello as `actor`, read the relay's hello, send the proof (signed with `sign(message)`).
    Returns the relay's hello; nothing after it is read."""
    from openprod.sync import decode_message_v1, encode_message_v1
    from openprod.sync.messages import PROTOCOL_VERSION, Hello, Proof
    from openprod.sync.proof import proof_bytes_v1

    nonce = os.urandom(16)
    sock.sendall(frame(encode_message_v1(Hello(version=PROTOCOL_VERSION, workspace=workspace, actor=actor,
                                                nonce=nonce))))
    relay_hello = decode_message_v1(read_frames(sock, buffered)[0])
    if not isinstance(relay_hello, Hello):
        return relay_hello
    message = proof_bytes_v1(workspace=workspace, prover=actor, verifier=relay_hello.actor,
                             verifier_nonce=relay_hello.nonce, prover_nonce=nonce)
    sock.sendall(frame(encode_message_v1(Proof(signature=sign(message), clock=clock or {}))))  # type: ignore[operator]
    return relay_hello
