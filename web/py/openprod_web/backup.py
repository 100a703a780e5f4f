"""Workspace backups in the browser: the core's format (openprod.backup), restored with the async verifier.

Why a shell module at all: in the browser signatures are checked by WebCrypto, which is async, so the
restore awaits `writes.ingest_many` (it takes the workspace's lock) instead of the core's synchronous
`restore`. The file format, its reader and its refusals are the core's, shared with `openprod export`
and `openprod import` on the command line.
"""

from __future__ import annotations

from typing import Any

from openprod import Workspace
from openprod.backup import (
    FORMAT,
    INGEST_SLICE,
    NOT_A_BACKUP,
    SUFFIX,
    VERSION,
    Backup,
    BackupError,
    check_results,
    check_state,
    check_target,
    decode_backup,
    encode_backup_v1,
)

from . import writes

__all__ = ["FORMAT", "NOT_A_BACKUP", "SUFFIX", "VERSION", "Backup", "BackupError", "decode_backup", "encode_backup_v1",
           "restore_into"]


async def restore_into(ws: Workspace, backup: Backup) -> dict[str, Any]:
    """Ingest every bundle of `backup` into `ws`, an empty replica of its workspace (Workspace.join).

    Raises BackupError when a bundle is refused or the result differs from the backup's state hash;
    the caller then throws `ws` away (nothing of it was made durable)."""
    check_target(ws.workspace_id, backup)
    total = len(backup.bundles)
    for start in range(0, total, INGEST_SLICE):
        check_results(await writes.ingest_many(ws, backup.bundles[start:start + INGEST_SLICE], source="backup"),
                      start, total)
    return check_state(ws.state_hash(), backup)
