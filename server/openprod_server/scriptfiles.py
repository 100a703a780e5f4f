"""Files a script may read and write on the relay's machine, as granted by whoever runs it.

`openprod script run --allow fs.read:imports/*.csv --allow fs.write:exports/*` grants globs inside
the workspace file's folder. A path is checked after it is resolved (symlinks followed): it must
stay inside that folder and match a granted glob, so `../`, absolute paths and links that point
out are refused with the capability that would be needed. Reads and writes are UTF-8 text of at
most 10 MiB. The core never touches files: it calls this object (`openprod.scripts.ScriptFiles`).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from openprod import LocalError

MAX_BYTES = 10 * 2**20
KINDS = ("fs.read", "fs.write")


class FileGrantError(LocalError):
    """A capability is malformed, or a path is outside what was granted."""


def parse_grants(grants: list[str]) -> dict[str, list[str]]:
    """'fs.read:imports/*' -> {'fs.read': ['imports/*']}. Raises FileGrantError for a bad one."""
    out: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for grant in grants:
        kind, sep, glob = grant.partition(":")
        if kind not in KINDS or not sep or not glob.strip():
            raise FileGrantError(f"capability {grant!r}: write it as fs.read:GLOB or fs.write:GLOB "
                                 "(a glob inside the workspace's folder, e.g. fs.read:imports/*.csv)")
        pure = PurePosixPath(glob)
        if pure.is_absolute() or ".." in pure.parts:
            raise FileGrantError(f"capability {grant!r}: the glob must stay inside the workspace's folder")
        out[kind].append(glob)
    return out


class WorkspaceFiles:
    """`ScriptFiles` over one folder (the workspace file's). `protected`: files no script reaches
    whatever the globs say (the workspace file, its SQLite companions, the recorded grants)."""

    def __init__(self, root: Path, grants: list[str], protected: list[Path] | None = None) -> None:
        self.root = root.resolve()
        self.grants = parse_grants(grants)
        self.protected = {p.resolve() for p in protected or []}

    def can(self, capability: str) -> bool:
        return bool(self.grants.get(capability))

    def _path(self, kind: str, path: str) -> Path:
        if not isinstance(path, str) or not path or "\x00" in path:
            raise FileGrantError("a file path is a non-empty string")
        target = (self.root / path).resolve()
        try:
            relative = target.relative_to(self.root).as_posix()
        except ValueError:
            raise FileGrantError(f"{path!r} is outside the workspace's folder; scripts reach only files "
                                 "inside it") from None
        if target in self.protected:
            raise FileGrantError(f"{path!r} is the workspace's own file (or its grants); no script may "
                                 "read or write it")
        if not any(fnmatchcase(relative, glob) for glob in self.grants[kind]):
            raise FileGrantError(f"{path!r} needs the capability {kind}:{relative} (granted: "
                                 f"{', '.join(f'{kind}:{g}' for g in self.grants[kind]) or 'none'})")
        return target

    def read(self, path: str) -> str:
        target = self._path("fs.read", path)
        try:
            if target.stat().st_size > MAX_BYTES:
                raise FileGrantError(f"{path!r} is over {MAX_BYTES // 2**20} MiB")
            return target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileGrantError(f"no file {path!r} in the workspace's folder") from None
        except UnicodeDecodeError:
            raise FileGrantError(f"{path!r} is not UTF-8 text") from None
        except IsADirectoryError:
            raise FileGrantError(f"{path!r} is a folder, not a file") from None

    def check_write(self, path: str) -> None:
        self._path("fs.write", path)

    def write(self, path: str, text: str) -> None:
        target = self._path("fs.write", path)
        data = text.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise FileGrantError(f"{path!r}: a script writes at most {MAX_BYTES // 2**20} MiB")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        partial.replace(target)
