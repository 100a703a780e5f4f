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


async def push_and_read(relay: RelayProcess, ws: Workspace, *wires: bytes, per_batch: int = 0) -> list[object]:
    peer = await RawPeer.open(relay.url, ws.workspace_id)
    await peer.handshake(ws)
    per_batch = per_batch or len(wires)
    batches = [wires[i:i + per_batch] for i in range(0, len(wires), per_batch)]
    for seq, batch in enumerate(batches, 1):
        await peer.push(*batch, seq=seq)
    answers: list[object] = []
    while True:
        message = await peer.read(timeout=5)
        assert message is not None, "the relay hung up on a member"
        answers.append(message)
        if isinstance(message, Ack) and message.seq == len(batches):
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

    replayed = [b.wire for b in a.oplog.bundles()][:3]
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


def crafted(m: Workspace, last_op: dict | None = None, kind: str = "edit",
            header_kind: object = None) -> tuple[bytes, bytes]:
    """A genuine bundle of Mallory's (a new record), and the same bundle with its last op replaced
    (or its header's kind), re-signed with her key: (crafted, genuine)."""
    import cbor2

    from openprod.bundle import op_hash
    from openprod.encoding import decode

    with m.transaction(kind=kind) as tx:
        rid = tx.create_record(TABLE, {"name": "Crafted"})
        tx.set_field(rid, "contacts.Contacts.phone", "555")
    genuine = m.last_receipt.wire  # type: ignore[union-attr]
    bundle = decode_bundle(genuine)
    header = decode(bundle.header_bytes)
    ops = [cbor2.loads(raw) for raw in bundle.op_bytes]
    if last_op is not None:
        entity = ops[0]["entity"]
        ops[-1] = {"id": ops[-1]["id"], "hlc": ops[-1]["hlc"],
                   **{k: (entity if v == "$entity" else v) for k, v in last_op.items()}}
    raw = [cbor2.dumps(op) for op in ops]
    header = {**header, "kind": header_kind if header_kind is not None else kind,
              "ops": [op_hash(r) for r in raw]}
    header_bytes = cbor2.dumps(header, canonical=True)
    return encode_wire(header_bytes, m.env.signer.sign(SIGN_CONTEXT + header_bytes), raw), genuine


def test_crafted_bundles_signed_by_a_member_never_end_a_session(
        world: tuple[RelayProcess, FilePeer, FilePeer, Path]) -> None:
    """Issue 10, item 5: each crafted bundle is refused with a reason, the member's session goes on
    (the genuine bundle sent after each is applied, the batch acknowledged), the honest watcher is
    never disconnected, and the relay stays healthy."""
    relay, alice, mallory, replica = world
    m = mallory.open()
    manifest = ('[module]\nname = "deep"\nversion = "1.0.0"\n[table.T.fields.f]\ntype = "string"\n'
                "x = " + "[" * 5_000 + "]" * 5_000 + "\n")
    pairs = [
        crafted(m, {"t": "CreateEdge", "edge": bytes(range(16)), "edge_type": "contacts.knows", "source": "$entity",
                    "target": "$entity", "properties": {1: "a", "b": 2}}),
        crafted(m, {"t": "AttachFacet", "entity": "$entity", "facet": TABLE, "source": {"type": ["user"]}}),
        crafted(m, {"t": "AdoptModule", "module": "deep", "version": "1.0.0", "manifest": manifest}, kind="module"),
        crafted(m, {"t": "LinkTables", "source_table": "contacts.Contacts", "target_table": "contacts.Contacts",
                    "field_mappings": []}),
        crafted(m, header_kind={"edit": 1}),
        crafted(m, header_kind=["edit"]),
    ]
    answers = run(push_and_read(relay, m, *[wire for pair in pairs for wire in pair], per_batch=2))
    nacks = [x for x in answers if isinstance(x, Nack)]  # type: ignore[attr-defined]
    assert len(nacks) == len(pairs), answers
    assert {n.reason for n in nacks} <= {"malformed", "schema"}
    assert all("Traceback" not in n.detail for n in nacks)
    # Every genuine bundle was applied after its crafted twin was refused: the relay holds what Mallory holds.
    assert relay_state(relay, replica) == mallory.hash_and_count()
    assert relay.health()["status"] == "ok"
    assert not [e for e in relay.events() if e.get("event") == "session_closed" and e.get("reason") != "closed"]
    assert not [e for e in relay.events() if "Traceback" in str(e.get("error", ""))]
    honest_edit(alice, relay)


def test_a_member_cannot_widen_the_future_check_on_the_relay(
        world: tuple[RelayProcess, FilePeer, FilePeer, Path]) -> None:
    """Issue 10, item 6: Mallory (a member, not the owner) raises max_future_drift_ms to a day and then
    sends an edit stamped an hour ahead: the relay refuses both, so nobody receives either."""
    from dataclasses import replace

    from helpers import ManualClock
    from openprod import operations as o
    from openprod.bundle import build

    relay, alice, mallory, replica = world
    before = relay_state(relay, replica)
    m = mallory.open()
    op = o.make_op(o.SetWorkspaceSetting, m.ids.new(), m.clock.tick(), key="max_future_drift_ms", value=86_400_000)
    unsigned = build(workspace=m.workspace_id, bundle_id=m.ids.new(), actor=m.actor_id, device=m.device,
                     kind="edit", clock=m.vector_clock, ops=[op])
    widen = unsigned.seal(m.env.signer.sign(unsigned.signing_bytes())).wire()
    m.conn.execute("SELECT 1")  # the widening bundle is not stored on Mallory's side: she built it by hand
    ahead = ManualClock(start=int(time.time() * 1000) + 3_600_000, step=1)
    m2 = mallory.open()
    m2.env = replace(m2.env, now_ms=ahead)
    m2.clock._now_ms = ahead
    m2.create_record(TABLE, {"name": "An hour ahead"})
    answers = run(push_and_read(relay, m2, widen, m2.last_receipt.wire))  # type: ignore[union-attr]
    nacks = [x for x in answers if isinstance(x, Nack)]  # type: ignore[attr-defined]
    assert [n.reason for n in nacks] == ["schema", "future_hlc"], answers
    assert "only the workspace owner" in nacks[0].detail
    assert relay_state(relay, replica) == before
    honest_edit(alice, relay)


def test_a_backdated_bundle_is_refused_by_the_relay(world: tuple[RelayProcess, FilePeer, FilePeer, Path]) -> None:
    """Issue 10, item 4: Mallory signs an edit stamped before her own previous one. The relay once
    applied it without moving its vector clock: members who held her previous edit were never sent
    it, newcomers were. Now it is refused `backdated`, and the relay's state does not change."""
    from openprod import hlc as hlc_mod
    from openprod import operations as o
    from openprod.bundle import build

    relay, alice, mallory, replica = world
    m = mallory.open()
    m.create_record(TABLE, {"name": "Mallory's honest edit"})
    honest = m.last_receipt.wire  # type: ignore[union-attr]
    seen = m.vector_clock
    stamp = hlc_mod.pack(hlc_mod.wall_ms(seen[m.writer]) - 1_000, 0)
    record = bytes.fromhex(m.records.all(TABLE)[0].id.replace("-", ""))
    op = o.make_op(o.SetField, m.ids.new(), stamp, entity=record, field=f"{TABLE}.name", value="backdated")
    unsigned = build(workspace=m.workspace_id, bundle_id=m.ids.new(), actor=m.actor_id, device=m.device,
                     kind="edit", clock=seen, ops=[op])
    backdated = unsigned.seal(m.env.signer.sign(unsigned.signing_bytes())).wire()
    answers = run(push_and_read(relay, m, honest, per_batch=1))
    assert not [x for x in answers if isinstance(x, Nack)], answers
    before = relay_state(relay, replica)
    answers = run(push_and_read(relay, m, backdated))
    nacks = [x for x in answers if isinstance(x, Nack)]
    assert [n.reason for n in nacks] == ["backdated"], answers
    assert "not later than the bundle before it on the same device" in nacks[0].detail
    assert relay_state(relay, replica) == before
    honest_edit(alice, relay)


def test_the_relay_caps_parked_bundles_as_configured(relay_factory, tmp_path: Path) -> None:
    """Issue 10, item 3, through the relay's own option: with `--max-parked-per-author 3`, the 4th
    and 5th bundles of a chain whose first one is held back are refused `too_many_parked`, the
    session goes on, and once the first one arrives the three parked ones apply."""
    from relayproc import settings_env

    relay = relay_factory(env=settings_env(max_parked_per_author=3))
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    ws_id = ws.workspace_id
    ws.conn.close()
    alice.cli("publish", relay=relay)
    alice.cli("sync", relay=relay)
    mallory = make_file_peer(tmp_path, "Mallory", 3, workspace_id=ws_id)
    mallory.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
    mallory.cli("sync", relay=relay)
    m = mallory.open()
    wires = []
    for i in range(6):
        m.create_record(TABLE, {"name": f"Chain {i}"})
        wires.append(m.last_receipt.wire)  # type: ignore[union-attr]
    answers = run(push_and_read(relay, m, *wires[1:]))
    nacks = [x for x in answers if isinstance(x, Nack)]
    assert [n.reason for n in nacks] == ["too_many_parked"] * 2, answers
    assert "3 bundles by this author already wait" in nacks[0].detail
    run(push_and_read(relay, m, wires[0]))
    m.conn.close()
    mallory.cli("sync", relay=relay)  # the refused two are sent again, as any catch-up does
    assert relay_state(relay, relay.workspace_file(alice.open()))[1] == mallory.hash_and_count()[1]
    alice.cli("sync", relay=relay)
    assert alice.hash_and_count() == mallory.hash_and_count()
