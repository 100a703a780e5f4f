"""`Workspace.refuse_authors`: a receiver's own policy (the relay's removed members). Bundles by such an
author that are not stored yet are refused as `removed_member` and quarantined; what is stored stays,
its duplicates are still recognised, and other authors are untouched."""

from __future__ import annotations

import random

from helpers import ManualClock, make_env, seeded_identity
from openprod import Workspace, connect
from openprod.starter import starter_manifests

TABLE = "contacts.Contacts"


CLOCK = ManualClock()


def _ws(name: str, ws_id: bytes | None = None) -> Workspace:
    seed = len(name) * 7 + (1 if ws_id is None else 2)
    env = make_env(seeded_identity(name, seed), CLOCK, random.Random(seed))
    if ws_id is None:
        ws = Workspace.create(connect(":memory:"), env, "Hamlet")
        ws.adopt_module(starter_manifests()["contacts"])
        return ws
    return Workspace.join(connect(":memory:"), env, ws_id)


def test_new_bundles_of_a_refused_author_are_quarantined_and_old_ones_stay() -> None:
    owner = _ws("Alice")
    bob = _ws("Bob", owner.workspace_id)
    bob.ingest_many([b.wire for b in owner.oplog.bundles()])
    bob.create_record(TABLE, {"name": "Before"})
    old = [b.wire for b in bob.oplog.bundles() if b.actor == bob.actor_id.hex()]
    assert [r.status for r in owner.ingest_many(old)] == ["applied"]

    owner.refuse_authors({bob.actor_id: "Bob was removed"})
    before = owner.state_hash()
    bob.create_record(TABLE, {"name": "After"})
    new = [b.wire for b in bob.oplog.bundles() if b.actor == bob.actor_id.hex()][-1]
    result = owner.ingest(new, source="carol")
    assert (result.status, result.reason, result.detail) == ("rejected", "removed_member", "Bob was removed")
    assert owner.state_hash() == before
    assert [q.reason for q in owner.oplog.quarantined()] == ["removed_member"]
    assert owner.ingest(old[0]).status == "duplicate"  # what he wrote before stays, and is recognised
    assert sorted(str(r.values[f"{TABLE}.name"]) for r in owner.records.all(TABLE)) == ["Before"]

    owner.create_record(TABLE, {"name": "Owner's own"})  # other authors are untouched
    owner.refuse_authors({})
    assert owner.ingest(new).status == "applied"
