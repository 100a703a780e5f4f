"""The end of a catch-up (`check_when_caught_up`, on in CPython clients): once the last batch is
ingested, the state-hash check runs at once instead of `quiet_ms` later, so a joining device hears
"in sync" as soon as it is. Order and refusals are as before: a bad bundle in the stream is refused,
the rest is applied, and no "in sync" is claimed while the two differ. With the state hash read a
page per turn by the driver (`hash_in_steps`, the browser worker's setting with this one since session
12), the check waits for those pages and then leaves at once. Off (the default: the relay's) nothing
changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from simnet import collect

from helpers import ManualClock, Peer, make_peer
from openprod.sync import (
    BundleRefused,
    CaughtUp,
    InSync,
    Progress,
    Role,
    SessionConfig,
    State,
    SyncSession,
    WorkspaceReplica,
    decode_message_v1,
    pump,
)
from openprod.sync.messages import Batch, Check

TABLE = "contacts.Contacts"
# A quiet delay no test waits for: anything that happens here happens without the timer.
SLOW_QUIET = SessionConfig(quiet_ms=600_000, recheck_ms=600_000)
EAGER = replace(SLOW_QUIET, check_when_caught_up=True)


class Spliced:
    """A delta with one garbage wire spliced in at `at` (a relay whose store hands out a bad bundle)."""

    def __init__(self, inner: object, at: int, garbage: bytes) -> None:
        self.inner = inner
        self.at = at
        self.garbage = garbage
        self.total = inner.total + 1  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[bytes]:
        for i, wire in enumerate(self.inner):  # type: ignore[attr-defined]
            if i == self.at:
                yield self.garbage
            yield wire


class SplicingReplica(WorkspaceReplica):
    def __init__(self, workspace: object, at: int, garbage: bytes) -> None:
        super().__init__(workspace)
        self.at = at
        self.garbage = garbage

    def delta(self, peer_clock: dict[bytes, bytes]) -> Spliced:  # type: ignore[override]
        return Spliced(super().delta(peer_clock), self.at, self.garbage)


def pair(tmp_path: Path, clock: ManualClock, records: int) -> tuple[Peer, Peer]:
    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    for i in range(records):
        alice.ws.create_record(TABLE, {"name": f"Crew {i}", "role": "x" * 300})
    return alice, bob


def sessions(relay: object, bob: Peer, clock: ManualClock, config: SessionConfig,
             relay_config: SessionConfig = SLOW_QUIET) -> tuple[SyncSession, SyncSession]:
    """The relay's side (`relay`, a replica) and Bob's (`config`)."""
    sa = SyncSession(relay, role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now, config=relay_config)  # type: ignore[arg-type]
    sb = SyncSession(WorkspaceReplica(bob.ws), role=Role.INITIATOR, nonce=bytes(range(16)), now=clock.now,
                     config=config)
    return sa, sb


def run_without_timers(sa: SyncSession, sb: SyncSession, alice: Peer, bob: Peer,
                       to_bob: list[object], clock: ManualClock) -> None:
    """Move frames both ways until nothing moves, firing timers that are due (as the runner does);
    the clock stands still."""
    for _ in range(500):
        moved = False
        for src, dst, ws_src in ((sa, sb, alice.ws), (sb, sa, bob.ws)):
            due = src.get_timer()
            if due is not None and due <= clock.now:
                src.handle_timer(clock.now)
            pump(src, ws_src, lambda: clock.now)
            for frame in src.data_to_send():
                if dst is sb:
                    to_bob.append(decode_message_v1(frame))
                dst.receive_frame(frame, clock.now)
                moved = True
        if not moved:
            return
    raise AssertionError("the two sessions never went quiet")


def test_in_sync_right_after_the_catch_up_without_waiting_for_quiet(tmp_path: Path, clock: ManualClock) -> None:
    alice, bob = pair(tmp_path, clock, 60)
    sa, sb = sessions(WorkspaceReplica(alice.ws), bob, clock, EAGER)
    to_bob: list[object] = []
    run_without_timers(sa, sb, alice, bob, to_bob, clock)
    events = collect(sb)
    progress = [e for e in events if isinstance(e, Progress)]
    assert len(progress) > 3 and progress[-1].remaining == 0 and progress[-1].received == 62
    assert [p.received for p in progress] == sorted(p.received for p in progress)
    kinds = [type(e) for e in events]
    assert kinds.index(CaughtUp) < kinds.index(InSync), "in sync is reported after the catch-up, not before"
    assert next(e for e in events if isinstance(e, InSync)).state_hash == alice.ws.state_hash() == bob.ws.state_hash()
    assert any(isinstance(e, InSync) for e in collect(sa))
    # The check came after every batch, and the batches in order.
    seqs = [m.seq for m in to_bob if isinstance(m, Batch)]
    assert seqs == sorted(seqs) and len(seqs) > 3
    last_batch = max(i for i, m in enumerate(to_bob) if isinstance(m, Batch))
    assert any(isinstance(m, Check) for m in to_bob[last_batch:])
    for session in (sa, sb):  # nothing left to do until the keepalive
        assert session.get_timer() == clock.now + session.config.ping_interval_ms


def test_a_bad_bundle_mid_catch_up_is_refused_and_the_rest_applied(tmp_path: Path, clock: ManualClock) -> None:
    alice, bob = pair(tmp_path, clock, 60)
    sa, sb = sessions(SplicingReplica(alice.ws, 30, b"\xa1not a bundle"), bob, clock, EAGER)
    run_without_timers(sa, sb, alice, bob, [], clock)
    events = collect(sb)
    refused = [e for e in events if isinstance(e, BundleRefused)]
    assert len(refused) == 1 and refused[0].reason == "malformed"
    assert sb.state is State.OPEN and sa.state is State.OPEN
    assert bob.ws.vector_clock == alice.ws.vector_clock  # every real bundle arrived
    assert next(e for e in events if isinstance(e, CaughtUp)).received == 63  # 62 and the refused one
    assert bob.ws.state_hash() == alice.ws.state_hash()
    assert [e.state_hash for e in events if isinstance(e, InSync)] == [alice.ws.state_hash()]


def test_a_catch_up_cut_short_claims_nothing(tmp_path: Path, clock: ManualClock) -> None:
    """The relay's last batch never arrives: no check is rushed, and the receiver is not told it is in sync."""
    alice, bob = pair(tmp_path, clock, 60)
    sa, sb = sessions(WorkspaceReplica(alice.ws), bob, clock, EAGER)
    for _ in range(500):
        moved = False
        for src, dst, ws_src in ((sa, sb, alice.ws), (sb, sa, bob.ws)):
            pump(src, ws_src, lambda: clock.now)
            for frame in src.data_to_send():
                message = decode_message_v1(frame)
                if isinstance(message, Batch) and message.remaining == 0:
                    continue  # lost
                dst.receive_frame(frame, clock.now)
                moved = True
        if not moved:
            break
    events = collect(sb)
    assert not any(isinstance(e, (CaughtUp, InSync)) for e in events)
    assert not any(isinstance(e, InSync) for e in collect(sa))
    assert bob.ws.vector_clock != alice.ws.vector_clock


def test_off_by_default_the_check_waits_for_quiet(tmp_path: Path, clock: ManualClock) -> None:
    """The default: nothing asks for the state hash until the quiet delay has passed."""
    alice, bob = pair(tmp_path, clock, 20)
    sa, sb = sessions(WorkspaceReplica(alice.ws), bob, clock, SLOW_QUIET)
    to_bob: list[object] = []
    run_without_timers(sa, sb, alice, bob, to_bob, clock)
    assert bob.ws.vector_clock == alice.ws.vector_clock
    events = collect(sb)
    assert any(isinstance(e, CaughtUp) for e in events) and not any(isinstance(e, InSync) for e in events)
    assert not any(isinstance(m, Check) for m in to_bob)
    clock.advance(SLOW_QUIET.quiet_ms)  # once quiet for the delay, the check goes and both are in sync
    for _ in range(3):
        for session in (sa, sb):
            session.handle_timer(clock.now)
        run_without_timers(sa, sb, alice, bob, to_bob, clock)
    assert any(isinstance(e, InSync) for e in collect(sb))


def test_with_a_paged_hash_the_check_waits_for_the_pages_then_goes_at_once(tmp_path: Path, clock: ManualClock) -> None:
    """The browser worker's setting (both flags): no check before the driver has read the hash page by
    page (none is read here until the catch-up ended), then the check is due at once, not `quiet_ms`
    later, and both sides report in sync with the clock standing still."""
    alice, bob = pair(tmp_path, clock, 20)
    sa, sb = sessions(WorkspaceReplica(alice.ws), bob, clock, replace(EAGER, hash_in_steps=True))
    to_bob: list[object] = []
    run_without_timers(sa, sb, alice, bob, to_bob, clock)
    assert bob.ws.vector_clock == alice.ws.vector_clock
    events = collect(sb)
    assert any(isinstance(e, CaughtUp) for e in events) and not any(isinstance(e, InSync) for e in events)
    assert sb.get_timer() == clock.now + sb.config.ping_interval_ms  # nothing due: it waits for the pages
    replica = sb.replica
    assert isinstance(replica, WorkspaceReplica)
    assert sum(1 for _ in replica.state_hash_steps(10)) > 1  # the driver's turns, a page each
    assert sb.get_timer() == clock.now  # the hash is cached: the caught-up check is due now
    run_without_timers(sa, sb, alice, bob, to_bob, clock)
    assert any(isinstance(e, InSync) for e in collect(sb))
    assert any(isinstance(e, InSync) for e in collect(sa))


def test_only_the_first_catch_up_checks_at_once(tmp_path: Path, clock: ManualClock) -> None:
    """A later catch-up (here: the sender's live queue overflowed) comes mid-traffic: no rushed check,
    which would cost the relay a state hash per peer each time."""
    alice, bob = pair(tmp_path, clock, 5)
    sa, sb = sessions(WorkspaceReplica(alice.ws), bob, clock, EAGER, replace(SLOW_QUIET, max_live_bytes=1_000))
    alice.ws.listeners.append(sa.bundle_stored)
    run_without_timers(sa, sb, alice, bob, [], clock)
    assert any(isinstance(e, InSync) for e in collect(sb))
    alice.ws.create_record(TABLE, {"name": "Big", "role": "y" * 3_000})  # over the live queue's 1,000 bytes
    from_bob: list[object] = []
    run_without_timers(sb, sa, bob, alice, from_bob, clock)
    assert bob.ws.vector_clock == alice.ws.vector_clock
    assert any(isinstance(e, CaughtUp) for e in collect(sb)), "the overflow was replaced by a catch-up"
    assert not any(isinstance(m, Check) for m in from_bob)
