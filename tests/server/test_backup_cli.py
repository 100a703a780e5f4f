"""`openprod export` / `import` / `inspect` (server/openprod_server/cli_lifecycle.py over core/openprod/backup.py).

A backup restored on a new device with another identity reaches the exporting device's state hash,
with every author's signature kept; every refusal is one line, and leaves no workspace file (and no
temporary file) behind; CSV per table; the oplog and the quarantine, inspected for recovery work."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

pytest.importorskip("nacl")

from openprod import Env, Identity, Workspace, connect
from openprod.backup import FORMAT, BackupError, decode_backup, verify_backup
from openprod.encoding import decode, encode
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity
from openprod_server.cli import main

CONTACTS = "contacts.Contacts"


def _env(identity: Identity) -> Env:
    return Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=identity.display_name)


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _identity(tmp_path: Path, name: str) -> tuple[Path, Identity]:
    made = generate_identity(name)
    path = tmp_path / f"{name.lower()}.json"
    path.write_text(made.to_json())
    return path, made


@pytest.fixture
def show(tmp_path: Path) -> dict[str, object]:
    """Alice's workspace file, with Bob's changes synced in (two authors, both signatures in the oplog)."""
    alice_path, alice = _identity(tmp_path, "Alice")
    _bob_path, bob = _identity(tmp_path, "Bob")
    db = tmp_path / "show.db"
    assert cli("init", "--db", db, "--identity", alice_path, "--name", "Hamlet", "--module", "contacts").exit_code == 0
    ws = Workspace.open(connect(str(db)), _env(alice))
    jane = ws.create_record(CONTACTS, {f"{CONTACTS}.name": "Jane, \"JJ\"", f"{CONTACTS}.phone": "555-0100"})
    ws.create_record(CONTACTS, {f"{CONTACTS}.name": "Omar"})
    replica = Workspace.join(connect(":memory:"), _env(bob), ws.workspace_id)
    replica.ingest_many([b.wire for b in ws.oplog.bundles()])
    replica.set_field(jane, f"{CONTACTS}.role", "Stage Manager")
    ws.ingest_many([b.wire for b in replica.oplog.bundles()])
    expected = ws.state_hash()
    ws_id = ws.workspace_id
    ws.close()
    return {"db": db, "alice": alice_path, "bob": bob, "hash": expected, "ws_id": ws_id, "tmp": tmp_path}


def _export(show: dict[str, object], name: str = "show.openprod-backup") -> Path:
    out = Path(str(show["tmp"])) / name
    result = cli("export", "--db", show["db"], "--identity", show["alice"], "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_a_backup_restores_on_a_new_device_with_the_same_state_hash(show: dict[str, object], tmp_path: Path) -> None:
    out = _export(show)
    doc = decode(out.read_bytes())
    assert doc["format"] == FORMAT and doc["state_hash"] == show["hash"]
    authors = {decode(decode(w)[0])["actor"] for w in doc["bundles"]}
    assert len(authors) == 2  # Alice's and Bob's changes, each with its author's signature
    verify_backup(decode_backup(out.read_bytes()), NaclVerifier())

    carol_path, carol = _identity(tmp_path, "Carol")
    restored = tmp_path / "laptop" / "restored.db"
    restored.parent.mkdir()
    result = cli("import", "--in", out, "--db", restored, "--identity", carol_path)
    assert result.exit_code == 0, result.output
    assert f'"restored_hash": "{show["hash"]}"' in result.output
    ws = Workspace.open(connect(str(restored)), _env(carol))
    assert ws.state_hash() == show["hash"] and ws.workspace_id == show["ws_id"]
    names = sorted(str(r.values[f"{CONTACTS}.name"]) for r in ws.records.all(CONTACTS))
    assert names == ["Jane, \"JJ\"", "Omar"]
    ws.close()
    assert sorted(p.name for p in restored.parent.iterdir()) == ["restored.db"]  # no temporary file left


def _tampered(doc: dict[str, object], **changes: object) -> bytes:
    return encode({**doc, **changes})


def _refused_import(show: dict[str, object], data: bytes, name: str) -> str:
    tmp = Path(str(show["tmp"]))
    source = tmp / f"{name}.openprod-backup"
    source.write_bytes(data)
    target_dir = tmp / f"target-{name}"
    target_dir.mkdir()
    line = error_line(cli("import", "--in", source, "--db", target_dir / "new.db", "--identity", show["alice"]))
    assert list(target_dir.iterdir()) == [], "a refused backup writes nothing"
    return line


def test_a_tampered_backup_is_refused_with_a_reason_and_nothing_written(show: dict[str, object]) -> None:
    data = _export(show).read_bytes()
    doc = decode(data)
    bundles: list[bytes] = list(doc["bundles"])

    # a signature altered: refused before any file is made
    header, signature, ops = decode(bundles[-1])
    forged = bytes([signature[0] ^ 1]) + signature[1:]
    line = _refused_import(show, _tampered(doc, bundles=[*bundles[:-1], encode([header, forged, ops])]), "sig")
    assert line.startswith(f"Error: This backup is damaged: change {len(bundles)} of {len(bundles)} did not pass "
                           "its check (bad_signature: its signature does not match its author")

    # an operation's content altered: its hash no longer matches the signed header
    at = next(i for i, wire in enumerate(bundles) if b"Omar" in wire)
    header, signature, ops = decode(bundles[at])
    changed = [bytes(op).replace(b"Omar", b"Omaz") for op in ops]
    line = _refused_import(show, _tampered(doc, bundles=[*bundles[:at], encode([header, signature, changed]),
                                                         *bundles[at + 1:]]), "op")
    assert f"change {at + 1} of" in line and "did not pass its check" in line

    # a change left out: every remaining signature is good, the state check refuses it after the trial restore
    line = _refused_import(show, _tampered(doc, bundles=bundles[:-1]), "short")
    assert line == ("Error: The restored workspace does not match the backup (some changes are missing or were "
                    "altered). Nothing was restored.")

    # a change from another workspace slipped in
    _other_path, other = _identity(Path(str(show["tmp"])), "Zed")
    stranger = Workspace.create(connect(":memory:"), _env(other), "Other show")
    foreign = next(iter(stranger.oplog.bundles())).wire
    line = _refused_import(show, _tampered(doc, bundles=[*bundles, foreign]), "foreign")
    assert "(wrong_workspace: it belongs to another workspace)" in line

    # the state hash edited by hand
    line = _refused_import(show, _tampered(doc, state_hash="0" * 64), "hash")
    assert "does not match the backup" in line

    assert _refused_import(show, b"Name,Phone\nJane,555\n", "csv").startswith(
        "Error: This file is not an Openprod backup")
    assert "newer version of Openprod (format 2)" in _refused_import(show, _tampered(doc, version=2), "v2")
    assert "holds no changes" in _refused_import(show, _tampered(doc, bundles=[]), "empty")
    assert "which workspace" in _refused_import(show, _tampered(doc, workspace=7), "wsid")


def test_import_and_export_refuse_bad_arguments_and_change_nothing(show: dict[str, object], tmp_path: Path) -> None:
    out = _export(show)
    before = out.read_bytes()
    assert error_line(cli("export", "--db", show["db"], "--identity", show["alice"], "--out", out)) == \
        f"Error: {out} already exists; not overwriting it"
    assert out.read_bytes() == before
    assert error_line(cli("export", "--db", show["db"], "--identity", show["alice"])).startswith(
        "Error: say what to export")
    missing = tmp_path / "nope.db"
    assert error_line(cli("export", "--db", missing, "--identity", show["alice"], "--out", tmp_path / "x")) == \
        f"Error: no workspace file at {missing}; create one with `openprod init` or `openprod join`"
    assert not (tmp_path / "x").exists()

    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    assert error_line(cli("import", "--in", out, "--db", existing, "--identity", show["alice"])) == \
        f"Error: {existing} already exists; restore into a new file"
    assert existing.read_bytes() == b"keep me"
    line = error_line(cli("import", "--in", tmp_path / "absent", "--db", tmp_path / "n.db", "--identity",
                          show["alice"]))
    assert line.startswith(f"Error: cannot read {tmp_path / 'absent'}")
    line = error_line(cli("import", "--in", out, "--db", tmp_path / "n.db", "--identity", tmp_path / "who.json"))
    assert line.startswith(f"Error: no identity file at {tmp_path / 'who.json'}")
    assert not (tmp_path / "n.db").exists()


def test_csv_export_writes_one_file_per_table_and_never_overwrites(show: dict[str, object], tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    result = cli("export", "--db", show["db"], "--identity", show["alice"], "--csv", folder)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in folder.iterdir())
    assert "contacts.Contacts.csv" in files
    rows = list(csv.reader(io.StringIO((folder / "contacts.Contacts.csv").read_text())))
    header = rows[0]
    by_name = {r[header.index("Name")]: r for r in rows[1:]}
    assert sorted(by_name) == ["Jane, \"JJ\"", "Omar"]
    assert by_name["Jane, \"JJ\""][header.index("Role")] == "Stage Manager"

    (folder / "contacts.Contacts.csv").write_text("mine")
    line = error_line(cli("export", "--db", show["db"], "--identity", show["alice"], "--csv", folder))
    assert line.startswith(f"Error: {folder} already holds contacts.Contacts.csv; not overwriting them")
    assert (folder / "contacts.Contacts.csv").read_text() == "mine"


def test_inspect_shows_the_oplog_by_author_and_the_quarantine(show: dict[str, object]) -> None:
    import json

    alice = Identity.from_json(Path(str(show["alice"])).read_text())
    ws = Workspace.open(connect(str(show["db"])), _env(alice))
    wires = [b.wire for b in ws.oplog.bundles()]
    header, _signature, ops = decode(wires[-1])
    forged = encode([header, bytes(64), ops])
    ws.close()
    outsider = Workspace.join(connect(":memory:"), _env(generate_identity("Dee")), show["ws_id"])  # type: ignore[arg-type]
    outsider.ingest_many(wires[:-1])
    ws = Workspace.open(connect(str(show["db"])), _env(alice))
    assert ws.ingest(b"\x00not a bundle", source="usb stick").status == "rejected"
    ws.close()

    result = cli("inspect", "--db", show["db"], "--identity", show["alice"], "--bundles")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["name"] == "Hamlet" and report["oplog"]["bundles"] == len(wires)
    names = sorted(a["name"] for a in report["authors"].values())
    assert names == ["Alice", "Bob"]
    assert [q["reason"] for q in report["quarantine"]] == ["malformed"]
    assert report["quarantine"][0]["source"] == "usb stick"
    assert len(report["bundles"]) == len(wires) and report["bundles"][0]["kind"] == "workspace"

    # a backup checked without opening anything
    backup = _export(show, "b.openprod-backup")
    ok = json.loads(cli("inspect", "--backup", backup).output)
    assert ok["signatures"] == "all valid" and ok["name"] == "Hamlet"
    doc = decode(backup.read_bytes())
    bad = backup.with_name("bad.openprod-backup")
    bad.write_bytes(encode({**doc, "bundles": [*doc["bundles"][:-1], forged]}))
    report = json.loads(cli("inspect", "--backup", bad).output)
    assert report["signatures"] == "damaged" and "bad_signature" in report["problem"]
    assert error_line(cli("inspect")) == "Error: inspect one thing: --db FILE (with --identity) or --backup FILE"
    assert error_line(cli("inspect", "--db", show["db"])) == "Error: --db needs --identity (your identity file)"


def test_decode_backup_refuses_a_boolean_version_and_a_non_map() -> None:
    with pytest.raises(BackupError, match="no valid format version"):
        decode_backup(encode({"format": FORMAT, "version": True}))
    with pytest.raises(BackupError, match=r"^This file is not an Openprod backup\.$"):
        decode_backup(encode([1, 2, 3]))
