"""The relay's BlobStore: one file per blob in a folder next to the workspace file.

    workspaces/<ws>.db            the workspace
    workspaces/<ws>.blobs/ab/<hex>       a complete blob (sha256 <hex>, first two digits as a folder)
    workspaces/<ws>.blobs/partial/<hex>  a transfer in progress, appended to in order

A blob becomes visible only complete and verified: `put` writes a temporary file, flushes it to
disk, checks its SHA-256 and renames it into place (`os.replace` is atomic), so a crash leaves
either no blob or the whole blob, never a torn one under a good name. `finish` hashes the partial
file the same way before the rename; a mismatch deletes it (refused, and fetched again).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from openprod.blobs import PREFIX, BlobMismatch, check_hash
from openprod.errors import ValidationError

_READ = 1 << 20


class DiskBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _hex(self, blob: str) -> str:
        return check_hash(blob)[len(PREFIX):]

    def _path(self, blob: str) -> Path:
        digest = self._hex(blob)
        return self.root / digest[:2] / digest

    def _partial(self, blob: str) -> Path:
        return self.root / "partial" / self._hex(blob)

    def has(self, blob: str) -> bool:
        return self._path(blob).is_file()

    def size(self, blob: str) -> int | None:
        try:
            return self._path(blob).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, blob: str, offset: int, length: int) -> bytes:
        with self._path(blob).open("rb") as f:
            f.seek(offset)
            return f.read(length)

    def put(self, blob: str, data: bytes) -> None:
        if self.has(blob):
            return  # same content, same id: one copy
        target = self._path(blob)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._verify_file(blob, Path(tmp))
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.discard_partial(blob)

    def partial_size(self, blob: str) -> int:
        try:
            return self._partial(blob).stat().st_size
        except FileNotFoundError:
            return 0

    def read_partial(self, blob: str) -> bytes:
        try:
            return self._partial(blob).read_bytes()
        except FileNotFoundError:
            return b""

    def append_partial(self, blob: str, offset: int, data: bytes) -> None:
        path = self._partial(blob)
        path.parent.mkdir(parents=True, exist_ok=True)
        have = self.partial_size(blob)
        if offset != have:
            raise ValidationError(f"a partial blob grows in order: expected offset {have}, got {offset}")
        with path.open("ab") as f:
            f.write(data)

    def discard_partial(self, blob: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._partial(blob).unlink()

    def finish(self, blob: str) -> None:
        path = self._partial(blob)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("ab") as f:  # an empty blob has no partial file yet
                os.fsync(f.fileno())
            self._verify_file(blob, path)
        except BlobMismatch:
            self.discard_partial(blob)
            raise
        target = self._path(blob)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)

    @staticmethod
    def _verify_file(blob: str, path: Path) -> None:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(_READ):
                digest.update(chunk)
        got = PREFIX + digest.hexdigest()
        if got != blob:
            raise BlobMismatch(f"the bytes hash to {got[:20]}..., not {blob[:20]}...: refused")
