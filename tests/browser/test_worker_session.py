"""The worker's Python half (web/py/openprod_web) on CPython: log order, snapshots, JSON API.

The same code runs in the browser worker under Pyodide with the WebCrypto signer; here PyNaCl
signs, so these run in milliseconds without a browser.
"""

from __future__ import annotations

import asyncio
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session, coerce_input

from openprod import Env, Identity, ValidationError
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity

CONTACTS = "contacts.Contacts"


async def nacl_env(identity: Identity) -> Env:
    return Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=identity.display_name)


def run(coro: Any) -> Any:
    """asyncio.run in its own thread: Playwright's sync API keeps a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def call(session: Session, method: str, **args: Any) -> Any:
    out = json.loads(await session.call(method, json.dumps(args)))
    if "error" in out:
        raise AssertionError(out["error"])
    return out["ok"]


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
