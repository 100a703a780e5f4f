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
