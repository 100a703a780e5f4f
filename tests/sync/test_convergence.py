"""Property: after ANY schedule of edits, partitions, drops, duplicates and reordering, once the
network is whole again every peer holds the same oplog and derives the same state hash.

Each example builds 3 to 7 peers on real SQLite files (copies of one starting workspace, so
everyone can edit at once), joined either pairwise (every pair linked) or by gossip (a sparse
connected graph, so bundles must hop through other peers). Hypothesis then interleaves edits,
cuts and restores of links, and changes of link faults, with simulated time passing. At the
end every link is restored and made reliable, and the network must settle with zero
divergence: same bundle set, same state hash, nothing pending, nothing quarantined.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simnet import Faults, SimNet, SimPeer, bundle_ids

from helpers import ManualClock, Peer, make_env, make_peer, seeded_identity
from openprod import Workspace, connect
from openprod import hlc as hlc_mod
from openprod import operations as o
from openprod.bundle import build

EXAMPLES = int(os.environ.get("OPENPROD_SIM_EXAMPLES", "500"))
TABLE = "contacts.Contacts"

step = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 6), st.sampled_from(["create", "set", "delete"]), st.integers(0, 9)),
    st.tuples(st.just("cut"), st.integers(0, 30)),
    st.tuples(st.just("restore"), st.integers(0, 30)),
    st.tuples(st.just("faults"), st.integers(0, 30), st.sampled_from([0.0, 0.2, 0.5]),
              st.sampled_from([0.0, 0.2, 0.5]), st.sampled_from([1, 20, 200])),
    st.tuples(st.just("wait"), st.integers(0, 400)),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One starting workspace (created once), copied for every peer of every example."""
    path = tmp_path_factory.mktemp("template") / "start.db"
    peer = make_peer("Owner", str(path), ManualClock(), seed=999, modules=("contacts",))
    peer.ws.create_record(TABLE, {"name": "Stage door"})
    peer.ws.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    peer.ws.conn.close()
    return path


def open_copy(template: Path, path: Path, name: str, seed: int, clock: ManualClock) -> Peer:
    shutil.copyfile(template, path)
    identity = seeded_identity(name, seed)
    env = make_env(identity, clock, random.Random(seed))
    return Peer(name, Workspace.open(connect(str(path)), env), str(path), identity, env)


def topology(kind: str, n: int, rng: random.Random) -> list[tuple[int, int]]:
    if kind == "pairwise":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    order = list(range(n))
    rng.shuffle(order)
    edges = {tuple(sorted((order[i], order[rng.randrange(i)]))) for i in range(1, n)}  # a random tree
    edges.add(tuple(sorted(rng.sample(range(n), 2))))  # plus one extra edge
    return sorted(edges)  # type: ignore[arg-type]


def apply_edit(peer: SimPeer, kind: str, value: int) -> None:
    records = peer.ws.records.all(TABLE)
    if kind == "create" or not records:
        peer.ws.create_record(TABLE, {"name": f"{peer.name} #{value}"})
    elif kind == "set":
        peer.ws.set_field(records[value % len(records)].id, f"{TABLE}.role", f"role {value} by {peer.name}")
    else:
        peer.ws.delete_record(records[value % len(records)].id)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(3, 7), kind=st.sampled_from(["pairwise", "gossip"]), seed=st.integers(0, 2**32 - 1),
       steps=st.lists(step, min_size=1, max_size=20))
def test_any_schedule_converges(template: Path, tmp_path_factory: pytest.TempPathFactory, n: int, kind: str,
                                seed: int, steps: list[tuple]) -> None:
    folder = tmp_path_factory.mktemp("sim")
    clock = ManualClock(step=0)
    net = SimNet(clock, seed)
    peers = [net.add_existing(open_copy(template, folder / f"p{i}.db", f"P{i}", i + 1, clock)) for i in range(n)]
    links = [net.link(peers[i], peers[j]) for i, j in topology(kind, n, net.rng)]
    edits = 0
    for action in steps:
        if action[0] == "edit":
            apply_edit(peers[action[1] % n], action[2], action[3])
            edits += 1
        elif action[0] == "cut":
            net.cut(links[action[1] % len(links)])
        elif action[0] == "restore":
            net.restore(links[action[1] % len(links)])
        elif action[0] == "faults":
            links[action[1] % len(links)].faults = Faults(drop=action[2], duplicate=action[3], max_delay=action[4])
        else:
            net.run(action[1])
    net.heal_all()
    net.settle()
    try:
        expected = bundle_ids(peers[0])
        assert len(expected) == 3 + edits  # the two starting bundles, the stage door, every edit
        for peer in peers:
            assert bundle_ids(peer) == expected, f"{peer.name} holds a different oplog"
            assert peer.ws.state_hash() == peers[0].ws.state_hash(), f"{peer.name} diverged"
            assert peer.ws.oplog.size().pending == 0
            assert peer.ws.oplog.quarantined() == []
    finally:
        for peer in peers:
            peer.ws.conn.close()
        shutil.rmtree(folder, ignore_errors=True)


rogue_step = st.one_of(
    step,
    st.tuples(st.just("rogue"), st.integers(0, 6), st.integers(0, 9)),
    st.tuples(st.just("backdate"), st.integers(0, 6), st.integers(0, 5_000)),
)


def backdated(rogue: Peer, back_ms: int, value: int) -> bytes:
    """A validly signed bundle by `rogue` after its newest one, stamped `back_ms` before what its
    own clock says it has seen (its own last bundle, or the newest one it holds)."""
    ws = rogue.ws
    seen = ws.vector_clock
    latest = seen.get(ws.writer, max(seen.values()))
    stamp = hlc_mod.pack(max(0, hlc_mod.wall_ms(latest) - back_ms), 0)
    record = bytes.fromhex(ws.records.all(TABLE)[0].id.replace("-", ""))
    op = o.make_op(o.SetField, ws.ids.new(), stamp, entity=record, field=f"{TABLE}.role", value=f"backdated {value}")
    unsigned = build(workspace=ws.workspace_id, bundle_id=ws.ids.new(), actor=ws.actor_id, device=ws.device,
                     kind="edit", clock=seen, ops=[op])
    return unsigned.seal(ws.env.signer.sign(unsigned.signing_bytes())).wire()


@settings(max_examples=max(20, EXAMPLES // 5), deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(3, 6), kind=st.sampled_from(["pairwise", "gossip"]), seed=st.integers(0, 2**32 - 1),
       steps=st.lists(rogue_step, min_size=1, max_size=20))
def test_backdated_bundles_never_split_peers(template: Path, tmp_path_factory: pytest.TempPathFactory, n: int,
                                             kind: str, seed: int, steps: list[tuple]) -> None:
    """A member who signs bundles stamped before what they follow (their own previous bundle, or
    anything they had seen) hands them to random peers amid any schedule. Every receiver refuses
    them (`backdated`), so no peer ever holds one; everyone converges; and no session ever answers
    an in-sync check with a state hash older than its state (the relay once cached it by vector
    clock, which a backdated bundle does not move)."""
    folder = tmp_path_factory.mktemp("sim")
    clock = ManualClock(step=0)
    net = SimNet(clock, seed)
    peers = [net.add_existing(open_copy(template, folder / f"p{i}.db", f"P{i}", i + 1, clock)) for i in range(n)]
    rogue = open_copy(template, folder / "rogue.db", "Rogue", 99, clock)
    links = [net.link(peers[i], peers[j]) for i, j in topology(kind, n, net.rng)]
    edits = 0
    refused: dict[str | None, str] = {}
    for action in steps:
        if action[0] == "rogue":
            rogue.ws.set_field(rogue.ws.records.all(TABLE)[0].id, f"{TABLE}.role", f"rogue {action[2]}")
            peers[action[1] % n].ws.ingest(rogue.ws.last_receipt.wire)
            edits += 1
        elif action[0] == "backdate":
            clock.now += 1
            result = peers[action[1] % n].ws.ingest(backdated(rogue, action[2], len(refused)))
            refused[result.bundle_id] = f"{result.status} {result.reason}"
        elif action[0] == "edit":
            apply_edit(peers[action[1] % n], action[2], action[3])
            edits += 1
        elif action[0] == "cut":
            net.cut(links[action[1] % len(links)])
        elif action[0] == "restore":
            net.restore(links[action[1] % len(links)])
        elif action[0] == "faults":
            links[action[1] % len(links)].faults = Faults(drop=action[2], duplicate=action[3], max_delay=action[4])
        else:
            net.run(action[1])
    net.heal_all()
    net.settle()
    try:
        expected = bundle_ids(peers[0])
        assert len(expected) == 3 + edits
        for peer in peers:
            assert bundle_ids(peer) == expected, f"{peer.name} holds a different oplog"
            assert peer.ws.state_hash() == peers[0].ws.state_hash(), f"{peer.name} diverged"
            assert peer.ws.oplog.size().pending == 0
            assert {q.reason for q in peer.ws.oplog.quarantined()} <= {"backdated"}
        for peer in peers:
            assert peer.replica.stale == [], f"{peer.name} answered a check from a stale state hash"
        assert not expected & set(refused), "a backdated bundle was applied"
        assert set(refused.values()) <= {"rejected backdated"}
    finally:
        for peer in peers:
            peer.ws.conn.close()
        rogue.ws.conn.close()
        shutil.rmtree(folder, ignore_errors=True)
