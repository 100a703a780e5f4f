"""On CPython, `ingest_many` checks the next bundles' signatures on a worker thread while earlier
ones apply (`NaclVerifier.verify_each`, `receive.verify_and_apply`). These pin what must not
change: the same verdicts as `verify`, in order; no bundle stored before its own verdict; a bundle
that does not verify refused alone; a failing verifier leaving nothing of the batch behind.
CPython only (PyNaCl): Pyodide has no threads and its verifiers check one by one."""

from __future__ import annotations

import dataclasses
import os
import random
import select
import threading
from collections.abc import Iterator, Sequence

import pytest

pytest.importorskip("nacl")

from helpers import Peer, make_env, seeded_identity
from openprod import Workspace, connect
from openprod.bundle import decode_bundle, encode_wire
from openprod.signer_nacl import NaclSigner, NaclVerifier

TABLE = "contacts.Contacts"


def test_verify_each_gives_the_verdicts_of_verify_in_order() -> None:
    signers = [NaclSigner(seeded_identity(name, seed)) for seed, name in enumerate(("A", "B", "C"))]
    good = [(s.actor_id, b"message %d" % i, s.sign(b"message %d" % i)) for i, s in enumerate(signers)]
    bad_signature = (good[0][0], good[0][1], bytes(64))
    other_key = (good[1][0], good[0][1], good[0][2])
    short_key = (good[0][0][:31], good[0][1], good[0][2])
    requests: list[list[tuple[bytes, bytes, bytes]]] = []
    for i in range(27):  # across several of the worker's chunks
        requests.append([good[i % 3]] if i % 4 else [good[i % 3], (bad_signature, other_key, short_key)[i % 3]])
    requests.append([])  # nothing to check: all of nothing holds, as with `verify`
    verifier = NaclVerifier()
    expected = [all(verifier.verify(*s) for s in request) for request in requests]
    assert True in expected and False in expected
    assert list(verifier.verify_each(requests)) == expected


class Gated(NaclVerifier):
    """Checking the message `gate` waits until the test opens it: a verifying thread behind."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = threading.Event()
        self.reached = threading.Event()

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if message == b"gate":
            self.reached.set()
            assert self.opened.wait(60)
        return super().verify(public_key, message, signature)


def test_verify_each_says_whether_the_next_verdict_is_in() -> None:
    """`ready()` is what the receiver asks before it would wait (it writes the run it holds
    instead): false while the next verdict's chunk is still being checked, true once it is, and
    true at the end."""
    signer = NaclSigner(seeded_identity("A", 1))
    good = [(signer.actor_id, b"m", signer.sign(b"m"))]
    gate = [(signer.actor_id, b"gate", signer.sign(b"gate"))]
    requests = [good] * 8 + [gate] + [good] * 3  # the gate is in the second chunk of 8
    verifier = Gated()
    verdicts = verifier.verify_each(requests)
    try:
        assert verifier.reached.wait(60)  # the first chunk is done: the thread is in the second
        assert verdicts.ready()
        assert [next(verdicts) for _ in range(8)] == [True] * 8
        assert not verdicts.ready()  # the next verdict waits behind the gate
    finally:
        verifier.opened.set()
    assert next(verdicts) is True and verdicts.ready()
    assert list(verdicts) == [True] * 3
    assert verdicts.ready()  # the end: nothing to wait for


class Spy(NaclVerifier):
    """Records, as each verdict is handed out, how many bundles the receiving database holds."""

    def __init__(self) -> None:
        super().__init__()
        self.ws: Workspace | None = None
        self.seen: list[tuple[bool, int]] = []
        self.fail_at: int | None = None

    def verify_each(self, requests: Sequence[Sequence[tuple[bytes, bytes, bytes]]]) -> Iterator[bool]:
        verdicts = super().verify_each(requests)

        def watched() -> Iterator[bool]:
            for index, verdict in enumerate(verdicts):
                if index == self.fail_at:
                    raise RuntimeError("the verifier broke")
                assert self.ws is not None
                stored = self.ws.conn.execute("SELECT count(*) FROM bundles").fetchone()[0]
                self.seen.append((verdict, stored))
                yield verdict
        return watched()


def _receiver(peer_factory, tmp_path, origin: Peer) -> tuple[Workspace, Spy]:  # type: ignore[no-untyped-def]
    spy = Spy()
    env = dataclasses.replace(make_env(seeded_identity("Dev", 77), origin.env.now_ms, random.Random(77)),
                              verifier=spy)
    ws = Workspace.join(connect(str(tmp_path / "dev.db")), env, origin.ws.workspace_id)
    spy.ws = ws
    return ws, spy


def _bad_signature(wire: bytes) -> bytes:
    bundle = decode_bundle(wire)
    signature = bytearray(bundle.signature)
    signature[5] ^= 1
    return encode_wire(bundle.header_bytes, bytes(signature), bundle.op_bytes)


def _history(peer_factory) -> tuple[Peer, list[bytes]]:  # type: ignore[no-untyped-def]
    alice = peer_factory("Alice")
    rid = alice.ws.create_record(TABLE, {"name": "Jane"})
    for i in range(20):
        alice.ws.set_field(rid, f"{TABLE}.phone", f"555-{i:04}")
    return alice, [b.wire for b in alice.ws.oplog.bundles()]


def test_each_bundle_is_stored_only_after_its_own_verdict_and_a_bad_one_is_refused_alone(peer_factory,
                                                                                          tmp_path) -> None:
    alice, wires = _history(peer_factory)
    ws, spy = _receiver(peer_factory, tmp_path, alice)
    stored_before = ws.conn.execute("SELECT count(*) FROM bundles").fetchone()[0]
    bad = len(wires) - 5
    genuine, wires[bad] = wires[bad], _bad_signature(wires[bad])
    results = ws.ingest_many(wires)
    assert [r.status for r in results[:bad]] == ["applied"] * bad
    assert results[bad].status == "rejected" and results[bad].reason == "bad_signature"
    assert {r.status for r in results[bad + 1:]} == {"pending"}  # later in its chain: they wait for it
    assert [verdict for verdict, _stored in spy.seen] == [i != bad for i in range(len(wires))]
    # when bundle k's verdict was handed out, at most the k bundles before it that verified were
    # stored (a run of plain bundles is stored together once it ends: receive.py `_PlainRun`)
    stored = [stored - stored_before for _verdict, stored in spy.seen]
    assert all(count <= min(i, bad) for i, count in enumerate(stored)), stored
    assert ws.oplog.quarantined()[-1].reason == "bad_signature"
    # the genuine bundle, sent again, applies and releases the ones that waited for it
    assert ws.ingest(genuine).status == "applied"
    assert ws.oplog.size().pending == 0
    assert ws.state_hash() == alice.ws.state_hash()


def test_a_verifier_failing_mid_batch_leaves_nothing_of_the_batch(peer_factory, tmp_path) -> None:
    alice, wires = _history(peer_factory)
    ws, spy = _receiver(peer_factory, tmp_path, alice)
    before = (ws.state_hash(), ws.oplog.size())
    spy.fail_at = 7
    with pytest.raises(RuntimeError, match="the verifier broke"):
        ws.ingest_many(wires)
    assert (ws.state_hash(), ws.oplog.size()) == before
    spy.fail_at = None
    assert {r.status for r in ws.ingest_many(wires)} == {"applied"}
    assert ws.state_hash() == alice.ws.state_hash()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform cannot fork")
def test_a_forked_child_verifies_on_its_own_thread() -> None:
    """A child inherits the parent's pool object but not its thread: it must start its own
    rather than wait forever for a thread that is not there."""
    signer = NaclSigner(seeded_identity("A", 1))
    good = [(signer.actor_id, b"m", signer.sign(b"m"))]
    verifier = NaclVerifier()
    assert list(verifier.verify_each([good, good])) == [True, True]  # the parent's thread exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            os.write(write, b"ok" if list(verifier.verify_each([good, good])) == [True, True] else b"no")
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    answer = os.read(read, 2) if ready else b"timed out"
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"ok"


def test_a_sync_catch_up_checks_signatures_ahead_too(peer_factory, tmp_path) -> None:
    """The sync driver's `pump` hands a batch to `apply_received` with no verdicts, so the relay and the
    CPython client verify ahead as `ingest_many` does."""
    from openprod.sync import BundleRefused, Role, SyncSession, WorkspaceReplica, pump

    alice, wires = _history(peer_factory)
    ws, spy = _receiver(peer_factory, tmp_path, alice)
    now = alice.env.now_ms
    sa = SyncSession(WorkspaceReplica(alice.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=now())
    sb = SyncSession(WorkspaceReplica(ws), role=Role.INITIATOR, nonce=bytes(range(16)), now=now())
    for _ in range(200):
        moved = False
        for src, dst, host in ((sa, sb, alice.ws), (sb, sa, ws)):
            pump(src, host, now)
            for frame in src.data_to_send():
                dst.receive_frame(frame, now())
                moved = True
        if not moved:
            break
    assert len(spy.seen) >= len(wires) - 1 and all(verdict for verdict, _stored in spy.seen)  # through verify_each
    assert ws.state_hash() == alice.ws.state_hash()
    assert not [e for e in iter(sb.next_event, None) if isinstance(e, BundleRefused)]
