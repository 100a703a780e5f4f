"""Workspace backups: the whole workspace as one file of its signed bundles, and restoring it elsewhere.

Why: a browser may delete a site's data (Safari after 7 days without use; any browser when the
device runs low on space and the site's storage is not persistent). A backup kept as a file is the
person's own copy. It holds what sync would send a fresh peer, nothing more:

Format `openprod-backup`, version 1: one canonical CBOR map (openprod.encoding)

    format       "openprod-backup"
    version      1
    workspace    the workspace id, as text (UUID)
    name         the workspace's name when exported (information)
    exported_at  milliseconds since 1970 (UTC), by the exporting device's clock (information)
    exported_by  {"name": display name, "actor": actor id as hex} (information)
    state_hash   the exporting replica's state hash: a restore must reproduce it exactly
    bundles      [bytes]: every stored bundle's exact signed wire bytes, in HLC order (a causal order)

Every bundle is verified on restore like any received one (signatures, hashes, schema), so a damaged
or edited file restores nothing. Not in a backup: staged (overlay) edits, which are local drafts; the
signing key (a backup can be handed around without giving anyone the power to sign as you); sync
settings. Readers must refuse a version they do not know (a newer app made it) and ignore map keys
they do not know. A breaking change gets version 2 and its own `encode_backup_v2`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openprod import DecodeError, OpenprodError, Workspace
from openprod.encoding import decode, encode
from openprod.ids import from_str, to_str
from openprod.sync import WorkspaceReplica

from . import writes

FORMAT = "openprod-backup"
VERSION = 1
SUFFIX = ".openprod-backup"
INGEST_SLICE = 200
NOT_A_BACKUP = "This file is not an Openprod backup"


class BackupError(OpenprodError):
    """A backup file that cannot be restored here; the message says why in plain words."""


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


def encode_backup_v1(ws: Workspace, exported_at: int, exported_by: str) -> bytes:
    """Every bundle this replica holds, in HLC order, with the state hash a restore must reach."""
    replica = WorkspaceReplica(ws)
    bundles = list(replica.delta({}))
    return encode({
        "format": FORMAT, "version": VERSION, "workspace": to_str(ws.workspace_id), "name": ws.name,
        "exported_at": int(exported_at), "exported_by": {"name": exported_by, "actor": ws.actor_id.hex()},
        "state_hash": replica.state_hash(), "bundles": bundles,
    })


def decode_backup(data: bytes) -> Backup:
    """Read and check a backup file; raises BackupError saying what is wrong with it."""
    try:
        doc = decode(data, what="backup")
    except DecodeError:
        raise BackupError(f"{NOT_A_BACKUP} (it could not be read as one).") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError(f"{NOT_A_BACKUP}.")
    version = doc.get("version")
    if not isinstance(version, int) or version < 1:
        raise BackupError(f"{NOT_A_BACKUP} (it has no valid format version).")
    if version > VERSION:
        raise BackupError(f"This backup was made by a newer version of Openprod (format {version}). "
                          "Update the app on this device, then restore it.")
    workspace, bundles, state_hash = doc.get("workspace"), doc.get("bundles"), doc.get("state_hash")
    try:
        from_str(workspace)
    except (TypeError, ValueError, AttributeError):
        raise BackupError("This backup is damaged: it does not say which workspace it holds.") from None
    if not isinstance(bundles, list) or not bundles or not all(isinstance(b, bytes) for b in bundles):
        raise BackupError("This backup is damaged: it holds no changes.")
    if not isinstance(state_hash, str) or not state_hash:
        raise BackupError("This backup is damaged: it has no state check.")
    by = doc.get("exported_by")
    return Backup(workspace=workspace, name=str(doc.get("name") or ""), exported_at=int(doc.get("exported_at") or 0),
                  exported_by={k: str(v) for k, v in by.items()} if isinstance(by, dict) else {},
                  state_hash=state_hash, bundles=bundles)


async def restore_into(ws: Workspace, backup: Backup) -> dict[str, Any]:
    """Ingest every bundle of `backup` into `ws`, an empty replica of its workspace (Workspace.join).

    Raises BackupError when a bundle is refused or the result differs from the backup's state hash;
    the caller then throws `ws` away (nothing of it was made durable)."""
    if to_str(ws.workspace_id) != backup.workspace:
        raise BackupError("This backup holds another workspace.")
    total = len(backup.bundles)
    for start in range(0, total, INGEST_SLICE):
        results = await writes.ingest_many(ws, backup.bundles[start:start + INGEST_SLICE], source="backup")
        for offset, result in enumerate(results):
            if result.status == "rejected":
                raise BackupError(f"This backup is damaged: change {start + offset + 1:,} of {total:,} did not pass "
                                  f"its check ({result.reason}: {result.detail}). Nothing was restored.")
    state_hash = ws.state_hash()
    if state_hash != backup.state_hash:
        raise BackupError("The restored workspace does not match the backup (some changes are missing or were "
                          "altered). Nothing was restored.")
    return {**backup.summary(), "restored_hash": state_hash}
