"""What a local commit keeps between commits instead of re-reading it (commit.py, issue 19 target 6):
this actor's signed name and the stored rules. Each must follow writes that arrive by sync, and
nothing rolled back may stay in them."""

from __future__ import annotations

import dataclasses
import random

import pytest
from test_rules import CALLED, LX, SM, called_cues_rule

from helpers import ManualClock, Peer, make_env, seeded_identity, sync
from openprod import Workspace, connect
from openprod.bundle import decode_bundle
from openprod.operations import IdentifyActor


def _names_in_last_bundle(peer: Peer) -> list[str]:
    assert peer.ws.last_receipt is not None
    bundle = decode_bundle(peer.ws.last_receipt.wire)
    return [op.display_name for op in bundle.ops if isinstance(op, IdentifyActor)]


def test_a_name_signed_on_another_device_is_signed_again_here(peer_factory, clock: ManualClock, tmp_path) -> None:
    laptop = peer_factory("Alice")
    rid = laptop.ws.create_record("contacts.Contacts", {"name": "Jane"})
    identity = seeded_identity("Alice", 1)  # the laptop's key (peer_factory's first seed), on a tablet
    env = dataclasses.replace(make_env(identity, clock, random.Random(99)), display_name="Alice (tablet)")
    tablet = Peer("tablet", Workspace.join(connect(str(tmp_path / "tablet.db")), env, laptop.ws.workspace_id),
                  str(tmp_path / "tablet.db"), identity, env)
    assert tablet.ws.actor_id == laptop.ws.actor_id
    sync(laptop, tablet)
    clock.advance(10)
    tablet.ws.set_field(rid, "contacts.Contacts.phone", "1")
    assert _names_in_last_bundle(tablet) == ["Alice (tablet)"]
    tablet.ws.set_field(rid, "contacts.Contacts.phone", "2")
    assert _names_in_last_bundle(tablet) == []  # signed already: not again
    sync(laptop, tablet)
    clock.advance(10)
    laptop.ws.set_field(rid, "contacts.Contacts.email", "a@x")  # the laptop signs its name again, later
    assert _names_in_last_bundle(laptop) == ["Alice"]
    sync(laptop, tablet)
    assert tablet.ws.actor_name(tablet.ws.actor_id) == "Alice"
    clock.advance(10)
    tablet.ws.set_field(rid, "contacts.Contacts.phone", "3")  # what it kept is out of date: signed again
    assert _names_in_last_bundle(tablet) == ["Alice (tablet)"]
    assert tablet.ws.actor_name(tablet.ws.actor_id) == "Alice (tablet)"


def test_a_rule_that_arrives_by_sync_fires_on_the_next_local_commit(peer_factory) -> None:
    lx = peer_factory("Lighting")
    sm = peer_factory("Stage Manager", workspace_from=lx)
    sync(lx, sm)
    sm.ws.create_record(LX, {"cue_number": 1, "label": "LX 1", "is_called": True})  # no rule yet
    assert sm.ws.records.all(SM) == []
    called_cues_rule(lx.ws)
    sync(lx, sm)
    cue = sm.ws.create_record(LX, {"cue_number": 2, "label": "LX 2", "is_called": True})
    assert [r.id for r in sm.ws.records.all(SM)] == [cue]


def test_a_rule_whose_transaction_was_rolled_back_never_fires(peer_factory) -> None:
    lx = peer_factory("Lighting")
    lx.ws.create_record(LX, {"cue_number": 1, "label": "LX 1", "is_called": True})  # fires the (no) rules
    with pytest.raises(RuntimeError), lx.ws.transaction() as tx:
        tx.create_rule("Called cues appear in SM Cues", when=CALLED, table=SM, auto_accept=True)
        tx.create_record(LX, {"cue_number": 2, "label": "LX 2", "is_called": True})
        raise RuntimeError("the person cancelled")
    lx.ws.create_record(LX, {"cue_number": 3, "label": "LX 3", "is_called": True})
    assert lx.ws.records.all(SM) == [] and lx.ws.rules.list() == []
    called_cues_rule(lx.ws)  # committed this time
    cue = lx.ws.create_record(LX, {"cue_number": 4, "label": "LX 4", "is_called": True})
    assert [r.id for r in lx.ws.records.all(SM)] == [cue]
