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
    assert alice.ws.records.get(rid) is None
    clock.advance(2 * MINUTE)  # once within 5 minutes, the same bundle is accepted
    assert alice.ws.ingest(bob.ws.last_receipt.wire).status == "applied"
    assert alice.ws.records.get(rid).get("name") == "From the future"
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
    assert alice.ws.records.get(rid).get("name") == "Offline work"
    assert alice.ws.oplog.stale_bundles() == [result.bundle_id]


def test_bundles_wait_for_their_causal_dependencies(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    wires = list(b.wire for b in alice.ws.oplog.bundles())
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane"})
    wires.append(alice.ws.last_receipt.wire)
    # Deliver newest first: each waits until the one before it arrives.
    results = [bob.ws.ingest(w) for w in reversed(wires)]
    assert [r.status for r in results[:-1]] == ["pending"] * (len(wires) - 1)
    assert results[-1].status == "applied" and len(results[-1].applied) == len(wires)
    assert bob.ws.records.get(rid).get("name") == "Jane"
    assert bob.ws.state_hash() == alice.ws.state_hash()


def test_only_the_owner_changes_settings_so_a_member_cannot_switch_off_the_future_check(peer_factory, clock) -> None:
    """The attack: a member widens max_future_drift_ms to a day, then stamps edits an hour ahead to
    win every conflict. Every receiver refuses the member's settings change, so the hour-ahead
    edit is still refused."""
    import pytest

    from openprod import operations as o
    from openprod.bundle import build
    from openprod.errors import ValidationError

    alice = peer_factory("Alice")
    ahead = ManualClock(start=clock.now + 60 * MINUTE)
    mallory = peer_factory("Mallory", workspace_from=alice, own_clock=ahead)
    sync(alice, mallory)
    with pytest.raises(ValidationError, match="only the workspace owner"), mallory.ws.transaction() as tx:
        tx.set_setting("max_future_drift_ms", DAY)
    # Built by hand, as a hostile client would, and signed with Mallory's real key.
    op = o.make_op(o.SetWorkspaceSetting, mallory.ws.ids.new(), mallory.ws.clock.tick(),
                   key="max_future_drift_ms", value=DAY)
    unsigned = build(workspace=mallory.ws.workspace_id, bundle_id=mallory.ws.ids.new(), actor=mallory.ws.actor_id,
                     device=mallory.ws.device, kind="edit", clock=mallory.ws.vector_clock, ops=[op])
    widen = unsigned.seal(mallory.env.signer.sign(unsigned.signing_bytes())).wire()
    clock.advance(60 * MINUTE)  # let the bundle itself pass the (old) check
    result = alice.ws.ingest(widen)
    assert result.status == "rejected" and result.reason == "schema"
    assert "only the workspace owner" in result.detail
    assert alice.ws.settings.max_future_drift_ms == 5 * MINUTE


def test_a_receiver_caps_the_future_check_whatever_the_owner_set(peer_factory, clock) -> None:
    from dataclasses import replace

    alice = peer_factory("Alice")
    with alice.ws.transaction() as tx:
        tx.set_setting("max_future_drift_ms", DAY)  # the owner may widen it...
    ahead = ManualClock(start=clock.now + 2 * 60 * MINUTE)
    bob = peer_factory("Bob", workspace_from=alice, own_clock=ahead)
    carol = peer_factory("Carol", workspace_from=alice)
    sync(alice, bob)
    sync(alice, carol)
    bob.ws.create_record("contacts.Contacts", {"name": "Two hours ahead"})
    wire = bob.ws.last_receipt.wire
    result = carol.ws.ingest(wire)  # ...but Carol's own ceiling (one hour by default) still holds
    assert result.status == "rejected" and result.reason == "future_hlc"
    carol.ws.env = replace(carol.ws.env, max_future_drift_cap_ms=DAY)  # a receiver that chose to trust more
    assert carol.ws.ingest(wire).status == "applied"


def test_a_settings_change_cannot_widen_the_check_for_its_own_bundle(peer_factory, clock) -> None:
    """Even the owner's bundle is checked against the limit in force before it: a bundle that widens
    the limit and is itself (or is followed in the same batch by one) too far ahead is refused."""
    from dataclasses import replace

    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    assert bob.ws.settings.owner == alice.ws.actor_id
    ahead = ManualClock(start=clock.now + 10 * MINUTE)
    alice.ws.env = replace(alice.ws.env, now_ms=ahead)
    alice.ws.clock._now_ms = ahead
    with alice.ws.transaction() as tx:
        tx.set_setting("max_future_drift_ms", 30 * MINUTE)
    widen = alice.ws.last_receipt.wire
    alice.ws.create_record("contacts.Contacts", {"name": "Ten minutes ahead"})
    follower = alice.ws.last_receipt.wire
    results = bob.ws.ingest_many([widen, follower])
    assert [(r.status, r.reason) for r in results] == [("rejected", "future_hlc")] * 2
    assert bob.ws.settings.max_future_drift_ms == 5 * MINUTE


def test_a_members_settings_change_found_in_a_stored_log_never_takes_effect(peer_factory, tmp_path) -> None:
    """Receivers refuse a member's settings change, but a log can still hold one: written by a
    version that did not check, or a file edited by hand. Deriving state from the log (a rebuild,
    an upgrade that re-derives) applies settings only from the owner, so it never takes effect."""
    from openprod import Workspace, connect, oplog
    from openprod import operations as o
    from openprod.bundle import build, decode_bundle

    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    op = o.make_op(o.SetWorkspaceSetting, bob.ws.ids.new(), bob.ws.clock.tick(), key="max_future_drift_ms", value=DAY)
    unsigned = build(workspace=bob.ws.workspace_id, bundle_id=bob.ws.ids.new(), actor=bob.ws.actor_id,
                     device=bob.ws.device, kind="edit", clock=bob.ws.vector_clock, ops=[op])
    bundle = decode_bundle(unsigned.seal(bob.env.signer.sign(unsigned.signing_bytes())).wire())
    alice.ws.conn.execute("BEGIN IMMEDIATE")  # stored past every receive check, as an old version would
    oplog.append(alice.ws.conn, bundle, 0, oplog.header_digest(bundle.header_bytes))
    alice.ws.conn.execute("COMMIT")
    before = alice.ws.state_hash()  # the bundle is stored, its op never applied
    alice.ws.rebuild()
    assert alice.ws.settings.max_future_drift_ms == 5 * MINUTE
    assert alice.ws.state_hash() == before
    alice.ws.close()
    reopened = Workspace.open(connect(alice.path), alice.env)  # and a fresh open derives the same
    assert reopened.settings.max_future_drift_ms == 5 * MINUTE
    # The owner's own change still applies, incrementally and on rebuild alike.
    with reopened.transaction() as tx:
        tx.set_setting("max_future_drift_ms", 10 * MINUTE)
    reopened.rebuild()
    assert reopened.settings.max_future_drift_ms == 10 * MINUTE
    reopened.close()
