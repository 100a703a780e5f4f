"""Issue 10, item 2: what a real relay process lets others hold open. Every socket must authenticate
(or finish its request headers) in time, one address holds a bounded number of connections, an
offer to the relay costs at most one pending WebRTC connection per member (dropped on timeout or
when the member leaves, never made for a bad SDP), publishing is rate-limited and can be limited
to approved identities, workspace files are opened only for admitted members and closed when
idle, and a flood of bad requests does not flood the log."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from pathlib import Path

from rawsocket import closed_by_peer, read_frames, sync_handshake, tcp, upgrade
from relayproc import RelayProcess, env_for, make_file_peer, open_files, settings_env, wait_until

from helpers import seeded_identity
from openprod import Workspace, connect
from openprod.starter import starter_manifests
from openprod.sync import RelayRequest, decode_message_v1
from openprod.sync.messages import Hello, Refuse
from openprod.sync.proof import signal_proof_bytes_v1
from openprod_server.client import genesis_wire


def owner_workspace(folder: Path, seed: int) -> Workspace:
    ws = Workspace.create(connect(str(folder / f"owner{seed}.db")), env_for(seeded_identity(f"Owner{seed}", seed)),
                          f"Show {seed}")
    ws.adopt_module(starter_manifests()["contacts"])
    return ws


def signed_body(ws: Workspace, action: str, args: dict[str, object]) -> bytes:
    request = RelayRequest(action=action, workspace=ws.workspace_id, actor=ws.actor_id,
                           at_ms=int(time.time() * 1000), nonce=secrets.token_bytes(16), args=args)
    return json.dumps(request.body(ws.env.signer.sign(request.signing_bytes()))).encode()


def post(relay: RelayProcess, action: str, body: bytes, source: str = "127.0.0.1") -> tuple[int, dict[str, object]]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=20, source_address=(source, 0))
    try:
        conn.request("POST", f"/api/{action}", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def workspace_files(pid: int) -> list[str]:
    return [f for f in open_files(pid) if "/workspaces/" in f]


def test_every_kind_of_silent_socket_is_dropped_in_time(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(auth_timeout=2, header_timeout=2))
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    alice.cli("publish", relay=relay)
    ws_text = str(uuid.UUID(bytes=alice.open().workspace_id))
    started = time.monotonic()
    slow_http = tcp(relay.port)
    slow_http.sendall(b"POST /api/join HTTP/1.1\r\nHost: x\r\n")  # ...and the rest of the headers never come
    silent_sync = tcp(relay.port)
    upgrade(silent_sync, f"/sync/{ws_text}")  # never says hello
    silent_signal = tcp(relay.port)
    upgrade(silent_signal, f"/signal/{ws_text}")  # never answers the challenge
    for sock in (slow_http, silent_sync, silent_signal):
        assert closed_by_peer(sock, 15), "a silent socket was held past its deadline"
    assert time.monotonic() - started < 2 + 3 + 5  # deadline, close wait, slack
    events = {e["event"] for e in relay.events()}
    assert {"slow_headers_dropped", "signal_refused"} <= events
    closed = [e for e in relay.events() if e.get("event") == "session_closed" and e.get("reason") == "timeout"]
    assert closed and closed[0]["detail"] == "the handshake did not complete in time"


def test_one_address_holds_a_bounded_number_of_connections(relay_factory) -> None:
    relay = relay_factory(env=settings_env(max_connections_per_address=8, header_timeout=30))
    held = [tcp(relay.port, source="127.0.0.2") for _ in range(8)]
    extra = [tcp(relay.port, source="127.0.0.2") for _ in range(20)]
    for sock in extra:
        assert closed_by_peer(sock, 5), "a connection over the per-address limit was kept"
    for sock in held:
        assert not closed_by_peer(sock, 0.05)
    # Another address (and so the relay's own health check from 127.0.0.1) is served as usual.
    assert relay.health()["status"] == "ok"
    other = tcp(relay.port, source="127.0.0.3")
    other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    other.settimeout(10)
    assert other.recv(64).startswith(b"HTTP/1.1 200")
    health = relay.health()
    assert health["refused_connections"] >= 20 and health["connections"] >= 8
    for sock in held:
        sock.close()


async def signal_member(relay: RelayProcess, ws: Workspace) -> object:
    from websockets.asyncio.client import connect as ws_connect

    room = await ws_connect(f"ws://127.0.0.1:{relay.port}/signal/{uuid.UUID(bytes=ws.workspace_id)}")
    nonce = base64.b64decode(json.loads(await room.recv())["nonce"])
    proof = signal_proof_bytes_v1(workspace=ws.workspace_id, actor=ws.actor_id, nonce=nonce)
    await room.send(json.dumps({"type": "auth", "actor": ws.actor_id.hex(),
                                "signature": base64.b64encode(ws.env.signer.sign(proof)).decode()}))
    welcome = json.loads(await room.recv())
    assert welcome["type"] == "welcome"
    return room


async def offer_sdp() -> tuple[object, str]:
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("openprod-sync")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def next_of(room: object, kind: str, timeout: float = 20) -> dict[str, object]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await room.recv())  # type: ignore[attr-defined]
            if message.get("type") in (kind, "error"):
                return message


def test_offers_to_the_relay_cost_one_pending_connection_per_member(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(rtc_pending_timeout=3))
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    alice.cli("publish", relay=relay)
    ws = alice.open()

    async def scenario() -> None:
        room = await signal_member(relay, ws)
        for garbage in ("v=0 fake", "nonsense", "v=0\r\nm=audio 9 UDP 0\r\n", {"sdp": 1}):
            await room.send(json.dumps({"type": "offer", "to": "relay", "sdp": garbage}))
            error = await next_of(room, "answer")
            assert error["type"] == "error" and error["reason"] == "bad_sdp", error
        assert relay.health()["rtc_peers"] == 0
        local = []
        for _ in range(5):  # offers that never go on to connect
            pc, sdp = await offer_sdp()
            local.append(pc)
            await room.send(json.dumps({"type": "offer", "to": "relay", "sdp": sdp}))
            assert (await next_of(room, "answer"))["type"] == "answer"
            assert relay.health()["rtc_peers"] <= 1  # a new offer replaces the member's pending one
        # The pending one is dropped when it does not connect in time...
        await asyncio.to_thread(wait_until, lambda: relay.health()["rtc_peers"] == 0, 15, "the pending one dropped")
        # ...or when its member leaves.
        pc, sdp = await offer_sdp()
        local.append(pc)
        await room.send(json.dumps({"type": "offer", "to": "relay", "sdp": sdp}))
        assert (await next_of(room, "answer"))["type"] == "answer"
        assert relay.health()["rtc_peers"] == 1
        await room.close()
        await asyncio.to_thread(wait_until, lambda: relay.health()["rtc_peers"] == 0, 5, "dropped on leave")
        for pc in local:
            await pc.close()

    asyncio.run(scenario())
    dropped = [e for e in relay.events() if e.get("event") == "rtc_dropped"]
    assert dropped and dropped[0]["reason"] == "not connected in time"


def test_publishing_is_rate_limited_and_can_be_restricted(relay_factory, tmp_path: Path) -> None:
    approved = owner_workspace(tmp_path, 900)
    relay = relay_factory(env=settings_env(publish_burst=3, publish_every=600))
    statuses = []
    for i in range(12):  # a publish flood from one address, every workspace a new one
        ws = owner_workspace(tmp_path, i + 1)
        status, answer = post(relay, "publish", signed_body(ws, "publish", {"genesis": genesis_wire(ws)}))
        statuses.append((status, answer.get("error")))
        ws.conn.close()
    assert statuses[:3] == [(200, None)] * 3
    assert statuses[3:] == [(429, "rate_limited")] * 9
    assert relay.health()["workspaces"] == 3
    assert len(workspace_files(relay.proc.pid)) <= 3 * 3  # db, -wal, -shm of each
    relay.stop()
    # A relay restricted to approved identities hosts only theirs.
    listed = tmp_path / "publishers.txt"
    listed.write_text(f"# the production office\n{approved.actor_id.hex()}\n")
    restricted = relay_factory(env=settings_env(publishers_file=listed))
    stranger = owner_workspace(tmp_path, 901)
    status, answer = post(restricted, "publish", signed_body(stranger, "publish", {"genesis": genesis_wire(stranger)}))
    assert (status, answer["error"]) == (403, "not_allowed")
    status, answer = post(restricted, "publish", signed_body(approved, "publish", {"genesis": genesis_wire(approved)}))
    assert status == 200 and answer["published"] is True


def test_workspace_files_are_opened_only_after_admission_and_closed_when_idle(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(idle_close=1))
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    alice.cli("publish", relay=relay)
    alice.cli("sync", relay=relay)
    ws_id = alice.open().workspace_id
    pid = relay.proc.pid
    wait_until(lambda: not workspace_files(pid), 15, "the idle workspace's file to be closed")
    assert relay.health()["open_replicas"] == 0
    # A stranger who knows the id and proves a key: refused, and the file was never opened.
    stranger = Workspace.join(connect(str(tmp_path / "olga.db")), env_for(seeded_identity("Olga", 77)), ws_id)
    sock = tcp(relay.port)
    rest = upgrade(sock, f"/sync/{uuid.UUID(bytes=ws_id)}")
    assert isinstance(sync_handshake(sock, rest, ws_id, stranger.actor_id, stranger.env.signer.sign), Hello)
    assert not workspace_files(pid)  # hello and proof, and still no file
    refusal = decode_message_v1(read_frames(sock)[0])
    assert isinstance(refusal, Refuse) and refusal.reason == "not_joined"
    assert not workspace_files(pid)
    opened = [e for e in relay.events() if e.get("event") == "workspace_opened"]
    alice.cli("sync", relay=relay)  # a member opens it again
    assert len([e for e in relay.events() if e.get("event") == "workspace_opened"]) == len(opened) + 1


def test_a_flood_of_bad_requests_does_not_flood_the_log(relay: RelayProcess) -> None:
    import math

    started = time.monotonic()
    for _ in range(1000):
        sock = tcp(relay.port)
        sock.sendall(b"POST /api/join HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\nnot json")
        sock.settimeout(10)
        assert sock.recv(64).startswith(b"HTTP/1.1 400")
        sock.close()
    windows = math.ceil((time.monotonic() - started) / 10) + 1  # rate windows the flood can have spanned
    lines = [e for e in relay.events() if e.get("event") == "http"]
    assert len(lines) <= 100 * windows, (len(lines), windows)
    assert len(lines) < 1000, "every request was logged"
    assert relay.log.stat().st_size < 400_000


def test_log_lines_say_how_many_like_them_were_left_out() -> None:
    import logging

    from openprod_server.logs import RateLimit

    now = [0.0]
    limit = RateLimit(burst=3, window_s=10, clock=lambda: now[0])

    def record() -> logging.LogRecord:
        return logging.LogRecord("openprod.relay", logging.WARNING, "", 0, "connection_refused", None, None)

    passed = [limit.filter(record()) for _ in range(10)]
    assert passed == [True] * 3 + [False] * 7
    now[0] = 11.0
    later = record()
    assert limit.filter(later) and later.suppressed == 7  # type: ignore[attr-defined]
