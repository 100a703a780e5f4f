"""Workspace backups (web/py/openprod_web/backup.py) on CPython: a restore on a fresh device reaches the
exact state hash; a file that is not a backup, a newer format, another workspace, an edited or truncated
backup restore nothing and say why."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session, read_backup
from openprod_web.backup import FORMAT, VERSION
from worker_helpers import CONTACTS, call, nacl_env, run

from openprod.encoding import decode, encode
from openprod.signer_nacl import generate_identity


async def _workspace() -> tuple[Session, str]:
    alice = await Session.create(generate_identity("Alice").to_json(), "Hamlet", ["contacts", "lighting"], nacl_env)
    rid = (await call(alice, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane"}))["id"]
    for n in range(5):
        await call(alice, "set_cell", record=rid, field=f"{CONTACTS}.phone", value=f"555-010{n}")
    await call(alice, "stage_start", name="draft")  # staged edits are drafts: never in a backup
    await call(alice, "set_cell", record=rid, field=f"{CONTACTS}.role", value="Staged only")
    ws_id: str = (await call(alice, "info"))["workspace_id"]
    return alice, ws_id


async def _restore(data: bytes, ws_id: str) -> tuple[Session, dict[str, Any]]:
    bob = await Session.join(generate_identity("Bob").to_json(), ws_id, nacl_env)
    return bob, json.loads(await bob.restore_backup(data))


def test_a_backup_restored_on_a_fresh_device_has_the_same_state_hash() -> None:
    async def scenario() -> None:
        alice, ws_id = await _workspace()
        data = alice.export_backup(1_800_000_000_000)
        doc = decode(data)
        assert doc["format"] == FORMAT and doc["version"] == VERSION == 1 and doc["workspace"] == ws_id
        assert doc["name"] == "Hamlet" and doc["exported_by"]["name"] == "Alice"
        assert len(doc["bundles"]) == 2 + 1 + 5  # workspace, modules, Jane, five phone edits; no staged edit
        summary = json.loads(read_backup(data))["ok"]
        assert summary["bundles"] == 8 and summary["workspace"] == ws_id

        bob, out = await _restore(data, ws_id)
        assert out["ok"]["restored_hash"] == alice.ws.state_hash() == doc["state_hash"]
        assert len(bob.take_log()) == 8  # all of it goes to the new device's log, like a catch-up
        rows = (await call(bob, "rows", table=CONTACTS))["rows"]
        assert [r["values"][f"{CONTACTS}.phone"] for r in rows] == ["555-0104"]
        assert f"{CONTACTS}.role" not in rows[0]["values"]

    run(scenario())


def test_files_that_cannot_be_restored_say_why_and_restore_nothing() -> None:
    async def scenario() -> None:
        alice, ws_id = await _workspace()
        data = alice.export_backup(1_800_000_000_000)
        doc = decode(data)

        def error(blob: bytes) -> str:
            out = json.loads(read_backup(blob))
            assert out["error"]["type"] == "BackupError"
            message: str = out["error"]["message"]
            return message

        assert error(b"Name,Phone\nJane,555\n").startswith("This file is not an Openprod backup")
        assert error(data[: len(data) // 2]).startswith("This file is not an Openprod backup")
        assert error(encode({"format": "something-else", "version": 1})) == "This file is not an Openprod backup."
        assert "newer version of Openprod (format 2)" in error(encode({**doc, "version": 2}))
        assert "holds no changes" in error(encode({**doc, "bundles": []}))
        assert "which workspace" in error(encode({**doc, "workspace": "not-an-id"}))

        # an edited change: its signature no longer matches, so nothing is restored
        tampered = list(doc["bundles"])
        last = bytearray(tampered[-1])
        last[-3] ^= 0x01
        tampered[-1] = bytes(last)
        _bob, out = await _restore(encode({**doc, "bundles": tampered}), ws_id)
        assert out["error"]["message"].startswith("This backup is damaged: change 8 of 8 did not pass its check")

        # a change left out (the file cut short by hand): the state check catches it
        _bob, out = await _restore(encode({**doc, "bundles": doc["bundles"][:-1]}), ws_id)
        assert "does not match the backup" in out["error"]["message"]

        # another workspace's replica cannot take it
        other = await Session.create(generate_identity("Cy").to_json(), "Other", ["contacts"], nacl_env)
        other_id = (await call(other, "info"))["workspace_id"]
        _bob, out = await _restore(data, other_id)
        assert out["error"]["message"] == "This backup holds another workspace."

    run(scenario())
