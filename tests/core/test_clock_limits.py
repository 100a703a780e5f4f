"""Future bundles are refused without touching the clock; old ones apply and are flagged stale."""

from __future__ import annotations

from helpers import ManualClock, sync

MINUTE = 60_000
DAY = 24 * 60 * MINUTE


def test_bundle_from_the_future_is_refused_and_clock_untouched(peer_factory, clock) -> None:
    alice = peer_factory("Alice")
    fast = ManualClock(start=clock.now + 6 * MINUTE)  # Bob's clock runs 6 minutes ahead
    bob = peer_factory("Bob", workspace_from=alice, own_clock=fast)
    sync(alice, bob)
    rid = bob.ws.create_record("contacts.Contacts", {"name": "From the future"})
    before = alice.ws.clock.last
    result = alice.ws.ingest(bob.ws.last_receipt.wire)
    assert result.status == "rejected" and result.reason == "future_hlc"
    assert "ahead of local time" in result.detail
    assert alice.ws.clock.last == before
    assert alice.ws.record(rid) is None
    clock.advance(2 * MINUTE)  # once within 5 minutes, the same bundle is accepted
    assert alice.ws.ingest(bob.ws.last_receipt.wire).status == "applied"
    assert alice.ws.record(rid).get("name") == "From the future"
    assert alice.ws.clock.last > bob.ws.last_receipt.hlc


def test_drift_limit_is_a_workspace_setting(peer_factory, clock) -> None:
    alice = peer_factory("Alice")
    with alice.ws.transaction() as tx:
        tx.set_setting("max_future_drift_ms", 10 * MINUTE)
    fast = ManualClock(start=clock.now + 6 * MINUTE)
    bob = peer_factory("Bob", workspace_from=alice, own_clock=fast)
    sync(alice, bob)
    bob.ws.create_record("contacts.Contacts", {"name": "Six minutes ahead"})
    assert alice.ws.ingest(bob.ws.last_receipt.wire).status == "applied"


def test_old_bundle_is_applied_and_flagged_stale(peer_factory, clock) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    rid = bob.ws.create_record("contacts.Contacts", {"name": "Offline work"})
    wire = bob.ws.last_receipt.wire
    clock.advance(8 * DAY)  # Bob was offline for eight days
    result = alice.ws.ingest(wire)
    assert result.status == "applied" and result.stale
    assert alice.ws.record(rid).get("name") == "Offline work"
    assert alice.ws.stale_bundles() == [result.bundle_id]


def test_bundles_wait_for_their_causal_dependencies(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    wires = list(b.wire for b in alice.ws.bundles())
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane"})
    wires.append(alice.ws.last_receipt.wire)
    # Deliver newest first: each waits until the one before it arrives.
    results = [bob.ws.ingest(w) for w in reversed(wires)]
    assert [r.status for r in results[:-1]] == ["pending"] * (len(wires) - 1)
    assert results[-1].status == "applied" and len(results[-1].applied) == len(wires)
    assert bob.ws.record(rid).get("name") == "Jane"
    assert bob.ws.state_hash() == alice.ws.state_hash()
