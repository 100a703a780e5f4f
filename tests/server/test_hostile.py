"""Hostile peers against a real relay process: each bad input is refused with its reason, the
connection is handled cleanly, the replica's state does not change, and an honest peer that is
connected the whole time keeps receiving live edits."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rawpeer import RawPeer
from relayproc import FilePeer, RelayProcess, env_for, make_file_peer, relay_state

from helpers import seeded_identity
from openprod import Workspace, connect
from openprod.bundle import SIGN_CONTEXT, decode_bundle, encode_wire
from openprod.sync import MAX_FRAME, encode_message_v1
from openprod.sync.messages import Ack, Nack, Refuse

TABLE = "contacts.Contacts"


@pytest.fixture
def world(relay: RelayProcess, tmp_path: Path) -> Iterator[tuple[RelayProcess, FilePeer, FilePeer, Path]]:
    """Alice owns a published workspace; Mallory joined it (open mode); Bob watches live."""
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    for i in range(3):
        ws.create_record(TABLE, {"name": f"Crew {i}"})
    ws_id = ws.workspace_id
    ws.conn.close()
    alice.cli("publish", relay=relay)
    alice.cli("sync", relay=relay)
    mallory = make_file_peer(tmp_path, "Mallory", 3, workspace_id=ws_id)
    mallory.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
    mallory.cli("sync", relay=relay)
    bob = make_file_peer(tmp_path, "Bob", 2, workspace_id=ws_id)
    bob.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
    watcher = subprocess.Popen([sys.executable, "-m", "openprod_server.cli", "sync", "--watch", "--db", str(bob.db),
                                "--identity", str(bob.identity_path), "--relay", relay.url],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield relay, alice, mallory, relay.workspace_file(alice.open())
    # The watcher gets Alice's last edit live; a loaded machine may take a while, never forever.
    deadline = time.monotonic() + 60
    while bob.hash_and_count() != alice.hash_and_count() and time.monotonic() < deadline:
        if watcher.poll() is not None:
            break
        time.sleep(0.2)
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    closed = [e for e in events if e["event"] == "Closed"]
    assert not closed, f"the honest watcher was disconnected: {closed}"
    # ...and it received Alice's edit made after all the attacks.
    assert bob.hash_and_count() == alice.hash_and_count()


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def mallory_ws(peer: FilePeer) -> Workspace:
    return peer.open()


async def hostile_frames(relay: RelayProcess, ws_id: bytes) -> dict[str, str]:
    reasons = {}
    cases = {
        "garbage": b"\xff\xfe not cbor at all",
        "truncated": encode_message_v1(Refuse(reason="closed", detail="bye"))[:-4],
        "oversize": b"\xa1" + b"\x00" * (MAX_FRAME + 10),
        "text": "hello?",
    }
    for name, frame in cases.items():
        peer = await RawPeer.open(relay.url, ws_id)
        await peer.send(frame)
        reasons[name] = (await peer.refusal()).reason
    return reasons


def test_bad_frames_are_refused_and_nothing_changes(world: tuple[RelayProcess, FilePeer, FilePeer, Path]) -> None:
    relay, alice, _mallory, replica = world
    before = relay_state(relay, replica)
    ws = alice.open()
    reasons = run(hostile_frames(relay, ws.workspace_id))
    assert reasons == {"garbage": "malformed", "truncated": "malformed", "oversize": "oversize", "text": "malformed"}
    assert relay_state(relay, replica) == before
    assert relay.health()["status"] == "ok"
    honest_edit(alice, relay)


async def handshake_refusal(relay: RelayProcess, ws: Workspace, path_ws: bytes | str,
                            hello_ws: bytes | None = None) -> Refuse:
    peer = await RawPeer.open(relay.url, path_ws)
    await peer.handshake(ws, workspace=hello_ws)
    return await peer.refusal()


def test_wrong_workspace_and_strangers_are_refused(world: tuple[RelayProcess, FilePeer, FilePeer, Path],
                                                   tmp_path: Path) -> None:
    relay, alice, mallory, replica = world
    before = relay_state(relay, replica)
    ws_id = alice.open().workspace_id
    other = make_file_peer(tmp_path / "..", "Eve", 66, owner_of="Another show").open()
    # A hello naming another workspace than the room it connected to.
    refusal = run(handshake_refusal(relay, mallory.open(), ws_id, hello_ws=other.workspace_id))
    assert refusal.reason == "wrong_workspace"  # type: ignore[attr-defined]
    # A valid key that never joined: told nothing about the workspace.
    stranger = Workspace.join(connect(str(tmp_path / "olga.db")), env_for(seeded_identity("Olga", 77)), ws_id)
    peer_refusal = run(handshake_refusal(relay, stranger, ws_id))
    assert peer_refusal.reason == "not_joined"  # type: ignore[attr-defined]
    # A workspace this relay does not host: the same answer, so ids cannot be probed.
    refusal = run(handshake_refusal(relay, other, other.workspace_id))
    assert refusal.reason == "not_joined"  # type: ignore[attr-defined]
    assert relay_state(relay, replica) == before
    logged = [e for e in relay.events() if e.get("event") == "sync_refused"]
    assert {e["reason"] for e in logged} == {"not_joined"}
    honest_edit(alice, relay)


async def push_and_read(relay: RelayProcess, ws: Workspace, *wires: bytes) -> list[object]:
    peer = await RawPeer.open(relay.url, ws.workspace_id)
    await peer.handshake(ws)
    await peer.push(*wires)
    answers: list[object] = []
    while True:
        message = await peer.read(timeout=5)
        assert message is not None, "the relay hung up on a member"
        answers.append(message)
        if isinstance(message, Ack) and message.seq == 1:
            break
    await peer.close()
    return answers


def test_bad_bundles_from_a_member_are_refused_one_by_one(world: tuple[RelayProcess, FilePeer, FilePeer, Path],
                                                          tmp_path: Path) -> None:
    relay, alice, mallory, replica = world
    before = relay_state(relay, replica)
    m = mallory.open()
    a = alice.open()
    # Forged author: a header naming Alice, signed with Mallory's key.
    m.create_record(TABLE, {"name": "Not really Alice"})
    genuine = decode_bundle(m.last_receipt.wire)  # type: ignore[union-attr]
    header = genuine.header_bytes.replace(m.actor_id, a.actor_id)
    forged = encode_wire(header, m.env.signer.sign(SIGN_CONTEXT + header), genuine.op_bytes)
    # Replayed: bundles the relay already holds, sent again.

    replayed = [b.wire for b in a.bundles()][:3]
    # From the future: made on a clock an hour ahead.
    from dataclasses import replace

    from helpers import ManualClock

    ahead = ManualClock(start=int(time.time() * 1000) + 3_600_000, step=1)
    m.env = replace(m.env, now_ms=ahead)
    m.clock._now_ms = ahead
    m.create_record(TABLE, {"name": "Tomorrow's news"})
    future = m.last_receipt.wire  # type: ignore[union-attr]
    answers = run(push_and_read(relay, m, forged, *replayed, future))
    nacks = [x for x in answers if isinstance(x, Nack)]  # type: ignore[attr-defined]
    assert [n.reason for n in nacks] == ["bad_signature", "future_hlc"]  # replays are not errors: no-ops
    assert relay_state(relay, replica) == before
    honest_edit(alice, relay)


def honest_edit(alice: FilePeer, relay: RelayProcess) -> None:
    ws = alice.open()
    ws.create_record(TABLE, {"name": "After the attack"})
    ws.conn.close()
    alice.cli("sync", relay=relay)  # the watcher gets it live; the fixture waits for it and checks
