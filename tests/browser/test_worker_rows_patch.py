"""The worker's grid read since a mark (openprod_web.session `m_rows(since=...)`) on CPython: a patch
of the records written since, or a whole read whenever the patch could be wrong (staging, another
session's mark, an op that changes other records). The browser side: test_grid_patch.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session
from worker_helpers import CONTACTS, call, nacl_env, run

from openprod.signer_nacl import generate_identity

NAME = f"{CONTACTS}.name"


def test_a_read_since_a_mark_is_a_patch_until_it_cannot_be() -> None:
    async def scenario() -> None:
        s = await Session.create(generate_identity("Alice").to_json(), "Show", ["contacts"], nacl_env)
        ids = [(await call(s, "create_record", table=CONTACTS, values={NAME: f"P{i}"}))["id"] for i in range(30)]
        whole = await call(s, "rows", table=CONTACTS)
        assert len(whole["rows"]) == 30 and whole["mark"] and "patch" not in whole
        await call(s, "set_cell", record=ids[4], field=NAME, value="Jane")
        patch = await call(s, "rows", table=CONTACTS, since=whole["mark"])
        assert patch["patch"] and [r["values"][NAME] for r in patch["rows"]] == ["Jane"]
        assert patch["gone"] == [] and patch["ids"] is None
        await call(s, "delete_record", record=ids[5])
        patch2 = await call(s, "rows", table=CONTACTS, since=patch["mark"])
        assert patch2["rows"] == [] and patch2["gone"] == [ids[5]] and len(patch2["ids"]) == 29

        # staging: staged edits are not in the oplog, so reads are whole (and give no mark)
        await call(s, "stage_start", name="Try")
        await call(s, "set_cell", record=ids[6], field=NAME, value="Staged")
        staged = await call(s, "rows", table=CONTACTS, since=patch2["mark"])
        assert "patch" not in staged and staged["mark"] is None and len(staged["rows"]) == 29
        await call(s, "stage_discard")
        after = await call(s, "rows", table=CONTACTS, since=patch2["mark"])  # a mark from before staging
        assert "patch" not in after and after["mark"]
        assert (await call(s, "rows", table=CONTACTS, since="other:0:1")).get("patch") is None
        assert (await call(s, "stats"))["rows_read"] == 30 + 1 + 0 + 29 + 29 + 29

    run(scenario())
