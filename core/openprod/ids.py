"""UUIDv7 identifiers for entities, edges, operations, bundles and workspaces.

Time-ordered ids keep SQLite's B-trees local and make ids roughly sortable by creation.
The wall clock and the random source are handed in so tests can replay id streams.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

from .errors import ValidationError  # imported once here: `as_id` runs on every write (a keystroke's too)

ID_LEN = 16

IdLike = str | bytes  # what the API accepts as an id: its string form, or its 16 raw bytes


class IdFactory:
    """Generates UUIDv7 (RFC 9562) bytes, monotonic within one factory.

    Within a millisecond, the 12-bit `rand_a` field is used as a counter (RFC 9562 method 1),
    so ids made by one actor sort in creation order even when the clock stands still.
    """

    def __init__(
        self,
        now_ms: Callable[[], int] | None = None,
        random_bytes: Callable[[int], bytes] | None = None,
    ) -> None:
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self._random = random_bytes or os.urandom
        self._last_ms = -1
        self._counter = 0

    def new(self) -> bytes:
        ms = self._now_ms()
        if ms <= self._last_ms:
            ms = self._last_ms
            self._counter += 1
            if self._counter > 0xFFF:
                ms += 1
                self._counter = 0
        else:
            self._counter = int.from_bytes(self._random(2), "big") & 0x3FF
        self._last_ms = ms
        rand_b = bytearray(self._random(8))
        rand_b[0] = (rand_b[0] & 0x3F) | 0x80  # variant 10
        head = (ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "big")
        ver_rand_a = (0x7000 | self._counter).to_bytes(2, "big")
        return head + ver_rand_a + bytes(rand_b)


def to_str(raw: bytes) -> str:
    """Canonical lowercase hyphenated form, used in APIs and the UI."""
    if len(raw) != ID_LEN:
        raise ValueError(f"an id is 16 bytes, got {len(raw)}")
    h = raw.hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def from_str(text: str) -> bytes:
    """Parse the canonical string form (hyphens optional, any case)."""
    cleaned = text.strip().replace("-", "").lower()
    if len(cleaned) != 32:
        raise ValueError(f"not a UUID: {text!r}")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"not a UUID: {text!r}") from None


def timestamp_ms(raw: bytes) -> int:
    """The creation time embedded in a UUIDv7."""
    return int.from_bytes(raw[:6], "big")


WORKSPACE_CONTEXT = b"openprod/workspace/v1\x00"


def workspace_id_for(owner: bytes, ms: int, nonce: bytes) -> bytes:
    """A UUIDv7-shaped workspace id whose 74 random bits commit to its owner.

    The owner's InitWorkspace carries `nonce`; every peer recomputes the id from the op's author
    and refuses an InitWorkspace by anyone else, so no member can become "owner" later by
    syncing an older-looking InitWorkspace of their own.
    """
    head = (ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "big")
    digest = hashlib.sha256(WORKSPACE_CONTEXT + owner + head + nonce).digest()
    ver_rand_a = (0x7000 | (int.from_bytes(digest[0:2], "big") & 0x0FFF)).to_bytes(2, "big")
    rand_b = bytes([(digest[2] & 0x3F) | 0x80]) + digest[3:10]
    return head + ver_rand_a + rand_b


def commits_to(workspace_id: bytes, owner: bytes, nonce: bytes) -> bool:
    return workspace_id_for(owner, timestamp_ms(workspace_id), nonce) == workspace_id


def as_id(value: IdLike, what: str = "id") -> bytes:
    """An id as handed to the API (its string, or 16 raw bytes) -> its bytes; ValidationError if neither."""
    if isinstance(value, bytes):
        if len(value) != ID_LEN:
            raise ValidationError(f"{what} must be 16 bytes")
        return value
    try:
        return from_str(value)
    except (ValueError, AttributeError):
        raise ValidationError(f"{what} {value!r} is not a UUID") from None
