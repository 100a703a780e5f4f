"""Issue 10, item 1: what a client that only knows a hosted workspace id can make a real relay
process hold. Nothing grows without bound: sockets that never read are cut off whatever the send
side is doing, nothing is reassembled before a session is open, request bodies are capped with a
clear 413, and JSON nested too deeply to parse is answered 400."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import socket
import time
import uuid
from pathlib import Path

from rawsocket import closed_by_peer, frame, keep_sending, read_frames, sync_handshake, tcp, upgrade
from relayproc import RelayProcess, make_file_peer, process_memory_kib, settings_env

from openprod.sync import decode_message_v1, encode_message_v1, split_v1
from openprod.sync.messages import PROTOCOL_VERSION, Batch, Hello, Ping, Refuse

MIB = 1024  # KiB


def published(relay: RelayProcess, folder: Path) -> tuple[bytes, object]:
    """Alice's workspace, published and synced; returns its id and Alice."""
    alice = make_file_peer(folder, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    for i in range(3):
        ws.create_record("contacts.Contacts", {"name": f"Crew {i}"})
    ws_id = ws.workspace_id
    ws.conn.close()
    alice.cli("publish", relay=relay)
    alice.cli("sync", relay=relay)
    return ws_id, alice


def hello(ws_id: bytes, actor: bytes | None = None) -> bytes:
    return encode_message_v1(Hello(version=PROTOCOL_VERSION, workspace=ws_id, actor=actor or os.urandom(32),
                                   nonce=os.urandom(16)))


def test_a_stranger_who_never_reads_is_cut_off_and_memory_stays_bounded(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(auth_timeout=3, send_timeout=3))
    ws_id, _alice = published(relay, tmp_path)
    pid = relay.proc.pid
    before, _ = process_memory_kib(pid)
    sock = tcp(relay.port, rcvbuf=4096)  # a tiny receive window, never read
    upgrade(sock, f"/sync/{uuid.UUID(bytes=ws_id)}")
    sock.sendall(frame(hello(ws_id)))
    sent, dropped_after = keep_sending(sock, encode_message_v1(Ping(stamp=1)), seconds=40)
    _now, peak = process_memory_kib(pid)
    assert dropped_after is not None, f"the relay still held the connection after 40 s ({sent} bytes sent)"
    assert dropped_after < 3 + 3 + 4, f"dropped only after {dropped_after:.1f} s"  # auth, close wait, slack
    assert peak - before < 40 * MIB, f"the relay grew by {(peak - before) // MIB} MiB"
    assert relay.health()["status"] == "ok"


def test_a_member_who_never_reads_is_cut_off_and_memory_stays_bounded(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(send_timeout=3))
    ws_id, alice = published(relay, tmp_path)
    ws = alice.open()
    for _ in range(2):  # about 8 MB for Mallory to catch up on: more than the sockets' buffers hold
        with ws.transaction() as tx:
            for i in range(800):
                tx.create_record("contacts.Contacts", {"name": f"Cue {i}", "role": os.urandom(2500).hex()})
    ws.conn.close()
    alice.cli("sync", relay=relay)
    mallory = make_file_peer(tmp_path, "Mallory", 3, workspace_id=ws_id)
    mallory.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
    m = mallory.open()
    pid = relay.proc.pid
    before, _ = process_memory_kib(pid)
    sock = tcp(relay.port, rcvbuf=4096)
    rest = upgrade(sock, f"/sync/{uuid.UUID(bytes=ws_id)}")
    assert isinstance(sync_handshake(sock, rest, ws_id, m.actor_id, m.env.signer.sign), Hello)  # "send me everything"
    # ...and never reads it.
    assert closed_by_peer_without_reading(sock, 40), "the relay still held the connection after 40 s"
    _now, peak = process_memory_kib(pid)
    assert peak - before < 40 * MIB, f"the relay grew by {(peak - before) // MIB} MiB"
    closed = [e for e in relay.events() if e.get("event") == "session_closed" and e.get("actor") == m.actor_id.hex()]
    assert closed and closed[-1]["reason"] == "timeout" and "read nothing" in closed[-1]["detail"], closed
    alice.cli("sync", relay=relay)  # the relay serves others as before


def closed_by_peer_without_reading(sock: socket.socket, timeout: float) -> bool:
    """Whether the other side drops the connection within `timeout`, without our reading what it sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            return True
        try:
            if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                return True
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            return True
        select.select([], [], [], 0.05)
    return False


def test_nothing_is_reassembled_before_the_session_is_open(relay: RelayProcess, tmp_path: Path) -> None:
    ws_id, _alice = published(relay, tmp_path)
    sock = tcp(relay.port)
    rest = upgrade(sock, f"/sync/{uuid.UUID(bytes=ws_id)}")
    sock.sendall(frame(hello(ws_id)))
    # The first pieces of a 16 MiB message, before any proof: refused at the first piece.
    pieces = split_v1(Batch(seq=1, bundles=(os.urandom(16 * 1024 * 1024 - 100),)), 7)
    for piece in pieces[:20]:
        with contextlib.suppress(OSError):  # the relay may hang up before the last piece
            sock.sendall(frame(piece))
    messages = [decode_message_v1(f) for f in read_frames(sock, rest, count=2)]
    refusal = messages[-1]
    assert isinstance(refusal, Refuse) and refusal.reason == "protocol" and "pieces" in refusal.detail
    assert closed_by_peer(sock, 10)


def post(port: int, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         chunks: list[bytes] | None = None) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        if chunks is not None:
            conn.putrequest("POST", path)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", "application/json")
            conn.endheaders()
            try:
                for chunk in chunks:
                    conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                conn.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the relay answered and stopped reading
        else:
            conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_request_bodies_are_capped_with_a_clear_413(relay_factory) -> None:
    relay = relay_factory(env=settings_env(max_body=256 * 1024))
    pid = relay.proc.pid
    before, _ = process_memory_kib(pid)
    # Announced too large: answered before a byte of the body is read.
    conn = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=20)
    conn.putrequest("POST", "/api/publish")
    conn.putheader("Content-Length", str(100 * 1024 * 1024))
    conn.endheaders()
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status == 413 and answer["error"] == "too_large" and "262144" in answer["detail"]
    conn.close()
    # Not announced (chunked), and longer than the limit: stopped at the limit.
    status, answer = post(relay.port, "/api/publish", chunks=[b"[" + b" " * 65536] * 64)
    assert status == 413 and answer["error"] == "too_large"
    _now, peak = process_memory_kib(pid)
    assert peak - before < 30 * MIB, f"the relay grew by {(peak - before) // MIB} MiB"
    assert relay.health()["status"] == "ok"


def test_json_nested_too_deeply_is_answered_400(relay: RelayProcess) -> None:
    status, answer = post(relay.port, "/api/join", body=b"[" * 200_000 + b"]" * 200_000,
                          headers={"Content-Type": "application/json"})
    assert status == 400 and answer["error"] == "malformed" and "nests too deeply" in answer["detail"]
    # In a signalling room too (before the challenge is answered): a clear refusal, no crash.
    sock = tcp(relay.port)
    rest = upgrade(sock, f"/signal/{uuid.UUID(bytes=os.urandom(16))}")
    challenge = json.loads(read_frames(sock, rest)[0])
    assert challenge["type"] == "challenge"
    sock.sendall(frame(b"[" * 60_000 + b"]" * 2_000, opcode=0x1))
    refused = json.loads(read_frames(sock)[0])
    assert refused["type"] == "refused" and refused["reason"] == "malformed"
    assert closed_by_peer(sock, 10)
    assert not [e for e in relay.events() if "Traceback" in json.dumps(e)]
