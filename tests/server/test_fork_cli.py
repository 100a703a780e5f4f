"""`openprod fork` and `openprod template save|use` (server/openprod_server/cli_lifecycle.py, core/openprod/fork.py):
real files, one-line refusals that leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

pytest.importorskip("nacl")

from openprod import Env, Identity, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity
from openprod_server.cli import main


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def out(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _identity(folder: Path, name: str) -> tuple[Path, Identity]:
    made = generate_identity(name)
    path = folder / f"{name.lower()}.json"
    path.write_text(made.to_json())
    return path, made


def _open(db: Path, identity: Identity) -> Workspace:
    return Workspace.open(connect(str(db)), Env(signer=NaclSigner(identity), verifier=NaclVerifier(),
                                                display_name=identity.display_name))


def test_template_use_fork_and_template_save(tmp_path: Path) -> None:
    sam_path, sam = _identity(tmp_path, "Sam")
    show = tmp_path / "macbeth.db"
    made = out(cli("template", "use", "stage-management", "--db", show, "--identity", sam_path, "--name", "Macbeth"))
    assert made["template"] == "Stage Management" and made["records"] == 7
    assert len(str(made["recovery_words"]).split()) == 12
    ws = _open(show, sam)
    assert ws.name == "Macbeth" and len(ws.mappings.confirmed()) == 5 and ws.settings.recovery_key
    ws.close()

    tour = tmp_path / "tour.db"
    tm_path, tm = _identity(tmp_path, "Tour")
    forked = out(cli("fork", "--db", show, "--identity", tm_path, "--out", tour, "--name", "Macbeth tour"))
    assert forked["forked_from"] == made["workspace"] and forked["workspace"] != made["workspace"]
    assert forked["records"] == 7 and forked["links"] == 5
    fork_ws = _open(tour, tm)
    assert fork_ws.name == "Macbeth tour" and fork_ws.settings.owner == tm.actor_id
    assert len(fork_ws.records.all("contacts.Contacts")) == 3
    fork_ws.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["macbeth.db", "tour.db"]

    template = tmp_path / "macbeth.openprod-template"
    saved = out(cli("template", "save", "--db", show, "--identity", sam_path, "--out", template, "--no-records"))
    assert saved["records"] == 0 and saved["mappings"] == 5
    next_show = tmp_path / "next.db"
    used = out(cli("template", "use", template, "--db", next_show, "--identity", sam_path, "--name", "Next"))
    assert used["records"] == 0


def test_refusals_leave_nothing_behind(tmp_path: Path) -> None:
    sam_path, _sam = _identity(tmp_path, "Sam")
    show = tmp_path / "show.db"
    out(cli("template", "use", "stage-management", "--db", show, "--identity", sam_path, "--name", "Show"))
    before = show.read_bytes()
    assert error_line(cli("template", "use", "stage-management", "--db", show, "--identity", sam_path,
                          "--name", "Again")) == f"Error: {show} already exists; choose a new file"
    assert error_line(cli("fork", "--db", show, "--identity", sam_path, "--out", show)) == \
        f"Error: {show} already exists; choose a new file"
    assert show.read_bytes() == before

    folder = tmp_path / "new"
    folder.mkdir()
    bad = tmp_path / "contacts.csv"
    bad.write_text("Name,Phone\n")
    assert error_line(cli("template", "use", bad, "--db", folder / "x.db", "--identity", sam_path, "--name", "X")) \
        == "Error: This file is not an Openprod template (it could not be read as one)."
    line = error_line(cli("template", "use", tmp_path / "missing.tpl", "--db", folder / "x.db", "--identity",
                          sam_path, "--name", "X"))
    assert line.startswith(f"Error: cannot read template {tmp_path / 'missing.tpl'}")
    assert error_line(cli("template", "use", "stage-management", "--db", folder / "x.db", "--identity", sam_path,
                          "--name", "  ")).startswith("Error: ")
    assert list(folder.iterdir()) == []
