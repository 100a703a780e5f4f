"""The worker's Python half (web/py/openprod_web) on CPython: log order, snapshots, JSON API.

The same code runs in the browser worker under Pyodide with the WebCrypto signer; here PyNaCl
signs, so these run in milliseconds without a browser.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session, coerce_input, writes
from worker_helpers import CONTACTS, call, nacl_env, run

from openprod import ValidationError
from openprod.signer_nacl import generate_identity


def test_log_snapshot_and_reopen() -> None:
    async def scenario() -> None:
        ident = generate_identity("Alice").to_json()
        s = await Session.create(ident, "Show", ["contacts", "schedule"], nacl_env)
        log = s.take_log()
        assert [seq for seq, _ in log] == [1, 2]  # workspace, then the modules: one bundle each
        rid = (await call(s, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane"}))["id"]
        await call(s, "update_record", record=rid, values={f"{CONTACTS}.role": "SM", f"{CONTACTS}.phone": "1"})
        assert (await call(s, "set_cell", record=rid, field=f"{CONTACTS}.role", value="SM"))["changed"] is False
        log += s.take_log()
        assert [seq for seq, _ in log] == [1, 2, 3, 4]  # the form's two fields are one bundle
        snap = s.snapshot()
        assert snap is not None and snap[0] == 4
        await call(s, "set_cell", record=rid, field=f"{CONTACTS}.email", value="j@example.org")
        log += s.take_log()
        ws_id = (await call(s, "info"))["workspace_id"]

        full = await Session.open(ident, ws_id, None, 0, log, nacl_env)
        assert (await call(full, "stats"))["replayed"] == 5
        tail = await Session.open(ident, ws_id, snap[1], snap[0], log, nacl_env)
        stats = await call(tail, "stats")
        assert stats["replayed"] == 1 and stats["replay_statuses"] == {"applied": 1} and stats["seq"] == 5
        for session in (full, tail):
            assert session.ws.state_hash() == s.ws.state_hash()
            record = await call(session, "record", record=rid)
            assert record["values"][f"{CONTACTS}.email"] == "j@example.org"

    run(scenario())


def test_refusals_are_errors_not_crashes() -> None:
    async def scenario() -> None:
        s = await Session.create(generate_identity("Bo").to_json(), "Show", ["contacts", "schedule"], nacl_env)
        rid = (await call(s, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Kim"}))["id"]
        s.take_log()
        out = json.loads(await s.call("set_cell", json.dumps({"record": rid, "field": f"{CONTACTS}.name",
                                                               "value": ""})))
        assert out["error"]["type"] == "ValidationError" and "required" in out["error"]["message"]
        out = json.loads(await s.call("add_to_table", json.dumps({"record": rid, "table": "schedule.Attendees"})))
        assert "Name" in out["error"]["message"]
        out = json.loads(await s.call("no_such_method", "{}"))
        assert "unknown method" in out["error"]["message"]
        assert s.take_log() == []  # nothing was stored
        needs = {m["table"]: [f["name"] for f in m["needs"]] for m in await call(s, "membership", record=rid)}
        assert needs["schedule.Attendees"] == ["name"]
        await call(s, "add_to_table", record=rid, table="schedule.Attendees",
                   values={"schedule.Attendees.name": "Kim"})
        assert len(s.take_log()) == 1
        undone = await call(s, "undo")
        assert undone["done"] and len(s.take_log()) == 1

    run(scenario())


def test_coerce_input_by_field_type() -> None:
    s = run(Session.create(generate_identity("Cy").to_json(), "Show", ["sound", "schedule"], nacl_env))
    level = s.ws.schema.field("sound.SoundCues.level_db")
    called = s.ws.schema.field("sound.SoundCues.is_called")
    starts = s.ws.schema.field("schedule.Events.starts_at")
    assert coerce_input(level, "-6.5") == -6.5 and coerce_input(level, "3") == 3 and coerce_input(level, " ") is None
    assert coerce_input(called, "yes") is True and coerce_input(called, False) is False
    assert coerce_input(starts, "2026-09-21T19:30") == "2026-09-21T19:30"
    with pytest.raises(ValidationError, match="not a number"):
        coerce_input(level, "loud")
    with pytest.raises(ValidationError, match="yes or no"):
        coerce_input(called, "maybe")


# --- conflicts, staging, CSV import, links, CRDT fields (the same glue the browser runs) ---------


async def two_people() -> tuple[Session, Any, str]:
    """Alice's session with one contact, and Jordan's debug peer replica of it (NaCl, on CPython)."""
    from openprod_web_debug import DebugPeer

    s = await Session.create(generate_identity("Alice").to_json(), "Show",
                             ["contacts", "scenes", "lighting", "reports"], nacl_env)
    rid = (await call(s, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane"}))["id"]
    peer = await DebugPeer.create(s, generate_identity("Jordan").to_json(), nacl_env)
    s.take_log()
    return s, peer, rid


async def deliver(s: Session, peer: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(await s.receive(peer.take_outbox(), "debug-peer"))
    return result


def test_conflict_pick_enter_new_value_and_take_all() -> None:
    async def scenario() -> None:
        s, peer, rid = await two_people()
        phone = f"{CONTACTS}.phone"
        await call(s, "set_cell", record=rid, field=phone, value="555-0101")
        await peer.set_field(rid, phone, "555-0199")
        assert [r["status"] for r in await deliver(s, peer)] == ["applied"]
        assert len(s.take_log()) == 2  # Alice's edit and Jordan's received bundle: both logged
        listed = await call(s, "conflicts")
        (conflict,) = listed["conflicts"]
        assert "Jane's Phone was edited by" in conflict["description"]
        assert {c["display_name"] for c in conflict["competitors"]} == {"Alice", "Jordan"}
        rows = await call(s, "rows", table=CONTACTS)
        assert rows["flags"][rid]["fields"][phone]["conflict"] == conflict["id"]
        assert rows["flags"][rid]["fields"][phone]["conflict_text"] == conflict["description"]
        jordan = next(c for c in conflict["competitors"] if c["display_name"] == "Jordan")
        await call(s, "resolve_conflict", conflict=conflict["id"], pick=jordan["op_id"])
        assert (await call(s, "conflicts"))["conflicts"] == []
        assert (await call(s, "record", record=rid))["values"][phone] == "555-0199"
        stale = json.loads(await s.call("resolve_conflict", json.dumps({"conflict": conflict["id"],
                                                                        "pick": jordan["op_id"]})))
        assert "already resolved" in stale["error"]["message"]

        # a second round on the same field, settled with a new value typed by Alice
        await peer.pull()
        await call(s, "set_cell", record=rid, field=phone, value="1")
        await peer.set_field(rid, phone, "2")
        await deliver(s, peer)
        (conflict,) = (await call(s, "conflicts"))["conflicts"]
        await call(s, "resolve_conflict", conflict=conflict["id"], value="555-0123")
        assert (await call(s, "record", record=rid))["values"][phone] == "555-0123"

        # a large group between the same two people: take Jordan's side for all
        ids = [(await call(s, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"P{i}"}))["id"]
               for i in range(5)]
        await peer.pull()
        for i, record in enumerate(ids):
            await call(s, "set_cell", record=record, field=f"{CONTACTS}.role", value=f"alice {i}")
            await peer.set_field(record, f"{CONTACTS}.role", f"jordan {i}")
        await deliver(s, peer)
        listed = await call(s, "conflicts")
        (group,) = listed["groups"]
        assert group["count"] == 5 and sorted(group["names"]) == ["Alice", "Jordan"]
        take = next(p["actor"] for p in group["people"] if p["display_name"] == "Jordan")
        assert (await call(s, "resolve_all", actors=group["actors"], take=take))["resolved"] == 5
        rows = await call(s, "rows", table=CONTACTS)
        roles = {r["id"]: r["values"].get(f"{CONTACTS}.role") for r in rows["rows"]}
        assert [roles[r] for r in ids] == [f"jordan {i}" for i in range(5)]
        await peer.pull()
        assert peer.ws.state_hash() == s.ws.state_hash()

    run(scenario())


def test_awareness_notice_in_words_when_two_people_edit_one_record_at_once() -> None:
    async def scenario() -> None:
        s, peer, rid = await two_people()
        assert (await call(s, "status"))["awareness"] == []
        await call(s, "set_cell", record=rid, field=f"{CONTACTS}.phone", value="555-0101")
        await peer.set_field(rid, f"{CONTACTS}.email", "jane@example.org")  # another field, the same moment
        await deliver(s, peer)
        (notice,) = (await call(s, "status"))["awareness"]
        assert notice["text"] == ("Jordan edited Email of Jane just as you changed Name and Phone. "
                                  "Both changes are kept.")
        assert notice["record"] == rid
        assert (await call(s, "conflicts"))["conflicts"] == []

    run(scenario())


def test_staging_drift_commit_and_journal_restore() -> None:
    async def scenario() -> None:
        s, peer, rid = await two_people()
        ident = s.identity.to_json()
        role, email = f"{CONTACTS}.role", f"{CONTACTS}.email"
        s.take_overlays()
        await call(s, "stage_start", name="Try roles")
        await call(s, "set_cell", record=rid, field=role, value="Director")
        await call(s, "set_cell", record=rid, field=email, value="jane@x.org")
        assert s.take_log() == []  # staged: no bundle
        journal = s.take_overlays()
        assert [(kind, seq is not None) for kind, _id, seq, _data in journal] == [
            ("head", False), ("op", True), ("op", True)]
        rows = await call(s, "rows", table=CONTACTS)
        assert rows["flags"][rid]["fields"][role] == {"staged": True}
        # Jordan changes the staged field underneath
        await peer.set_field(rid, role, "Stage manager")
        await deliver(s, peer)
        staging = await call(s, "staging")
        (drift,) = staging["drift"]
        assert drift["description"] == "Role changed to 'Stage manager' while you were reviewing (by Jordan)"
        assert (await call(s, "rows", table=CONTACTS))["flags"][rid]["fields"][role]["drift"] == drift["description"]
        refused = json.loads(await s.call("stage_commit", "{}"))
        assert refused["error"]["type"] == "ValidationError" and "commit refused" in refused["error"]["message"]

        # the journal restores the overlay after a restart (not active: recalled by hand)
        log = [(seq, wire) for seq, wire in s.take_log()]
        snap = s.snapshot()
        assert snap is not None
        journal += s.take_overlays()
        heads = {oid: data for kind, oid, _seq, data in journal if kind == "head"}
        ops = {(oid, seq): data for kind, oid, seq, data in journal if kind == "op"}
        reopened = await Session.open(ident, to_ws(s), snap[1], snap[0], log, nacl_env,
                                      overlays=list(heads.values()), overlay_ops=list(ops.values()))
        status = await call(reopened, "status")
        assert status["overlay"] is None and status["overlays_waiting"] == 1
        (saved,) = (await call(reopened, "staging"))["overlays"]
        assert saved["status"] == "stashed" and saved["op_count"] == 2

        s.take_overlays()
        await call(s, "stage_keep_mine", record=rid, field=role)
        assert (await call(s, "staging"))["drift"] == []
        assert [k for k, _i, _s, _d in s.take_overlays()] == ["op"]  # only the acknowledged row is rewritten
        await call(s, "stage_use_canonical", record=rid, field=email)  # knockout: email not committed
        assert [k for k, _i, _s, _d in s.take_overlays()] == ["drop_op"]
        await call(s, "undo")  # steps back through staged edits: the role edit goes, and comes back
        assert [k for k, _i, _s, _d in s.take_overlays()] == ["drop_op"]
        await call(s, "redo")
        assert [k for k, _i, _s, _d in s.take_overlays()] == ["op"]
        result = await call(s, "stage_commit")
        assert result["committed"]
        assert len(s.take_log()) == 1 and [k for k, _i, _s, _d in s.take_overlays()] == ["drop"]
        record = await call(s, "record", record=rid)
        assert record["values"][role] == "Director" and email not in record["values"]
        assert (await call(s, "status"))["overlay"] is None

    run(scenario())


def to_ws(s: Session) -> str:
    from openprod.ids import to_str

    return to_str(s.ws.workspace_id)


def test_csv_import_preview_then_commit_or_discard() -> None:
    async def scenario() -> None:
        s, _peer, _rid = await two_people()
        text = "Name,Role,Email\nJane,Actor,jane@x.org\nKim,Designer,\nLee,,lee@x.org\n"
        seen: list[tuple[str, int, int]] = []
        s.set_progress(lambda kind, done, total: seen.append((kind, done, total)))
        preview = await call(s, "import_csv", table=CONTACTS, text=text)
        assert preview["new"] == 2 and preview["matched"] == 1
        assert preview["description"].startswith(
            "This will create 2 new Contacts. 1 row matches a record you already have")
        assert seen[-1] == ("import", 3, 3)
        assert s.take_log() == []
        rows = await call(s, "rows", table=CONTACTS)
        assert len(rows["rows"]) == 3 and sum(1 for f in rows["flags"].values() if f["new"]) == 2
        await call(s, "stage_discard")
        assert len((await call(s, "rows", table=CONTACTS))["rows"]) == 1
        await call(s, "import_csv", table=CONTACTS, text=text)
        await call(s, "stage_commit")
        assert len(s.take_log()) == 1  # the whole import is one bundle
        assert len((await call(s, "rows", table=CONTACTS))["rows"]) == 3
        bad = json.loads(await s.call("import_csv", json.dumps({"table": CONTACTS, "text": "Colour\nred\n"})))
        assert "none of the columns" in bad["error"]["message"]

    run(scenario())


def test_import_check_reports_problems_and_stages_nothing() -> None:
    async def scenario() -> None:
        s, _peer, _rid = await two_people()
        await call(s, "set_cell", record=_rid, field=f"{CONTACTS}.phone", value="555-0101")
        s.take_log()
        data = "Name,Phone,Role\r\nJane,555-0199,SM\r\nJos\xe9,1,Actor\r\nBo,\"2,Crew\r\n".encode("cp1252")
        checked = await call(s, "import_check", table=CONTACTS, data=base64.b64encode(data).decode())
        assert checked["encoding"] == "Windows-1252" and checked["problem_count"] == 1
        assert checked["problems"][0]["line"] == 4 and "never closed" in checked["problems"][0]["message"]
        assert checked["description"].endswith("Nothing has been imported.")
        refused = json.loads(await s.call("import_csv", json.dumps({"table": CONTACTS,
                                                                     "data": base64.b64encode(data).decode()})))
        assert refused["error"]["type"] == "ImportRefused"
        assert (await call(s, "status"))["overlay"] is None and s.take_log() == [] and s.take_overlays() == []
        fixed = data.replace(b'"2', b"2")
        checked = await call(s, "import_check", table=CONTACTS, data=base64.b64encode(fixed).decode())
        assert checked["problems"] == [] and checked["new"] == 2 and checked["matched"] == 1
        [match] = checked["matches"]
        assert match["label"] == "Jane" and [(c["field_name"], c["old"], c["new"]) for c in match["changes"]] == [
            ("Phone", "555-0101", "555-0199"), ("Role", None, "SM")]
        assert checked["match_names"] == ["Name"] and any(o["field_name"] == "Email" for o in checked["match_options"])
        none = await call(s, "import_check", table=CONTACTS, text="Name,Phone\nJane,1\n", match_on=[])
        assert none["new"] == 1 and none["matched"] == 0

    run(scenario())


def test_paste_a_block_all_or_nothing_and_large_pastes_are_staged() -> None:
    async def scenario() -> None:
        s, _peer, jane = await two_people()
        kim = (await call(s, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Kim"}))["id"]
        s.take_log()
        fields = [f"{CONTACTS}.{f}" for f in ("role", "department", "email", "phone")]
        block = "SM\tStage\tj@x\t1\r\nLX\tLights\tk@x\t2\r\nSND\tSound\ts@x\t3\r\n"
        refused = await call(s, "paste", table=CONTACTS, text=block, records=[jane, kim], fields=fields)
        assert [p["line"] for p in refused["problems"]] == [3]  # a new record would need a Name
        assert s.take_log() == []
        two = "\r\n".join(block.split("\r\n")[:2])
        done = await call(s, "paste", table=CONTACTS, text=two, records=[jane, kim], fields=fields)
        assert done["problems"] == [] and done["changed"] == 8 and done["created"] == [] and len(s.take_log()) == 1
        row = (await call(s, "record", record=kim))["values"]
        assert [row.get(f) for f in fields] == ["LX", "Lights", "k@x", "2"]
        bad = await call(s, "paste", table=CONTACTS, text="\tSM\n", records=[jane],
                         fields=[f"{CONTACTS}.name", f"{CONTACTS}.role"])
        assert "required" in bad["problems"][0]["message"] and s.take_log() == []
        wide = await call(s, "paste", table=CONTACTS, text="a\tb\tc\n", records=[jane], fields=fields[2:])
        assert "3 columns wide" in wide["problems"][0]["message"]
        ok = await call(s, "paste", table=CONTACTS, text="Ann\tSM\nKimberly\tLX\nSam\tSND\n",
                        records=[jane, kim], fields=[f"{CONTACTS}.name", f"{CONTACTS}.role"])
        assert ok["problems"] == [] and ok["changed"] == 2 and len(ok["created"]) == 1 and not ok["staged"]
        assert len(s.take_log()) == 1  # one bundle
        names = sorted(r["values"][f"{CONTACTS}.name"] for r in (await call(s, "rows", table=CONTACTS))["rows"])
        assert names == ["Ann", "Kimberly", "Sam"]
        many = "".join(f"Person {i}\tCrew\n" for i in range(30))
        big = await call(s, "paste", table=CONTACTS, text=many, records=[],
                         fields=[f"{CONTACTS}.name", f"{CONTACTS}.role"])
        assert big["staged"] and len(big["created"]) == 30 and s.take_log() == []
        assert (await call(s, "status"))["overlay"]["id"] == big["overlay"]
        filled = await call(s, "fill_down", records=[jane, kim], fields=[f"{CONTACTS}.role"])
        assert filled["changed"] == 1

    run(scenario())


def test_old_cue_number_fields_are_upgraded_keeping_values() -> None:
    async def scenario() -> None:
        from openprod import starter_manifests

        s = await Session.create(generate_identity("Alice").to_json(), "Show", [], nacl_env)
        old = re.sub(r'version = "[^"]+"', 'version = "1.1.0"',
                     starter_manifests()["lighting"].replace('type = "cue"', 'type = "number"'), count=1)
        async with writes.transaction(s.ws, kind="module") as tx:
            tx.adopt_module(old)
        number = "lighting.LightingCues.cue_number"
        cue = (await call(s, "create_record", table="lighting.LightingCues", values={number: "10.5"}))["id"]
        assert (await call(s, "info"))["upgrades"] == ["lighting"]
        refused = json.loads(await s.call("set_cell", json.dumps({"record": cue, "field": number, "value": "17A"})))
        assert "not a number" in refused["error"]["message"]
        s.take_log()
        assert (await call(s, "upgrade_modules"))["upgraded"] == ["Lighting"]
        assert len(s.take_log()) == 1 and (await call(s, "info"))["upgrades"] == []
        assert (await call(s, "record", record=cue))["values"][number] == 10.5  # kept
        assert (await call(s, "set_cell", record=cue, field=number, value="17A"))["value"] == "17A"

    run(scenario())


def test_links_and_ordered_lists() -> None:
    async def scenario() -> None:
        s, _peer, jane = await two_people()
        scene = (await call(s, "create_record", table="scenes.Scenes",
                            values={"scenes.Scenes.title": "Balcony"}))["id"]
        links = await call(s, "links", record=jane)
        section = next(x for x in links["sections"] if x["edge_type"] == "scenes.appears_in")
        assert section["direction"] == "out" and [c["label"] for c in section["candidates"]] == ["Balcony"]
        edge = (await call(s, "link", edge_type="scenes.appears_in", source=jane, target=scene,
                           properties={"character": "Juliet", "has_quick_change": "yes"}))["id"]
        back = await call(s, "links", record=scene)
        incoming = next(x for x in back["sections"] if x["direction"] == "in")
        assert incoming["edges"][0]["other"]["label"] == "Jane"
        assert incoming["edges"][0]["properties"] == {"character": "Juliet", "has_quick_change": True}
        await call(s, "set_edge_property", edge=edge, key="entrance", value="SL")
        cue_list = (await call(s, "create_record", table="lighting.CueLists",
                               values={"lighting.CueLists.name": "Act 1"}))["id"]
        cues = [(await call(s, "create_record", table="lighting.LightingCues",
                            values={"lighting.LightingCues.cue_number": n}))["id"] for n in (1, 2, 3)]
        for cue in cues:
            await call(s, "link", edge_type="lighting.in_cue_list", source=cue, target=cue_list)
        lists = await call(s, "links", record=cue_list)
        ordered = next(x for x in lists["sections"] if x["ordered"] and x["direction"] == "in")
        order = [e["id"] for e in ordered["edges"]]
        assert [e["other"]["id"] for e in ordered["edges"]] == cues
        await call(s, "move_edge", edge=order[2], before=order[0])  # cue 3 to the top
        ordered = next(x for x in (await call(s, "links", record=cue_list))["sections"] if x["ordered"]
                       and x["direction"] == "in")
        assert [e["other"]["id"] for e in ordered["edges"]] == [cues[2], cues[0], cues[1]]
        await call(s, "unlink", edge=edge)
        assert next(x for x in (await call(s, "links", record=scene))["sections"]
                    if x["direction"] == "in")["edges"] == []

    run(scenario())


def test_a_record_already_in_a_list_is_not_offered_that_list_again() -> None:
    """An ordered list holds a cue once: the cue's "Add to list" offers only the lists it is not in,
    and the list's "Add to this list" only the cues not in it yet; plain links are still offered again
    (a performer can play two characters in one scene)."""
    async def scenario() -> None:
        s, _peer, jane = await two_people()

        def section(links: dict[str, Any], edge_type: str, direction: str) -> dict[str, Any]:
            return next(x for x in links["sections"] if x["edge_type"] == edge_type and x["direction"] == direction)

        lists = {name: (await call(s, "create_record", table="lighting.CueLists",
                                   values={"lighting.CueLists.name": name}))["id"] for name in ("Act 1", "Act 2")}
        cues = [(await call(s, "create_record", table="lighting.LightingCues",
                            values={"lighting.LightingCues.cue_number": n}))["id"] for n in ("1", "2")]
        await call(s, "link", edge_type="lighting.in_cue_list", source=cues[0], target=lists["Act 1"])
        mine = section(await call(s, "links", record=cues[0]), "lighting.in_cue_list", "out")
        assert [e["other"]["label"] for e in mine["edges"]] == ["Act 1"]
        assert [c["label"] for c in mine["candidates"]] == ["Act 2"]
        other = section(await call(s, "links", record=cues[1]), "lighting.in_cue_list", "out")
        assert sorted(c["label"] for c in other["candidates"]) == ["Act 1", "Act 2"]
        act1 = section(await call(s, "links", record=lists["Act 1"]), "lighting.in_cue_list", "in")
        assert [c["id"] for c in act1["candidates"]] == [cues[1]]
        await call(s, "link", edge_type="lighting.in_cue_list", source=cues[0], target=lists["Act 2"])
        assert section(await call(s, "links", record=cues[0]), "lighting.in_cue_list", "out")["candidates"] == []
        scene = (await call(s, "create_record", table="scenes.Scenes", values={"scenes.Scenes.title": "Ball"}))["id"]
        await call(s, "link", edge_type="scenes.appears_in", source=jane, target=scene,
                   properties={"character": "Juliet"})
        again = section(await call(s, "links", record=jane), "scenes.appears_in", "out")
        assert [c["label"] for c in again["candidates"]] == ["Ball"]

    run(scenario())


def test_crdt_text_and_list_fields() -> None:
    async def scenario() -> None:
        s, peer, _rid = await two_people()
        notes, tags = "reports.Reports.notes", "reports.Reports.tags"
        info = await call(s, "info")
        fields = {f["id"]: f for t in info["tables"] for f in t["fields"]}
        assert fields[notes]["editable"] and fields[notes]["crdt"] == "text"
        values = {"reports.Reports.title": "Rehearsal 1", notes: "Started late.", tags: "act 1, tech"}
        rid = (await call(s, "create_record", table="reports.Reports", values=values))["id"]
        record = await call(s, "record", record=rid)
        assert record["values"][notes] == "Started late." and record["values"][tags] == ["act 1", "tech"]
        await peer.pull()
        await call(s, "set_cell", record=rid, field=notes, value="Started late. Good run.")
        await peer.set_text(rid, notes, "Props: Started late.")
        await deliver(s, peer)
        merged = (await call(s, "record", record=rid))["values"][notes]
        assert "Props:" in merged and "Good run." in merged  # both kept, no conflict
        assert (await call(s, "conflicts"))["conflicts"] == []

    run(scenario())


def test_record_search_names_records_as_messages_do() -> None:
    """The record picker ("Same person as…", "Show another record's value") names each record as
    every message does, a cue nobody labelled as "Cue 17A", and finds it by that name."""
    async def scenario() -> None:
        s = await Session.create(generate_identity("Alice").to_json(), "Show", ["contacts", "lighting"], nacl_env)
        cues = "lighting.LightingCues"
        jane = (await call(s, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane Doe"}))["id"]
        bare = (await call(s, "create_record", table=cues, values={f"{cues}.cue_number": "17A"}))["id"]
        looked = (await call(s, "create_record", table=cues,
                             values={f"{cues}.cue_number": "18", f"{cues}.label": "Sunset"}))["id"]
        found = (await call(s, "find_records", search=""))["records"]
        assert {r["id"]: r["label"] for r in found} == {jane: "Jane Doe", bare: "Cue 17A", looked: "Sunset"}
        assert all(r["label"] == s.ws.records.label(r["id"]) for r in found)
        assert [r["id"] for r in (await call(s, "find_records", search="cue 17a"))["records"]] == [bare]
        assert [r["id"] for r in (await call(s, "find_records", search="SUN", exclude=looked))["records"]] == []
        assert (await call(s, "find_records", search="nobody"))["records"] == []
        named = s._named_records()
        assert s._named_records() is named  # read once while nothing changes…
        await call(s, "set_cell", record=bare, field=f"{cues}.label", value="Storm")
        assert [r["label"] for r in (await call(s, "find_records", search="storm"))["records"]] == ["Storm"]
        added = (await call(s, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Nobody Else"}))["id"]
        assert [r["id"] for r in (await call(s, "find_records", search="nobody"))["records"]] == [added]  # …not stale

    run(scenario())
