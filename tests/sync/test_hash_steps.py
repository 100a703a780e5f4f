"""The state hash read a page at a time (statehash.state_hash_steps, WorkspaceReplica.state_hash_steps).

The browser worker reads it between edits so that a sync session's check never reads a large
workspace in one long call: the pages put together must give exactly `state_hash`, whatever the
page size, and a write between two pages must never leave a stale hash in the replica's cache
(two peers told "in sync" while they differ).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pytest

from openprod.statehash import state_hash, state_hash_steps
from openprod.sync import WorkspaceReplica

CONTACTS = "contacts.Contacts"
T = TypeVar("T")


def finish(steps: Generator[None, None, T]) -> tuple[T, int]:
    """Run the steps to the end: (value, pages yielded)."""
    pages = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value, pages
        pages += 1


def crew(peer_factory: Callable[..., Any], records: int = 60) -> Any:
    alice = peer_factory("Alice")
    with alice.ws.transaction() as tx:
        ids = [tx.create_record(CONTACTS, {"name": f"Person {i}", "phone": f"555-{i:04d}"}) for i in range(records)]
    for i, rid in enumerate(ids[:20]):
        with alice.ws.transaction() as tx:
            tx.set_field(rid, f"{CONTACTS}.email", f"p{i}@example.org")
    return alice, ids


@pytest.mark.parametrize("rows", [1, 7, 64, 100_000])
def test_pages_give_exactly_the_state_hash(peer_factory: Callable[..., Any], rows: int) -> None:
    alice, _ = crew(peer_factory)
    conn = alice.ws.conn
    value, pages = finish(state_hash_steps(conn, (), rows))
    assert value == state_hash(conn)
    assert (pages > 10) == (rows <= 7)  # small pages do yield, and often
    stepped, _ = finish(alice.ws.state_hash_steps(rows))
    assert stepped == alice.ws.state_hash()  # the computed (CRDT) section included


def test_the_replica_caches_a_stepped_hash_only_when_nothing_changed_between_pages(
        peer_factory: Callable[..., Any]) -> None:
    alice, ids = crew(peer_factory)
    replica = WorkspaceReplica(alice.ws)
    assert not replica.hash_is_current()
    steps = replica.state_hash_steps(5)
    next(steps)
    next(steps)
    with alice.ws.transaction() as tx:  # an edit between two pages
        tx.set_field(ids[0], f"{CONTACTS}.phone", "555-9999")
    ok, _ = finish(steps)
    assert ok is False
    assert not replica.hash_is_current()  # nothing stale was cached

    ok, pages = finish(replica.state_hash_steps(5))
    assert ok is True and pages > 10
    assert replica.hash_is_current()
    assert replica.state_hash() == alice.ws.state_hash()
    assert finish(replica.state_hash_steps(5)) == (True, 0)  # already current: no pages read

    with alice.ws.transaction() as tx:
        tx.set_field(ids[1], f"{CONTACTS}.phone", "555-0000")
    assert not replica.hash_is_current()
    assert replica.state_hash() == alice.ws.state_hash()  # a check asking at once still gets the new hash


class CountingReplica(WorkspaceReplica):
    """Counts the state hashes read whole, in one call (the cache was not the current state's)."""

    def __init__(self, workspace: object) -> None:
        super().__init__(workspace)
        self.whole = 0

    def state_hash(self) -> str:
        if not self.hash_is_current():
            self.whole += 1
        return super().state_hash()


def test_a_check_before_the_paged_hash_is_ready_waits_for_it(tmp_path: Any, clock: Any) -> None:
    """The browser worker (`hash_in_steps`) pages the hash during the quiet delay; a relay's check that
    arrives first used to make it read the whole hash in one turn. It now waits: answered once the
    pages are done, with nothing read whole and no timer spinning meanwhile."""
    from simnet import collect

    from helpers import make_peer
    from openprod.sync import InSync, Role, SessionConfig, SyncSession, pump

    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    for i in range(30):
        alice.ws.create_record(CONTACTS, {"name": f"Crew {i}"})
    slow = SessionConfig(quiet_ms=300, recheck_ms=600_000)
    relay = SyncSession(WorkspaceReplica(alice.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now, config=slow)
    replica = CountingReplica(bob.ws)
    worker = SyncSession(replica, role=Role.INITIATOR, nonce=bytes(range(16)), now=clock.now,
                         config=SessionConfig(quiet_ms=300, recheck_ms=600_000, hash_in_steps=True))

    def move(fire: Any = ()) -> None:
        """Frames both ways until none move; `fire`: sessions whose due timers fire."""
        for _ in range(500):
            moved = False
            for src, dst, ws in ((relay, worker, alice.ws), (worker, relay, bob.ws)):
                if src in fire and (due := src.get_timer()) is not None and due <= clock.now:
                    src.handle_timer(clock.now)
                pump(src, ws, lambda: clock.now)
                for frame in src.data_to_send():
                    dst.receive_frame(frame, clock.now)
                    moved = True
            if not moved:
                return
        raise AssertionError("the sessions never went quiet")

    move()
    assert bob.ws.vector_clock == alice.ws.vector_clock and not replica.hash_is_current()
    clock.advance(300)
    move(fire=(relay,))  # the relay's quiet check reaches the worker before its hash is paged
    assert replica.whole == 0, "the worker read the whole state hash in one call"
    assert not any(isinstance(e, InSync) for e in collect(worker))
    clock.advance(300)
    assert worker.get_timer() > clock.now  # nothing to do until the hash is ready: no timer spinning
    move(fire=(relay, worker))
    assert replica.whole == 0
    steps = replica.state_hash_steps(5)  # the worker's pages, one per turn
    while True:
        try:
            next(steps)
        except StopIteration as done:
            assert done.value is True
            break
    assert worker.get_timer() <= clock.now  # the held check is due at once
    move(fire=(relay, worker))
    assert replica.whole == 0
    assert [e.state_hash for e in collect(worker) if isinstance(e, InSync)] == [alice.ws.state_hash()]
    assert any(isinstance(e, InSync) for e in collect(relay))
