"""Workspace backups: the whole workspace as one file of its signed bundles, checked and restored elsewhere.

Why: a laptop is lost, a browser clears a site's data, a producer wants a copy on a USB stick. A
backup holds what sync would send a fresh peer, nothing more, so it is restored the way a peer
catches up: every bundle verified against its author's signature, and the result checked against
the state hash the exporting device had.

Format `openprod-backup`, version 1: one canonical CBOR map (openprod.encoding)

    format       "openprod-backup"
    version      1
    workspace    the workspace id, as text (UUID)
    name         the workspace's name when exported (information)
    exported_at  milliseconds since 1970 (UTC), by the exporting device's clock (information)
    exported_by  {"name": display name, "actor": actor id as hex} (information)
    state_hash   the exporting replica's state hash: a restore must reproduce it exactly
    bundles      [bytes]: every stored bundle's exact signed wire bytes, in HLC order (a causal order)

Not in a backup: staged (overlay) edits, which are local drafts; the signing key (a backup can be
handed around without giving anyone the power to sign as you); sync settings. Readers refuse a
version they do not know (a newer app made it) and ignore map keys they do not know. A breaking
change gets version 2 and its own `encode_backup_v2`.

The refusals here are sentences for the person restoring the file (the file keeps its own reader
rather than `wire.WireMap` for that reason). `verify_backup` checks every bundle before anything is
written, so a command line restore can refuse a tampered file without creating one; `restore`
then ingests through the normal receive pipeline, which checks everything again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .bundle import decode_bundle
from .encoding import decode, encode
from .errors import DecodeError, LocalError, RemoteError
from .identity import Verifier
from .ids import from_str, to_str
from .results import IngestResult
from .sync.replica import WorkspaceReplica

FORMAT = "openprod-backup"
VERSION = 1
SUFFIX = ".openprod-backup"
INGEST_SLICE = 200
NOT_A_BACKUP = "This file is not an Openprod backup"


class BackupError(LocalError):
    """A backup file that cannot be restored here; the message says why in plain words."""


class BackupSource(Protocol):
    """What exporting reads of a Workspace (its public API only)."""

    @property
    def workspace_id(self) -> bytes: ...

    @property
    def actor_id(self) -> bytes: ...

    @property
    def name(self) -> str: ...


class RestoreTarget(Protocol):
    """What a synchronous restore uses of a Workspace."""

    @property
    def workspace_id(self) -> bytes: ...

    def ingest_many(self, wires: list[bytes], *, source: str | None = None) -> list[IngestResult]: ...

    def state_hash(self) -> str: ...


@dataclass(frozen=True)
class Backup:
    workspace: str
    name: str
    exported_at: int
    exported_by: dict[str, str]
    state_hash: str
    bundles: list[bytes]

    def summary(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "name": self.name, "exported_at": self.exported_at,
                "exported_by": self.exported_by.get("name", ""), "bundles": len(self.bundles),
                "state_hash": self.state_hash}


def encode_backup_v1(ws: BackupSource, exported_at: int, exported_by: str) -> bytes:
    """Every bundle this replica holds, in HLC order, with the state hash a restore must reach."""
    replica = WorkspaceReplica(ws)
    bundles = list(replica.delta({}))
    return encode({
        "format": FORMAT, "version": VERSION, "workspace": to_str(ws.workspace_id), "name": ws.name,
        "exported_at": int(exported_at), "exported_by": {"name": exported_by, "actor": ws.actor_id.hex()},
        "state_hash": replica.state_hash(), "bundles": bundles,
    })


def decode_backup(data: bytes) -> Backup:
    """Read and check a backup file's shape; raises BackupError saying what is wrong with it."""
    try:
        doc = decode(data, what="backup")
    except DecodeError:
        raise BackupError(f"{NOT_A_BACKUP} (it could not be read as one).") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError(f"{NOT_A_BACKUP}.")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BackupError(f"{NOT_A_BACKUP} (it has no valid format version).")
    if version > VERSION:
        raise BackupError(f"This backup was made by a newer version of Openprod (format {version}). "
                          "Update the app on this device, then restore it.")
    workspace, bundles, state_hash = doc.get("workspace"), doc.get("bundles"), doc.get("state_hash")
    try:
        from_str(str(workspace)) if isinstance(workspace, str) else from_str("")
    except ValueError:
        raise BackupError("This backup is damaged: it does not say which workspace it holds.") from None
    if not isinstance(bundles, list) or not bundles or not all(isinstance(b, bytes) for b in bundles):
        raise BackupError("This backup is damaged: it holds no changes.")
    if not isinstance(state_hash, str) or not state_hash:
        raise BackupError("This backup is damaged: it has no state check.")
    by = doc.get("exported_by")
    at = doc.get("exported_at")
    return Backup(workspace=str(workspace), name=str(doc.get("name") or ""),
                  exported_at=at if isinstance(at, int) and not isinstance(at, bool) else 0,
                  exported_by={str(k): str(v) for k, v in by.items()} if isinstance(by, dict) else {},
                  state_hash=state_hash, bundles=bundles)


def damaged(index: int, total: int, reason: str, detail: str) -> BackupError:
    return BackupError(f"This backup is damaged: change {index + 1:,} of {total:,} did not pass its check "
                       f"({reason}: {detail}). Nothing was restored.")


def verify_backup(backup: Backup, verifier: Verifier) -> None:
    """Check every bundle's shape, operation hashes, workspace and author signature, writing nothing.

    Raises BackupError naming the first change that fails. A bundle left out or reordered is not
    caught here (each bundle is still genuine); the state hash check in `restore` catches that."""
    total = len(backup.bundles)
    workspace = from_str(backup.workspace)
    seen: set[bytes] = set()
    for index, wire in enumerate(backup.bundles):
        try:
            bundle = decode_bundle(wire)
        except RemoteError as exc:
            raise damaged(index, total, exc.reason, exc.detail) from None
        if bundle.header.workspace != workspace:
            raise damaged(index, total, "wrong_workspace", "it belongs to another workspace")
        if bundle.bundle_id in seen:
            raise damaged(index, total, "duplicate", "the same change appears twice")
        seen.add(bundle.bundle_id)
        if not verifier.verify(bundle.actor, bundle.signing_bytes(), bundle.signature):
            raise damaged(index, total, "bad_signature", f"its signature does not match its author "
                          f"{bundle.actor.hex()[:8]}")


def check_results(results: Sequence[IngestResult], start: int, total: int) -> None:
    """Raise BackupError for the first refused bundle of a slice that began at `start`."""
    for offset, result in enumerate(results):
        if result.status == "rejected":
            raise damaged(start + offset, total, str(result.reason), str(result.detail))


def check_state(restored_hash: str, backup: Backup) -> dict[str, Any]:
    if restored_hash != backup.state_hash:
        raise BackupError("The restored workspace does not match the backup (some changes are missing or were "
                          "altered). Nothing was restored.")
    return {**backup.summary(), "restored_hash": restored_hash}


def check_target(ws_id: bytes, backup: Backup) -> None:
    if to_str(ws_id) != backup.workspace:
        raise BackupError("This backup holds another workspace.")


def restore(ws: RestoreTarget, backup: Backup) -> dict[str, Any]:
    """Ingest every bundle of `backup` into `ws`, an empty replica of its workspace (Workspace.join),
    with a synchronous verifier. Raises BackupError when a bundle is refused or the result differs
    from the backup's state hash; the caller then throws `ws` away."""
    check_target(ws.workspace_id, backup)
    total = len(backup.bundles)
    for start in range(0, total, INGEST_SLICE):
        check_results(ws.ingest_many(backup.bundles[start:start + INGEST_SLICE], source="backup"), start, total)
    return check_state(ws.state_hash(), backup)
