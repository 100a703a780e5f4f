"""Issue 10, item 8, on a real relay process: X-Forwarded-For is believed only from a configured
proxy; guessers on many addresses cannot lock out a newcomer with the right key; refused attempts
do not pile up forever; keys are long enough for their lifetime; whether a workspace is hosted
cannot be probed; signalling has a rate limit and drops a member that does not read; and one
cancel ends a live RelayClient.sync at once (Python 3.11 included)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import secrets
import sqlite3
import time
import uuid
from pathlib import Path

from rawsocket import frame, read_frames, sync_handshake, tcp, upgrade
from relayproc import FilePeer, RelayProcess, env_for, make_file_peer, process_memory_kib, settings_env, wait_until

from helpers import seeded_identity
from openprod import Workspace, connect
from openprod.signer_nacl import NaclSigner
from openprod.sync import Closed, InSync, RelayRequest, decode_message_v1
from openprod.sync.messages import Hello, Refuse
from openprod.sync.proof import signal_proof_bytes_v1
from openprod_server.client import RelayClient, genesis_wire


def request(relay: RelayProcess, action: str, ws_id: bytes, signer_seed: int, args: dict[str, object], *,
            source: str = "127.0.0.1", headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    identity = seeded_identity(f"Person{signer_seed}", signer_seed)
    signed = RelayRequest(action=action, workspace=ws_id, actor=identity.actor_id, at_ms=int(time.time() * 1000),
                          nonce=secrets.token_bytes(16), args=args)
    body = json.dumps(signed.body(NaclSigner(identity).sign(signed.signing_bytes()))).encode()
    conn = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=20, source_address=(source, 0))
    try:
        conn.request("POST", f"/api/{action}", body=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def keyed_show(relay: RelayProcess, folder: Path) -> tuple[FilePeer, bytes, str]:
    """Alice's workspace in access-key mode, and a fresh key: (Alice, workspace id, code)."""
    alice = make_file_peer(folder, "Alice", 1, owner_of="Hamlet")
    alice.cli("publish", "--join-mode", "access_key", relay=relay)
    code = json.loads(alice.cli("key", "create", relay=relay).stdout)["code"]
    return alice, alice.open().workspace_id, code


def failures(relay: RelayProcess) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{relay.data / 'relay.db'}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT client, reason FROM join_failures ORDER BY id"))
    finally:
        conn.close()


def test_forwarded_for_is_believed_only_from_a_configured_proxy(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory()
    _alice, ws_id, _code = keyed_show(relay, tmp_path)
    answers = [request(relay, "join", ws_id, 100 + i, {"code": f"ZZZZZ{i + 2}"},
                       headers={"X-Forwarded-For": f"10.66.0.{i}"})[0] for i in range(8)]
    # One real address (loopback), whatever the header claims: its bucket (5) runs out.
    assert answers == [403] * 5 + [429] * 3
    assert {client for client, _reason in failures(relay)} == {"127.0.0.1"}


def test_guessers_on_many_addresses_do_not_lock_out_the_right_key(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory()
    _alice, ws_id, code = keyed_show(relay, tmp_path)
    statuses = []
    for i in range(30):  # 30 addresses, two guesses each: far past the workspace's 20 failures
        for guess in ("ZZZZZ2", "ZZZZZ3"):
            statuses.append(request(relay, "join", ws_id, 200 + i, {"code": guess}, source=f"127.0.1.{i + 1}")[0])
    assert statuses.count(429) > 0, "the workspace never locked down"
    status, answer = request(relay, "join", ws_id, 999, {"code": code.lower()}, source="127.0.2.1")
    assert status == 200 and answer["joined"] is True and answer["via"] == "access_key"


def test_refused_attempts_do_not_pile_up(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(join_burst=1000, max_failures_kept=10))
    _alice, ws_id, _code = keyed_show(relay, tmp_path)
    answers = [request(relay, "join", ws_id, 300 + i, {"code": "ZZZZZ2"})[0] for i in range(30)]
    assert answers.count(403) == 20 and answers.count(429) == 10  # the workspace's lockdown, then waiting
    rows = failures(relay)
    assert 0 < len(rows) <= 10, len(rows)  # the newest ten, and no row for an attempt that was turned away


def test_keys_are_long_enough_for_their_lifetime(relay: RelayProcess, tmp_path: Path) -> None:
    alice, _ws_id, code = keyed_show(relay, tmp_path)
    assert len(code) == 6
    short = alice.cli("key", "create", "--length", "4", relay=relay, check=False)
    assert short.returncode == 1 and "length must be 6 to 8" in short.stderr
    month = json.loads(alice.cli("key", "create", "--expires", "30d", relay=relay).stdout)
    assert len(month["code"]) == 8
    long_short = alice.cli("key", "create", "--expires", "30d", "--length", "6", relay=relay, check=False)
    assert long_short.returncode == 1 and "at least 8 characters" in long_short.stderr


def stranger_handshake(relay: RelayProcess, ws_id: bytes, stranger: Workspace) -> list[object]:
    sock = tcp(relay.port)
    rest = upgrade(sock, f"/sync/{uuid.UUID(bytes=ws_id)}")
    first = sync_handshake(sock, rest, ws_id, stranger.actor_id, stranger.env.signer.sign)
    if not isinstance(first, Hello):
        return [first]
    return [first, decode_message_v1(read_frames(sock)[0])]


def test_whether_a_workspace_is_hosted_cannot_be_probed(relay: RelayProcess, tmp_path: Path) -> None:
    alice, hosted, _code = keyed_show(relay, tmp_path)
    other = make_file_peer(tmp_path, "Otto", 5, owner_of="Unpublished show")
    unknown = other.open().workspace_id
    olga = env_for(seeded_identity("Olga", 77))
    # The sync handshake: the same steps and the same words for both.
    answers = {}
    for ws_id in (hosted, unknown):
        stranger = Workspace.join(connect(":memory:"), olga, ws_id)
        messages = stranger_handshake(relay, ws_id, stranger)
        assert [type(m).__name__ for m in messages] == ["Hello", "Refuse"], messages
        refusal = messages[-1]
        assert isinstance(refusal, Refuse)
        answers[ws_id] = (refusal.reason, refusal.detail.replace(str(uuid.UUID(bytes=ws_id)), "<id>"))
    assert answers[hosted] == answers[unknown]
    # Joining with a code, publishing someone else's first bundle, owner-only requests: the same answers.
    joins = [request(relay, "join", ws_id, 400, {"code": "ZZZZZ2"}) for ws_id in (hosted, unknown)]
    assert joins[0] == joins[1] and joins[0][0] == 403
    publishes = [request(relay, "publish", ws_id, 401, {"genesis": genesis_wire(peer.open())})
                 for ws_id, peer in ((hosted, alice), (unknown, other))]
    assert publishes[0][0] == publishes[1][0] == 422 and publishes[0][1]["error"] == publishes[1][1]["error"]
    owners_only = [request(relay, "list_keys", ws_id, 402, {}) for ws_id in (hosted, unknown)]
    assert owners_only[0] == owners_only[1] and owners_only[0][0] == 403


def enter_room(relay: RelayProcess, ws: Workspace, rcvbuf: int | None = None) -> tuple[object, dict[str, object]]:
    """A member in the workspace's signalling room over a raw socket: (socket, welcome)."""
    sock = tcp(relay.port, rcvbuf=rcvbuf)
    rest = upgrade(sock, f"/signal/{uuid.UUID(bytes=ws.workspace_id)}")
    nonce = base64.b64decode(json.loads(read_frames(sock, rest)[0])["nonce"])
    proof = signal_proof_bytes_v1(workspace=ws.workspace_id, actor=ws.actor_id, nonce=nonce)
    sock.sendall(frame(json.dumps({"type": "auth", "actor": ws.actor_id.hex(), "signature": base64.b64encode(
        ws.env.signer.sign(proof)).decode()}).encode(), opcode=0x1))
    welcome = json.loads(read_frames(sock)[0])
    assert welcome["type"] == "welcome"
    return sock, welcome


def room_with(relay: RelayProcess, folder: Path, *names: str) -> list[Workspace]:
    alice = make_file_peer(folder, "Alice", 1, owner_of="Hamlet")
    alice.cli("publish", relay=relay)
    members = [alice.open()]
    for i, name in enumerate(names):
        peer = make_file_peer(folder, name, 10 + i, workspace_id=members[0].workspace_id)
        peer.cli("join", "--workspace", str(uuid.UUID(bytes=members[0].workspace_id)), relay=relay)
        members.append(peer.open())
    return members


class Inbox:
    """What a raw member socket has received so far (read only when asked)."""

    def __init__(self, sock: object) -> None:
        self.sock = sock
        self.data = b""

    def has(self, text: str, wait: float = 0.2) -> bool:
        self.sock.settimeout(max(wait, 0.001))  # type: ignore[attr-defined]
        with contextlib.suppress(TimeoutError, BlockingIOError):
            chunk = self.sock.recv(1 << 20)  # type: ignore[attr-defined]
            if not chunk:
                return text == "<closed>"
            self.data += chunk
        return text.encode() in self.data


def test_signalling_is_rate_limited(relay: RelayProcess, tmp_path: Path) -> None:
    alice, bob = room_with(relay, tmp_path, "Bob")
    bob_sock, bob_welcome = enter_room(relay, bob)
    alice_sock, _welcome = enter_room(relay, alice)
    inbox = Inbox(alice_sock)
    message = frame(json.dumps({"type": "candidate", "to": bob_welcome["id"], "candidate": {}}).encode(), opcode=0x1)
    sent = 0
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # a flooder is put out in the end
        while not inbox.has('"rate_limited"', wait=0):
            assert sent < 5_000, "never told about the rate limit"
            alice_sock.sendall(message * 100)  # type: ignore[attr-defined]
            sent += 100
        for _ in range(100):  # going on regardless: put out of the room
            alice_sock.sendall(message * 100)  # type: ignore[attr-defined]
    wait_until(lambda: [e for e in relay.events() if e.get("event") == "signal_member_dropped"], 20, "Alice put out")
    dropped = [e for e in relay.events() if e.get("event") == "signal_member_dropped"]
    assert [e["reason"] for e in dropped] == ["flooding"]
    bob_inbox = Inbox(bob_sock)
    bob_inbox.has("<all that arrived>", wait=1)
    assert bob_inbox.data.count(b'"candidate"') < 1_000, "the flood reached Bob unthrottled"
    assert relay.health()["status"] == "ok"


def test_a_member_that_does_not_read_is_put_out_of_the_room(relay: RelayProcess, tmp_path: Path) -> None:
    alice, bob, carol = room_with(relay, tmp_path, "Bob", "Carol")
    pid = relay.proc.pid  # type: ignore[union-attr]
    before, _ = process_memory_kib(pid)
    _bob_sock, bob_welcome = enter_room(relay, bob, rcvbuf=4096)  # Bob never reads again
    carol_sock, _welcome = enter_room(relay, carol)
    inbox = Inbox(carol_sock)
    offer = frame(json.dumps({"type": "offer", "to": bob_welcome["id"], "sdp": "v=0 " + "p" * 60_000}).encode(),
                  opcode=0x1)
    sent = 0
    while not inbox.has('"peer-left"', wait=0.06):  # until Bob is put out; the wait paces Carol under the rate
        assert sent < 2_000, "Bob was never put out of the room"
        carol_sock.sendall(offer)  # type: ignore[attr-defined]
        sent += 1
    assert b'"rate_limited"' not in inbox.data
    _now, peak = process_memory_kib(pid)
    assert peak - before < 40 * 1024, f"the relay grew by {(peak - before) // 1024} MiB"
    dropped = [e for e in relay.events() if e.get("event") == "signal_member_dropped"]
    assert [e["reason"] for e in dropped] == ["not reading"]
    assert alice  # the room's owner is in it too, untouched


def test_one_cancel_ends_a_live_sync_at_once(relay: RelayProcess, tmp_path: Path) -> None:
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    alice.cli("publish", relay=relay)

    async def scenario() -> float:
        ws = alice.open()
        in_sync = asyncio.Event()
        closed: list[Closed] = []

        def on_event(event: object) -> None:
            if isinstance(event, InSync):
                in_sync.set()
            if isinstance(event, Closed):
                closed.append(event)

        task = asyncio.create_task(RelayClient(relay.url, ws).sync(until_in_sync=False, on_event=on_event))
        async with asyncio.timeout(30):
            await in_sync.wait()
        task.cancel()
        started = time.monotonic()
        try:
            async with asyncio.timeout(20):
                await task
        except asyncio.CancelledError:
            pass
        return time.monotonic() - started

    took = asyncio.run(scenario())
    assert took < 5, f"the cancelled sync took {took:.1f} s to end"  # it took 25 s (the keepalive) before
