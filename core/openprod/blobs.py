"""Blobs: attachments (headshots, lighting plots, PDFs, photos of the set) addressed by content.

A blob's id is `sha256:<64 hex>` of its bytes. SHA-256 rather than the spec's BLAKE3: it is
already how the core hashes ops and bundles (`hashlib`, in CPython and Pyodide alike), and every
browser has it in WebCrypto (`crypto.subtle.digest`), so no hashing library ships to the tablet.
Same bytes, same id, on every device: storing a file twice keeps one copy.

A blob field's value carries the reference, never the bytes: the array
`[hash, name, size, media type]` (`BlobRef.value`). An array of plain values goes through ops,
storage, undo, conflicts and the state hash unchanged, so replay, rebuild and the state hash
never need the bytes and a blob missing on this device breaks nothing; it is only "not on this
device yet".

The core does no I/O: the bytes live in a `BlobStore` handed in by the shell (a folder next to
the workspace file on the relay, IndexedDB in the browser, `MemoryBlobStore` in tests).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ValidationError

PREFIX = "sha256:"
HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_NAME = 255
MAX_MEDIA_TYPE = 127
MAX_SIZE = 2**53 - 1  # what a JavaScript number holds exactly
# RFC 6838 section 4.2: type "/" subtype, restricted-name characters, lower case here.
MEDIA_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
DEFAULT_MEDIA_TYPE = "application/octet-stream"


def blob_hash(data: bytes) -> str:
    """The content address of `data`: `sha256:<hex>`."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def hash_bytes(blob: str) -> bytes:
    """The 32 digest bytes of a checked `sha256:<hex>` id (what the sync messages carry)."""
    return bytes.fromhex(check_hash(blob)[len(PREFIX):])


def hash_text(digest: bytes) -> str:
    if len(digest) != 32:
        raise ValidationError(f"a blob hash is 32 bytes, got {len(digest)}")
    return PREFIX + digest.hex()


def check_hash(blob: Any) -> str:
    if not isinstance(blob, str) or not HASH_RE.match(blob):
        raise ValidationError(f"a blob id is 'sha256:' and 64 lower-case hex digits, got {str(blob)[:80]!r}")
    return blob


def check_name(name: Any) -> str:
    """A file name people recognise: 1-255 characters, no folders, no control characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("an attachment needs a file name")
    if len(name) > MAX_NAME:
        raise ValidationError(f"the file name is longer than {MAX_NAME} characters")
    if "/" in name or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError(f"the file name {name[:80]!r} may not contain slashes or control characters")
    if name in (".", ".."):
        raise ValidationError(f"{name!r} is not a file name")
    return name


def check_media_type(media_type: Any) -> str:
    if not isinstance(media_type, str) or len(media_type) > MAX_MEDIA_TYPE or not MEDIA_TYPE_RE.match(media_type):
        raise ValidationError(f"the media type must look like 'image/jpeg' (lower case), got {str(media_type)[:80]!r}")
    return media_type


def check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise ValidationError(f"the size must be a whole number of bytes from 0 to {MAX_SIZE}, got {size!r}")
    return size


@dataclass(frozen=True, slots=True)
class BlobRef:
    """What a blob field holds: which bytes (by hash), and what people see before fetching them."""

    hash: str
    name: str
    size: int
    media_type: str

    def __post_init__(self) -> None:
        check_hash(self.hash)
        check_name(self.name)
        check_size(self.size)
        check_media_type(self.media_type)

    @property
    def value(self) -> tuple[str, str, int, str]:
        """The canonical field value (an array of plain values in the op)."""
        return (self.hash, self.name, self.size, self.media_type)

    def to_dict(self) -> dict[str, Any]:
        return {"hash": self.hash, "name": self.name, "size": self.size, "media_type": self.media_type}

    @classmethod
    def of(cls, data: bytes, name: str, media_type: str = DEFAULT_MEDIA_TYPE) -> BlobRef:
        return cls(blob_hash(data), name, len(data), media_type)

    @classmethod
    def parse(cls, value: Any) -> BlobRef:
        """A BlobRef from its field value, a dict with the same keys, or a BlobRef. ValidationError otherwise."""
        if isinstance(value, BlobRef):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"hash", "name", "size", "media_type"}
            if unknown:
                raise ValidationError(f"an attachment has no {sorted(unknown)[0]!r}")
            try:
                return cls(value["hash"], value["name"], value["size"], value["media_type"])
            except KeyError as exc:
                raise ValidationError(f"an attachment needs its {exc.args[0]!r}") from None
        if isinstance(value, (list, tuple)) and len(value) == 4:
            return cls(*value)
        raise ValidationError("an attachment is [hash, name, size, media type]")


def check_limit(ref: BlobRef, max_bytes: int) -> None:
    """The workspace's per-blob size limit (a local-write check: see docs/design.md)."""
    if ref.size > max_bytes:
        raise ValidationError(f"{ref.name!r} is {_mib(ref.size)}; this workspace takes attachments up to "
                              f"{_mib(max_bytes)} (the owner can change that in the workspace settings)")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


class BlobStore(Protocol):
    """Where blob bytes live on one device. Handed in by the shell; the core never opens files.

    Complete blobs are immutable and verified: `put` and `finish` check the bytes against the
    hash before the blob becomes visible, so a store never holds a blob under the wrong id. A
    transfer in progress is a partial blob, appended to in order, so it can resume after a drop.
    """

    def has(self, blob: str) -> bool: ...

    def size(self, blob: str) -> int | None: ...

    def read(self, blob: str, offset: int, length: int) -> bytes: ...

    def put(self, blob: str, data: bytes) -> None: ...

    def partial_size(self, blob: str) -> int: ...

    def read_partial(self, blob: str) -> bytes: ...

    def append_partial(self, blob: str, offset: int, data: bytes) -> None: ...

    def discard_partial(self, blob: str) -> None: ...

    def finish(self, blob: str) -> None: ...


class BlobMismatch(ValidationError):
    """Bytes that do not hash to the id they were offered under: refused, nothing stored."""


def verify(blob: str, data: bytes) -> None:
    got = blob_hash(data)
    if got != blob:
        raise BlobMismatch(f"the bytes hash to {got[:20]}..., not {blob[:20]}...: refused")


class MemoryBlobStore:
    """A BlobStore in memory: for tests and for peers that keep nothing on disk."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._partial: dict[str, bytearray] = {}

    def has(self, blob: str) -> bool:
        return blob in self._blobs

    def size(self, blob: str) -> int | None:
        data = self._blobs.get(blob)
        return None if data is None else len(data)

    def read(self, blob: str, offset: int, length: int) -> bytes:
        return self._blobs[blob][offset:offset + length]

    def put(self, blob: str, data: bytes) -> None:
        verify(check_hash(blob), data)
        self._blobs.setdefault(blob, bytes(data))
        self._partial.pop(blob, None)

    def partial_size(self, blob: str) -> int:
        return len(self._partial.get(blob, b""))

    def read_partial(self, blob: str) -> bytes:
        return bytes(self._partial.get(blob, b""))

    def append_partial(self, blob: str, offset: int, data: bytes) -> None:
        part = self._partial.setdefault(check_hash(blob), bytearray())
        if offset != len(part):
            raise ValidationError(f"a partial blob grows in order: expected offset {len(part)}, got {offset}")
        part.extend(data)

    def discard_partial(self, blob: str) -> None:
        self._partial.pop(blob, None)

    def finish(self, blob: str) -> None:
        data = bytes(self._partial.pop(blob, b""))
        self.put(blob, data)
