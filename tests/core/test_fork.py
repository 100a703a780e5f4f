"""Forks and templates (core/openprod/fork.py).

A fork carries the current state (records in several tables, values, links, mappings, saved views)
under new ids and a new workspace id, with none of the original's history; both sides record the
fork; nothing of either syncs into the other (bundles and a sync session are refused as another
workspace's). The Stage Management template makes a ready workspace with its mappings active; any
workspace saved as a template file plants the same state; a bad template file is refused."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from helpers import ManualClock, make_env, seeded_identity
from openprod import Env, Workspace, connect
from openprod.encoding import decode, encode
from openprod.fork import (
    TemplateError,
    decode_template,
    encode_template,
    fork,
    fork_provenance,
    plant,
    read_state,
    stage_management_template,
)
from openprod.sync import Role, SyncSession, WorkspaceReplica, pump

CLOCK = ManualClock()
_SEEDS = itertools.count(1)


def _env(name: str) -> Env:
    """PyNaCl on CPython, the pure-Python signer under Pyodide (tests/helpers.py): same results in both."""
    seed = next(_SEEDS)
    return make_env(seeded_identity(name, seed), CLOCK, random.Random(seed))


def _show() -> Workspace:
    ws = Workspace.create(connect(":memory:"), _env("Sam"), "Hamlet")
    ids = plant(stage_management_template(), ws)
    ws.set_field(ids["q2"], "sm.SMCues.page", 4)
    ws.create_record("contacts.Contacts", {"name": "Ophelia", "phone": "555-0199"})
    return ws


def _shape(ws: Workspace) -> tuple[Any, ...]:
    """The state with record ids left out: what a fork must reproduce."""
    copy = read_state(ws)
    names = {r["id"]: sorted(r["values"].items()) for r in copy.records}
    records = sorted(str((sorted(r["tables"]), sorted(r["values"].items()))) for r in copy.records)
    links = sorted(str((x["type"], names[x["source"]], names[x["target"]])) for x in copy.links)
    return records, links, sorted(copy.mappings), sorted(str(v) for v in copy.views), len(copy.modules)


def test_a_fork_has_the_state_and_none_of_the_history_with_provenance_on_both_sides() -> None:
    source = _show()
    before = _shape(source)
    tour, report = fork(source, lambda n: Workspace.founding(connect(":memory:"), _env("Tour manager"), n))
    assert tour.name == "Hamlet (fork)" and report.records == 8 and report.links == 5
    assert _shape(tour) == before
    assert tour.workspace_id != source.workspace_id
    source_ids = {b.id for b in source.oplog.bundles()}
    assert not source_ids & {b.id for b in tour.oplog.bundles()}  # no shared history
    old_records = {r["id"] for r in read_state(source).records}
    assert not old_records & {r["id"] for r in read_state(tour).records}  # new record ids
    assert all(b.actor == tour.actor_id.hex() for b in tour.oplog.bundles())  # all signed by the fork's owner

    assert fork_provenance(tour)["forked_from"] == {"workspace": report.source, "state_hash": report.source_hash}
    assert fork_provenance(source) == {"forked_from": None, "forks": [
        {"fork": report.fork, "state_hash": report.source_hash, "by": "Sam"}]}
    assert _shape(source) == before  # the note changed nothing a person sees


def test_a_fork_syncs_with_nothing_of_the_original() -> None:
    source = _show()
    tour, _report = fork(source, lambda n: Workspace.founding(connect(":memory:"), _env("Tour manager"), n))
    tour.create_record("contacts.Contacts", {"name": "Tour only"})
    hashes = (source.state_hash(), tour.state_hash())

    results = source.ingest_many([b.wire for b in tour.oplog.bundles()]) + tour.ingest_many([b.wire for b in
                                                                                        source.oplog.bundles()])
    assert {r.reason for r in results} == {"wrong_workspace"}
    assert (source.state_hash(), tour.state_hash()) == hashes

    # a sync session between them is refused as soon as they say hello
    now = CLOCK.now
    a = SyncSession(WorkspaceReplica(source), role=Role.INITIATOR, nonce=bytes(16), now=now)
    b = SyncSession(WorkspaceReplica(tour), role=Role.ACCEPTOR, nonce=bytes(range(16)), now=now)
    for _ in range(20):
        moved = False
        for sender, receiver, ws in ((a, b, tour), (b, a, source)):
            for frame in sender.data_to_send():
                moved = True
                receiver.receive_frame(frame, now)
                pump(receiver, ws, lambda: now)
        if not moved:
            break
    events = []
    for session in (a, b):
        while (event := session.next_event()) is not None:
            events.append(event)
    closed = [e for e in events if type(e).__name__ == "Closed"]
    assert closed and all(e.reason == "wrong_workspace" for e in closed), events  # type: ignore[attr-defined]
    assert (source.state_hash(), tour.state_hash()) == hashes


def test_the_stage_management_template_makes_a_ready_workspace_with_mappings_active() -> None:
    ws = Workspace.create(connect(":memory:"), _env("Sam"), "Macbeth")
    ids = plant(stage_management_template(), ws)
    assert sorted(ws.schema.modules) == ["contacts", "lighting", "schedule", "sm"]
    assert len(ws.mappings.confirmed()) == 5
    # one cue, one value: the lighting cue sheet and the calling script show the same page
    ws.set_field(ids["q1"], "lighting.LightingCues.page", 7)
    assert ws.records.value(ids["q1"], "sm.SMCues.page") == 7
    ws.set_field(ids["sm"], "schedule.Attendees.email", "psm@theatre.example")
    assert ws.records.value(ids["sm"], "contacts.Contacts.email") == "psm@theatre.example"
    assert "Crew contacts" in [v.name for v in ws.views.list()]
    assert [r.cells[0] for g in ws.views.run("Crew contacts").groups for r in g.rows][:1] == [
        "Lighting Designer (example)"]
    called = ws.records.edges_to(ids["rehearsal"], "schedule.called_to")
    assert len(called) == 3


def test_the_stage_management_template_has_a_cue_list_the_calling_view_can_call() -> None:
    """The template promises a calling script: its example cues are in a cue list, in order, with the
    words to call, so "Call the show" has a list to open and GO moves through it."""
    ws = Workspace.create(connect(":memory:"), _env("Sam"), "Macbeth")
    ids = plant(stage_management_template(), ws)
    [listed] = ws.calling.cue_lists()
    assert (listed.id, listed.name, listed.edge_type, listed.count) == (
        ids["cues"], "Main cue list (example)", "lighting.in_cue_list", 2)
    sheet = ws.calling.sheet(ids["cues"])
    assert [(c.id, c.number, c.label, c.page, c.called, c.call_text) for c in sheet.cues] == [
        (ids["q1"], "1", "House to half", 1, True, "Lights 1 go"),
        (ids["q2"], "2", "Preset out, stage up", 1, True, "Lights 2 go")]
    with ws.transaction(kind="calling", staging=False) as tx:
        tx.set_calling_position(ids["cues"], ids["q1"])
    assert ws.calling.sheet(ids["cues"]).index == 0
    # the lighting cue sheet groups the same cues under the list, as for a list made by hand
    rows = [(g.values, [r.cells[0] for r in g.rows]) for g in ws.views.run("lighting.CueSheet").groups]
    assert rows == [(["Main cue list (example)"], ["1", "2"])]


def test_any_workspace_saved_as_a_template_plants_the_same_state() -> None:
    source = _show()
    data = encode_template(read_state(source))
    fresh = Workspace.create(connect(":memory:"), _env("Pat"), "Next show")
    plant(decode_template(data), fresh)
    assert _shape(fresh) == _shape(source)
    empty = Workspace.create(connect(":memory:"), _env("Pat"), "Schema only")
    plant(decode_template(encode_template(read_state(source, with_records=False))), empty)
    assert len(empty.mappings.confirmed()) == 5 and empty.records.all("contacts.Contacts") == []


def test_bad_template_files_are_refused() -> None:
    source = _show()
    doc = decode(encode_template(read_state(source)))
    for data, message in [
        (b"Name,Phone\n", "not an Openprod template (it could not be read as one)"),
        (encode({"format": "openprod-backup", "version": 1}), "not an Openprod template."),
        (encode({**doc, "version": 9}), "newer version of Openprod (format 9)"),
        (encode({**doc, "modules": []}), "adopts no modules"),
        (encode({**doc, "records": [{"tables": "x"}]}), "is damaged"),
        (encode({k: v for k, v in doc.items() if k != "links"}), "is damaged"),
    ]:
        with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            decode_template(data)

    # records that do not fit the modules: that bundle is not written (`openprod template use` plants into a
    # temporary file and throws it away, so there nothing at all is written)
    broken = decode_template(encode({**doc, "records": [{"id": "x", "tables": ["contacts.Contacts"],
                                                          "values": {"contacts.Contacts.nope": 1}}]}))
    target = Workspace.create(connect(":memory:"), _env("Pat"), "Target")
    with pytest.raises(Exception, match="nope"):
        plant(broken, target)
    assert target.records.all("contacts.Contacts") == []
