"""Capability grants recorded per user: who may let scripts read or write which files, beside a
workspace file on this machine, who granted it and when.

Kept LOCAL, in a file next to the workspace file (`show.db` -> `show.db.grants.json`), never as
records of the workspace: a grant opens files on one machine's disk, so it must come from
someone who controls that machine (who can write that folder), not from whoever can write
records in the workspace. A synced grant would let any collaborator grant themselves, or a
trigger, read access to the relay's files. The file is therefore also out of reach of scripts:
`WorkspaceFiles` refuses it, and the workspace file itself, whatever the globs say.

`openprod script grant / revoke / grants` edit and list it; `openprod script run` uses the grants
recorded for the identity running it, plus any `--allow` given for that run only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .scriptfiles import FileGrantError, parse_grants

SUFFIX = ".grants.json"
VERSION = 1


@dataclass(frozen=True)
class Grant:
    user: str  # the actor id (hex) the grant is for
    capability: str  # fs.read:GLOB or fs.write:GLOB
    granted_by: str  # the actor id (hex) of whoever recorded it
    granted_by_name: str
    granted_at: str  # UTC, ISO 8601


def grants_path(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


def load(db: Path) -> list[Grant]:
    """The grants recorded beside `db` (none if there is no file). A file that is not what this
    writes is refused, naming it, rather than read as "no grants"."""
    path = grants_path(db)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileGrantError(f"{path} is not a grants file ({exc}); fix or remove it") from None
    try:
        if data["version"] != VERSION:
            raise FileGrantError(f"{path} is a grants file of version {data['version']!r}; this openprod reads "
                                 f"version {VERSION}")
        grants = [Grant(**{k: str(item[k]) for k in Grant.__dataclass_fields__}) for item in data["grants"]]
    except (KeyError, TypeError) as exc:
        raise FileGrantError(f"{path} is not a grants file (missing {exc}); fix or remove it") from None
    parse_grants([g.capability for g in grants])  # each still well formed
    return grants


def _save(db: Path, grants: list[Grant]) -> None:
    path = grants_path(db)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"version": VERSION, "grants": [asdict(g) for g in grants]}, indent=2) + "\n",
                       encoding="utf-8")
    os.replace(partial, path)


def grant(db: Path, user: str, capabilities: list[str], by: str, by_name: str,
          now: datetime | None = None) -> list[Grant]:
    """Record capabilities for `user` (already granted ones are kept as they were). Returns the new ones."""
    parse_grants(capabilities)
    grants = load(db)
    have = {(g.user, g.capability) for g in grants}
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    added = [Grant(user, c, by, by_name, when) for c in dict.fromkeys(capabilities) if (user, c) not in have]
    if added:
        _save(db, grants + added)
    return added


def revoke(db: Path, user: str, capabilities: list[str]) -> list[Grant]:
    """Remove capabilities from `user`. Raises FileGrantError naming any that were not granted."""
    grants = load(db)
    missing = [c for c in capabilities if not any(g.user == user and g.capability == c for g in grants)]
    if missing:
        raise FileGrantError(f"not granted to {user[:8]}: {', '.join(missing)}; nothing was changed")
    removed = [g for g in grants if g.user == user and g.capability in capabilities]
    _save(db, [g for g in grants if g not in removed])
    return removed


def for_user(db: Path, user: str) -> list[str]:
    """The capabilities recorded for one user."""
    return [g.capability for g in load(db) if g.user == user]


def as_json(g: Grant) -> dict[str, Any]:
    return asdict(g)
