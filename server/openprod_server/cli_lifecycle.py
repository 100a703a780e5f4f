"""`openprod export`, `openprod import` and `openprod inspect`: a workspace's files, kept and looked into.

    openprod export  --db show.db --identity me.json --out show.openprod-backup   the whole workspace, signed
    openprod export  --db show.db --identity me.json --csv DIR                     one CSV file per table
    openprod import  --in show.openprod-backup --db new.db --identity me.json      restore on a new device
    openprod inspect --db show.db --identity me.json [--bundles]                   oplog and quarantine
    openprod inspect --backup show.openprod-backup                                 what a backup holds
    openprod recover --db show.db --identity new.json --workspace ID --words "..."  become the owner
    openprod fork    --db show.db --identity me.json --out tour.db [--name "Hamlet tour"]
    openprod template save --db show.db --identity me.json --out show.openprod-template [--no-records]
    openprod template use  stage-management|FILE --db new.db --identity me.json --name "Macbeth"

A separate module so `cli.py` (the relay and sync commands) stays one concern; `cli.py` adds these
commands to its group. Nothing is ever half written: files are written under a temporary name and
renamed into place, existing files are never overwritten, and a backup that fails any check leaves
no workspace file behind (the restore happens in a temporary file that is removed).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from openprod import Workspace, connect
from openprod.backup import BackupError, decode_backup, encode_backup_v1, restore, verify_backup
from openprod.errors import OpenprodError
from openprod.export import to_csv

_FILE_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _base() -> Any:
    """The shared helpers of cli.py (imported late: cli.py imports this module to register it)."""
    from . import cli

    return cli


def _write_new(path: Path, data: bytes) -> None:
    """Write `path`, which must not exist, all at once: a temporary file renamed into place."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            raise click.ClickException(f"{path} already exists; not overwriting it")
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _hlc_time(hlc: bytes) -> str:
    return _when(int.from_bytes(hlc[:8], "big"))


def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def csv_files(ws: Workspace) -> dict[str, str]:
    """File name -> CSV text, one per table of the workspace's schema."""
    files: dict[str, str] = {}
    for table_id in sorted(ws.schema.tables):
        name = _FILE_SAFE.sub("_", table_id).strip("._") or "table"
        files[f"{name}.csv"] = to_csv(ws.views.run(ws.views.table(table_id)))
    return files


@click.command("export")
@click.option("--db", type=click.Path(path_type=Path), required=True, help="The local workspace file.")
@click.option("--identity", "identity_path", type=click.Path(path_type=Path), required=True,
              help="Your identity file (from `openprod identity create`).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write a backup of the whole workspace to this new file (every change, with its signature).")
@click.option("--csv", "csv_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write one CSV file per table into this directory (created if missing).")
def export_command(db: Path, identity_path: Path, out: Path | None, csv_dir: Path | None) -> None:
    """Export a workspace: a backup file another device can restore, and/or CSV files per table."""
    cli = _base()
    if out is None and csv_dir is None:
        raise click.ClickException("say what to export: --out FILE for a backup, --csv DIR for CSV files, or both")
    if out is not None and out.exists():
        raise click.ClickException(f"{out} already exists; not overwriting it")
    ws = cli._open(db, identity_path)
    try:
        report: dict[str, Any] = {"workspace": str(uuid.UUID(bytes=ws.workspace_id))}
        files: dict[str, str] = {}
        if csv_dir is not None:
            files = csv_files(ws)
            taken = [name for name in files if (csv_dir / name).exists()]
            if taken:
                raise click.ClickException(f"{csv_dir} already holds {', '.join(taken)}; not overwriting them "
                                           "(choose an empty directory)")
        if out is not None:
            data = encode_backup_v1(ws, _now_ms(), ws.display_name)
            _write_new(out, data)
            report.update(backup=str(out), bytes=len(data), bundles=decode_backup(data).summary()["bundles"],
                          state_hash=ws.state_hash())
        if csv_dir is not None:
            try:
                csv_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise click.ClickException(f"cannot create {csv_dir} ({exc.strerror or exc})") from None
            for name, text in files.items():
                _write_new(csv_dir / name, text.encode("utf-8"))
            report.update(csv=str(csv_dir), tables=sorted(files))
    finally:
        ws.close()
    cli._emit(report)


def _sidecars(path: Path) -> Iterator[Path]:
    yield path
    for suffix in ("-wal", "-shm", "-journal"):
        yield path.with_name(path.name + suffix)


@click.command("import")
@click.option("--in", "source", type=click.Path(path_type=Path), required=True, help="The backup file to restore.")
@click.option("--db", type=click.Path(path_type=Path), required=True, help="The new workspace file to create.")
@click.option("--identity", "identity_path", type=click.Path(path_type=Path), required=True,
              help="Your identity file on this device (from `openprod identity create`).")
def import_command(source: Path, db: Path, identity_path: Path) -> None:
    """Restore a backup into a new workspace file; every change is checked, and the result must match."""
    from openprod.signer_nacl import NaclVerifier

    cli = _base()
    if db.exists():
        raise click.ClickException(f"{db} already exists; restore into a new file")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {source} ({exc.strerror or exc})") from None
    env = cli._env(cli._identity(identity_path))
    try:
        backup = decode_backup(data)
        verify_backup(backup, NaclVerifier())
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    temp = db.with_name(f".{db.name}.{os.getpid()}.restoring")
    for path in _sidecars(temp):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    try:
        ws = Workspace.join(connect(str(temp)), env, backup.workspace)
        try:
            summary = restore(ws, backup)
        finally:
            ws.close()
        if db.exists():
            raise click.ClickException(f"{db} appeared while restoring; not overwriting it")
        os.replace(temp, db)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    except OpenprodError as exc:
        raise click.ClickException(f"{db}: {exc}") from None
    finally:
        for path in _sidecars(temp):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    cli._emit({**summary, "db": str(db)})


@click.command("inspect")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="The local workspace file.")
@click.option("--identity", "identity_path", type=click.Path(path_type=Path), default=None,
              help="Your identity file (needed with --db).")
@click.option("--backup", "backup_path", type=click.Path(path_type=Path), default=None,
              help="A backup file to check instead (no workspace file is opened).")
@click.option("--bundles", "list_bundles", is_flag=True, help="Also list every stored change, oldest first.")
def inspect_command(db: Path | None, identity_path: Path | None, backup_path: Path | None, list_bundles: bool) -> None:
    """Look into a workspace for recovery work: its oplog by author, what waits, what was refused and why."""
    cli = _base()
    if (db is None) == (backup_path is None):
        raise click.ClickException("inspect one thing: --db FILE (with --identity) or --backup FILE")
    if backup_path is not None:
        cli._emit(_inspect_backup(backup_path))
        return
    if identity_path is None:
        raise click.ClickException("--db needs --identity (your identity file)")
    assert db is not None
    ws = cli._open(db, identity_path)
    try:
        cli._emit(_inspect_workspace(ws, list_bundles))
    finally:
        ws.close()


def _inspect_backup(path: Path) -> dict[str, Any]:
    from openprod.signer_nacl import NaclVerifier

    try:
        backup = decode_backup(path.read_bytes())
    except OSError as exc:
        raise click.ClickException(f"cannot read {path} ({exc.strerror or exc})") from None
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        verify_backup(backup, NaclVerifier())
        verdict = {"signatures": "all valid"}
    except BackupError as exc:
        verdict = {"signatures": "damaged", "problem": str(exc)}
    return {**backup.summary(), "exported_at": _when(backup.exported_at), **verdict}


def _inspect_workspace(ws: Workspace, list_bundles: bool) -> dict[str, Any]:
    size = ws.oplog.size()
    authors: dict[str, dict[str, Any]] = {}
    listed = []
    for stored in ws.oplog.bundles():
        entry = authors.setdefault(stored.actor, {"name": ws.actor_name(stored.actor), "bundles": 0,
                                                  "first": _hlc_time(stored.hlc), "last": ""})
        entry["bundles"] += 1
        entry["last"] = _hlc_time(stored.hlc)
        if list_bundles:
            listed.append({"id": stored.id, "author": entry["name"], "at": _hlc_time(stored.hlc), "kind": stored.kind,
                           "operations": stored.operations})
    quarantine = [{"number": q.number, "reason": q.reason, "detail": q.detail, "bundle": q.bundle_id,
                   "source": q.source} for q in ws.oplog.quarantined()]
    report: dict[str, Any] = {
        "workspace": str(uuid.UUID(bytes=ws.workspace_id)), "name": ws.name, "state_hash": ws.state_hash(),
        "oplog": {"bundles": size.bundles, "operations": size.operations, "waiting_for_earlier": size.pending},
        "authors": authors, "quarantine": quarantine, "stale": ws.oplog.stale_bundles(),
    }
    if list_bundles:
        report["bundles"] = listed
    return report



@click.command("recover")
@click.option("--db", type=click.Path(path_type=Path), required=True,
              help="Your workspace file on this device (created empty if missing; sync fills it).")
@click.option("--identity", "identity_path", type=click.Path(path_type=Path), required=True,
              help="The identity that becomes the owner (from `openprod identity create`).")
@click.option("--relay", default="http://127.0.0.1:8765", show_default=True, help="The relay's base URL.")
@click.option("--ca", type=click.Path(path_type=Path, exists=True), default=None,
              help="CA certificate to trust for an https relay (its /trust/ca.pem).")
@click.option("--workspace", "workspace_id", required=True, help="The workspace id.")
@click.option("--words", required=True, help="The 12 recovery words, in order (or set OPENPROD_RECOVER_WORDS).")
def recover_command(db: Path, identity_path: Path, relay: str, ca: Path | None, workspace_id: str, words: str) -> None:
    """Become the owner of a workspace with its recovery words; the words are used up, new ones are printed."""
    from .recovery import RecoveryWordsError, new_secret, proof, public_key, secret_from, words_for

    cli = _base()
    try:
        ws_bytes = uuid.UUID(workspace_id).bytes
    except ValueError:
        raise click.ClickException(f"{workspace_id!r} is not a workspace id") from None
    try:
        old_secret = secret_from(words)
    except RecoveryWordsError as exc:
        raise click.ClickException(str(exc)) from None
    env = cli._env(cli._identity(identity_path))
    created = not db.exists()
    try:
        ws = Workspace.join(connect(str(db)), env, ws_bytes)
    except OpenprodError as exc:
        raise click.ClickException(f"{db}: {exc}") from None
    try:
        secret = new_secret()
        next_key = public_key(ws_bytes, secret)
        args = {"proof": proof(ws_bytes, old_secret, ws.actor_id, next_key), "next_key": next_key}
        client = cli._client(relay, ws, ca)
        result = cli._run(client.request("recover", args))
    except BaseException:
        ws.close()
        if created:
            for path in _sidecars(db):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        raise
    # The relay took the words: now move ownership in the workspace itself, so every peer's copy
    # agrees (the same proof, checked by each of them). The new words are printed whatever happens.
    try:
        written = cli._run(_write_recovery(client, ws, public_key(ws_bytes, old_secret), next_key, args["proof"]))
    except (click.ClickException, OpenprodError) as exc:
        written = f"not written: {exc}"
    finally:
        ws.close()
    cli._emit({**result, "db": str(db), "in_workspace": written, "recovery_words": words_for(secret),
               "note": cli.RECOVERY_NOTE})


async def _write_recovery(client: Any, ws: Workspace, old_key: bytes, next_key: bytes, signed: bytes) -> str:
    """Fetch the workspace, write the signed ownership change into it, and send it back."""
    report = await client.sync()
    if not report.in_sync:
        return f"not written: the workspace could not be fetched ({report.closed_reason})"
    with ws.transaction() as tx:
        tx.recover_ownership(old_key, next_key, signed)
    report = await client.sync()
    if report.in_sync:
        return "written and sent"
    return f"written, not sent yet ({report.closed_reason}): run openprod sync"



def _new_workspace_file(db: Path, build: Any) -> Any:
    """Run `build(path)` on a temporary file beside `db` and rename it into place only if it succeeds."""
    if db.exists():
        raise click.ClickException(f"{db} already exists; choose a new file")
    temp = db.with_name(f".{db.name}.{os.getpid()}.creating")
    for path in _sidecars(temp):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    try:
        result = build(temp)
        if db.exists():
            raise click.ClickException(f"{db} appeared meanwhile; not overwriting it")
        os.replace(temp, db)
        return result
    except OpenprodError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for path in _sidecars(temp):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@click.command("fork")
@click.option("--db", type=click.Path(path_type=Path), required=True, help="The workspace to fork.")
@click.option("--identity", "identity_path", type=click.Path(path_type=Path), required=True,
              help="Your identity file: you own the fork.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The new workspace file.")
@click.option("--name", default=None, help="The fork's name [default: the original's, with '(fork)'].")
def fork_command(db: Path, identity_path: Path, out: Path, name: str | None) -> None:
    """A new workspace from this one's current state, without its history; both record where it came from."""
    from openprod.fork import fork

    cli = _base()
    source = cli._open(db, identity_path)
    env = cli._env(cli._identity(identity_path))

    def build(path: Path) -> Any:
        made, report = fork(source, lambda n: Workspace.founding(connect(str(path)), env, n), name)
        made.close()
        return report

    try:
        report = _new_workspace_file(out, build)
    finally:
        source.close()
    cli._emit({"workspace": report.fork, "forked_from": report.source, "source_state_hash": report.source_hash,
               "records": report.records, "links": report.links, "db": str(out)})


@click.group("template")
def template_group() -> None:
    """Templates: a workspace's modules, mappings, views (and example records) to start new ones from."""


@template_group.command("save")
@click.option("--db", type=click.Path(path_type=Path), required=True, help="The workspace to save as a template.")
@click.option("--identity", "identity_path", type=click.Path(path_type=Path), required=True,
              help="Your identity file (from `openprod identity create`).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The template file to write.")
@click.option("--records/--no-records", default=True, show_default=True, help="Keep the records as examples.")
def template_save(db: Path, identity_path: Path, out: Path, records: bool) -> None:
    """Save any workspace as a template file (its state now, no history)."""
    from openprod.fork import encode_template, read_state

    cli = _base()
    if out.exists():
        raise click.ClickException(f"{out} already exists; not overwriting it")
    ws = cli._open(db, identity_path)
    try:
        copy = read_state(ws, with_records=records)
    finally:
        ws.close()
    _write_new(out, encode_template(copy))
    cli._emit({"template": str(out), "name": copy.name, "modules": len(copy.modules), "mappings": len(copy.mappings),
               "views": len(copy.views), "records": len(copy.records)})


@template_group.command("use")
@click.argument("template")
@click.option("--db", type=click.Path(path_type=Path), required=True, help="The new workspace file.")
@click.option("--identity", "identity_path", type=click.Path(path_type=Path), required=True,
              help="Your identity file: you own the new workspace.")
@click.option("--name", required=True, help="The new workspace's name.")
def template_use(template: str, db: Path, identity_path: Path, name: str) -> None:
    """Create a new workspace from a template: `stage-management` (built in) or a template file."""
    from openprod.fork import TemplateError, decode_template, plant, stage_management_template

    from .recovery import new_secret, public_key, words_for

    cli = _base()
    if template == "stage-management":
        copy = stage_management_template()
    else:
        try:
            copy = decode_template(Path(template).read_bytes())
        except OSError as exc:
            raise click.ClickException(f"cannot read template {template} ({exc.strerror or exc}); name a file or "
                                       "stage-management") from None
        except TemplateError as exc:
            raise click.ClickException(str(exc)) from None
    env = cli._env(cli._identity(identity_path))
    secret = new_secret()

    def build(path: Path) -> Any:
        ws, tx = Workspace.founding(connect(str(path)), env, name)
        try:
            tx.set_setting("recovery_key", public_key(ws.workspace_id, secret).hex())
        except BaseException:
            ws.abort()
            raise
        ws.finish(tx)
        try:
            ids = plant(copy, ws)
            return str(uuid.UUID(bytes=ws.workspace_id)), len(ids)
        finally:
            ws.close()

    ws_id, count = _new_workspace_file(db, build)
    cli._emit({"workspace": ws_id, "db": str(db), "template": copy.name, "records": count,
               "recovery_words": words_for(secret), "note": cli.RECOVERY_NOTE})


COMMANDS = (export_command, import_command, inspect_command, recover_command, fork_command, template_group)
