"""Calling a show: the cue list read as a calling script, and the shared position in it, which is
a pointer (last writer wins, one register per list) and never a conflict on the cues."""

from __future__ import annotations

import random

import cbor2
import pytest
from test_crafted_bundles import expect_refused, parts, resign

from helpers import NOTEBOOK, make_peer, sync
from openprod import NotFoundError, ValidationError, decode_bundle
from openprod.ids import to_str


@pytest.fixture
def show(peer_factory):  # type: ignore[no-untyped-def]
    """Alice (who calls the show) and Bob (following), in sync: Act 1 with four cues."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ids: dict[str, str] = {}
    with alice.ws.transaction() as tx:
        ids["storm"] = tx.create_record("scenes.Scenes", {"title": "The storm", "act": 1, "number": 2})
        ids["act1"] = tx.create_record("lighting.CueLists", {"name": "Act 1"})
        for number, page, called in (("1", 3, True), ("2", 4, True), ("2.5", 4, False), ("3", 9, True)):
            cue = tx.create_record("lighting.LightingCues", {"cue_number": number, "page": page, "is_called": called,
                                                             "label": f"Look {number}", "fade_time": 5})
            ids[number] = cue
            edge = tx.create_ordered_edge("lighting.in_cue_list", cue, ids["act1"])
            if number == "2":
                tx.set_edge_property(edge, "call_text", "Lights 2 and sound B")
        tx.set_text(ids["2"], "lighting.LightingCues.description", "Lightning flash")
        tx.create_edge("lighting.in_scene", ids["2"], ids["storm"])
    sync(alice, bob)
    return alice, bob, ids


def go(peer, ids, number):  # type: ignore[no-untyped-def]
    with peer.ws.transaction(kind="calling", staging=False) as tx:
        tx.set_calling_position(ids["act1"], None if number is None else ids[number])
    return peer.ws.last_receipt


def test_the_calling_script_reads_the_cue_sheet_in_list_order(show) -> None:  # type: ignore[no-untyped-def]
    alice, _bob, ids = show
    [listed] = alice.ws.calling.cue_lists()
    assert (listed.id, listed.name, listed.edge_type, listed.count) == (ids["act1"], "Act 1", "lighting.in_cue_list", 4)
    sheet = alice.ws.calling.sheet(ids["act1"])
    assert sheet.name == "Act 1" and sheet.position is None and sheet.index == -1
    assert [(c.number, c.page, c.scene, c.called) for c in sheet.cues] == [
        ("1", 3, None, True), ("2", 4, "The storm", True), ("2.5", 4, None, False), ("3", 9, None, True)]
    second = sheet.cues[1]
    assert (second.description, second.call_text, second.label, second.fade) == (
        "Lightning flash", "Lights 2 and sound B", "Look 2", 5)


def test_go_moves_the_shared_position_and_never_touches_a_cue(show) -> None:  # type: ignore[no-untyped-def]
    alice, bob, ids = show
    before = {n: alice.ws.records.get(ids[n]) for n in ("1", "2", "3")}
    go(alice, ids, "1")
    go(alice, ids, "2")
    sync(alice, bob)
    for peer in (alice, bob):
        position = peer.ws.calling.sheet(ids["act1"]).position
        assert position is not None and (position.cue, position.index, position.by_name) == (ids["2"], 1, "Alice")
    assert {n: alice.ws.records.get(ids[n]) for n in ("1", "2", "3")} == before
    assert alice.ws.conflicts.open() == [] and bob.ws.conflicts.open() == []
    # a GO is not an edit the person would undo: undo reverses the last real change instead
    with alice.ws.transaction() as tx:
        tx.set_field(ids["3"], "lighting.LightingCues.label", "Blackout")
    go(alice, ids, "3")
    assert alice.ws.undo().done
    assert alice.ws.records.value(ids["3"], "lighting.LightingCues.label") == "Look 3"
    assert alice.ws.calling.sheet(ids["act1"]).position.cue == ids["3"]  # type: ignore[union-attr]
    go(alice, ids, None)  # back to the top
    assert alice.ws.calling.sheet(ids["act1"]).position.index == -1  # type: ignore[union-attr]


def test_two_calls_made_apart_agree_after_sync_without_a_conflict(show, clock) -> None:  # type: ignore[no-untyped-def]
    alice, bob, ids = show
    go(alice, ids, "1")
    clock.advance(1_000)
    go(bob, ids, "2")  # offline, later: Bob's call is the newer one
    sync(alice, bob)
    for peer in (alice, bob):
        position = peer.ws.calling.sheet(ids["act1"]).position
        assert position is not None and (position.cue, position.by_name) == (ids["2"], "Bob")
        assert peer.ws.conflicts.open() == []
    assert alice.ws.state_hash() == bob.ws.state_hash()
    # the same GO pressed on both devices while apart: one answer, still no conflict
    go(alice, ids, "3")
    go(bob, ids, "3")
    sync(alice, bob)
    assert alice.ws.calling.sheet(ids["act1"]).position.cue == ids["3"]  # type: ignore[union-attr]
    assert alice.ws.state_hash() == bob.ws.state_hash() and alice.ws.conflicts.open() == []
    hash_before = alice.ws.state_hash()
    alice.ws.rebuild()  # derived from the oplog alone, the same position
    assert alice.ws.state_hash() == hash_before


def test_gos_are_not_counted_as_changes_to_catch_up_on(show) -> None:  # type: ignore[no-untyped-def]
    alice, bob, ids = show
    mark = bob.ws.history.mark_seen()
    go(alice, ids, "1")
    go(alice, ids, "2")
    sync(alice, bob)
    assert bob.ws.history.changes_since(mark) == []
    with alice.ws.transaction() as tx:
        tx.set_field(ids["3"], "lighting.LightingCues.label", "Blackout")
    sync(alice, bob)
    [person] = bob.ws.history.changes_since(mark)
    assert (person.display_name, person.bundles) == ("Alice", 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gos_from_three_devices_in_any_delivery_order_converge_on_the_latest(show, peer_factory, clock,
                                                                             seed) -> None:  # type: ignore[no-untyped-def]
    """Random GOs on three devices, synced pairwise at random (partitions, repeats), then everyone:
    one position everywhere, the latest call in canonical order, equal state hashes, no conflict."""
    alice, bob, ids = show
    carol = peer_factory("Carol", workspace_from=alice)
    sync(alice, carol)
    rng = random.Random(seed)
    peers = [alice, bob, carol]
    calls: list[tuple[bytes, str]] = []  # (ord of the GO op, the cue it called)
    for _ in range(30):
        peer = rng.choice(peers)
        number = rng.choice(["1", "2", "3", None])
        clock.advance(rng.randint(0, 50))
        receipt = go(peer, ids, number)
        op = decode_bundle(receipt.wire).ops[0]
        calls.append((op.ord, ids[number] if number else None))
        if rng.random() < 0.3:
            a, b = rng.sample(peers, 2)
            sync(a, b)
    for a, b in ((alice, bob), (bob, carol), (alice, carol)):
        sync(a, b)
    latest = max(calls)[1]
    hashes = set()
    for peer in peers:
        sheet = peer.ws.calling.sheet(ids["act1"])
        assert sheet.position is not None and sheet.position.cue == latest
        assert peer.ws.conflicts.open() == []
        hashes.add(peer.ws.state_hash())
    assert len(hashes) == 1


def test_a_follower_who_joins_late_sees_where_the_show_is(show, peer_factory) -> None:  # type: ignore[no-untyped-def]
    alice, _bob, ids = show
    go(alice, ids, "1")
    go(alice, ids, "2")
    carol = peer_factory("Carol", workspace_from=alice)
    sync(alice, carol)
    position = carol.ws.calling.sheet(ids["act1"]).position
    assert position is not None and position.cue == ids["2"] and position.index == 1


def test_a_position_that_is_not_in_the_list_is_refused(show) -> None:  # type: ignore[no-untyped-def]
    alice, _bob, ids = show
    count = alice.ws.oplog.size().bundles
    with pytest.raises(ValidationError, match="not in the cue list"):
        go(alice, ids, "storm")
    with pytest.raises(ValidationError, match="not a cue list"), \
            alice.ws.transaction(kind="calling", staging=False) as tx:
        tx.set_calling_position(ids["1"], ids["2"])
    with pytest.raises(NotFoundError, match="does not exist"), \
            alice.ws.transaction(kind="calling", staging=False) as tx:
        tx.set_calling_position("0190a4a4-0000-7000-8000-000000000000", None)
    assert alice.ws.oplog.size().bundles == count
    assert alice.ws.calling.sheet(ids["act1"]).position is None


def test_a_called_cue_that_is_deleted_reads_as_not_in_the_list(show) -> None:  # type: ignore[no-untyped-def]
    alice, _bob, ids = show
    go(alice, ids, "2")
    with alice.ws.transaction() as tx:
        tx.delete_record(ids["2"])
    sheet = alice.ws.calling.sheet(ids["act1"])
    assert [c.number for c in sheet.cues] == ["1", "2.5", "3"]
    assert sheet.position is not None and sheet.position.cue == ids["2"] and sheet.index == -1


def test_a_go_is_never_staged_while_an_import_is_being_reviewed(show) -> None:  # type: ignore[no-untyped-def]
    alice, bob, ids = show
    alice.ws.staging.create("Import")
    with pytest.raises(ValidationError, match="never staged"), alice.ws.transaction(kind="calling") as tx:
        tx.set_calling_position(ids["act1"], ids["1"])
    assert alice.ws.staging.staged_ops() == []
    receipt = go(alice, ids, "1")
    assert receipt is not None and alice.ws.staging.active is not None
    sync(alice, bob)
    assert bob.ws.calling.sheet(ids["act1"]).position.cue == ids["1"]  # type: ignore[union-attr]


def _crafted_go(bob, ids, op: dict) -> bytes:  # type: ignore[no-untyped-def]
    """Bob's genuine GO with its op replaced by `op`, re-signed with his key."""
    genuine = go(bob, ids, "1").wire
    header, ops = parts(genuine)
    crafted = [{"id": ops[-1]["id"], "hlc": ops[-1]["hlc"], "t": "SetCallingPosition", **op}]
    return resign(bob.env.signer, header, [cbor2.dumps(x) for x in crafted])


@pytest.mark.parametrize(("op", "reason"), [
    ({"cue_list": "$list", "cue": "$list"}, "schema"),  # the list as its own cue
    ({"cue_list": b"short", "cue": None}, "malformed"),  # not an id
    ({"cue_list": "$list"}, "malformed"),  # a field missing
    ({"cue_list": "$list", "cue": None, "extra": 1}, "malformed"),
])
def test_a_bad_position_from_a_peer_is_quarantined_with_a_reason(show, op, reason) -> None:  # type: ignore[no-untyped-def]
    alice, bob, ids = show
    act1 = bytes.fromhex(ids["act1"].replace("-", ""))
    op = {k: (act1 if v == "$list" else v) for k, v in op.items()}
    expect_refused(alice, _crafted_go(bob, ids, op), reason)
    assert alice.ws.calling.sheet(ids["act1"]).position is None
    assert to_str(act1) == ids["act1"]


def test_a_cue_with_no_label_is_named_by_its_number_in_messages(show) -> None:  # type: ignore[no-untyped-def]
    """Review lists and conflict messages name a record by its label; a cue nobody labelled is
    "Cue 17A" (as a stage manager says it), not the first characters of its id."""
    alice, _bob, ids = show
    with alice.ws.transaction() as tx:
        bare = tx.create_record("lighting.LightingCues", {"cue_number": "17A", "page": 30})
    assert alice.ws.records.label(bare) == "Cue 17A"
    assert alice.ws.records.label(ids["2"]) == "Look 2"  # a label, when there is one, still wins
    with alice.ws.transaction() as tx:
        tx.set_field(bare, "lighting.LightingCues.label", "Sunset")
    assert alice.ws.records.label(bare) == "Sunset"



@pytest.mark.parametrize("scenes", [False, True])
def test_a_cue_list_is_called_whatever_other_tables_have_a_title(tmp_path, clock, scenes) -> None:  # type: ignore[no-untyped-def]
    """Schedule's Events and another module's table both have a "title": the scene column names the
    Scenes table's own title, so the list can still be called (it failed as "'title' is ambiguous"
    in a show with Schedule, Lighting and Reports and no Scenes); without Scenes there is no scene."""
    modules = ("schedule", "scenes", "lighting") if scenes else ("schedule", "lighting")
    alice = make_peer("Alice", str(tmp_path / "alice.db"), clock, seed=1, modules=modules)
    with alice.ws.transaction(kind="module") as tx:
        tx.adopt_module(NOTEBOOK)
    with alice.ws.transaction() as tx:
        act = tx.create_record("lighting.CueLists", {"name": "Act 1"})
        cue = tx.create_record("lighting.LightingCues", {"cue_number": "1", "label": "House to half"})
        tx.create_ordered_edge("lighting.in_cue_list", cue, act)
        if scenes:
            storm = tx.create_record("scenes.Scenes", {"title": "The storm", "act": 1, "number": 2})
            tx.create_edge("lighting.in_scene", cue, storm)
    sheet = alice.ws.calling.sheet(act)
    scene = "The storm" if scenes else None
    assert [(c.number, c.label, c.scene) for c in sheet.cues] == [("1", "House to half", scene)]
