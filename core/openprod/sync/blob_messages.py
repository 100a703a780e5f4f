"""Blob transfer messages (feature `blobs/1`): ask for a range of a blob, get it, or hear why not.

A peer speaks these only when both hellos listed `blobs/1` (see `messages.Hello.features`); an
older peer lists nothing, is never sent one, and would refuse one as an unknown type. The limits
are part of the feature, so neither side can make the other hold more than
`MAX_BLOB_WANTS x MAX_PIECE` bytes for blobs at once: a piece is at most `MAX_PIECE` bytes (it fits
one 16 KiB frame, never chunked), and at most `MAX_BLOB_WANTS` requests are unanswered per
direction. A peer that asks for more, or sends a piece nobody asked for, is refused (`protocol`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..blobs import MAX_SIZE
from ..wire import WireMap

BLOBS_FEATURE = "blobs/1"
MAX_PIECE = 15 * 1024  # 15 KiB per piece: one 16 KiB frame (chunks.MAX_FRAME) with room for the map around it
MAX_BLOB_WANTS = 16
DIGEST = 32
UNAVAILABLE_REASONS = ("not_here", "too_large")


def _digest(wire: WireMap) -> bytes:
    return wire.byte_string("h", DIGEST)


def _offset(wire: WireMap, key: str) -> int:
    value = wire.count(key)
    if value > MAX_SIZE:
        wire.fail(f"field {key!r} is past the largest blob")
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class BlobWant:
    """Send me `length` bytes of blob `digest` (SHA-256) from `offset`."""

    T: ClassVar[str] = "bwant"
    digest: bytes
    offset: int
    length: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "h": self.digest, "o": self.offset, "n": self.length}

    @classmethod
    def from_wire(cls, wire: WireMap) -> BlobWant:
        want = cls(digest=_digest(wire), offset=_offset(wire, "o"), length=wire.count("n"))
        if not 0 < want.length <= MAX_PIECE:
            wire.fail(f"a blob request is 1 to {MAX_PIECE} bytes, got {want.length}")
        return want


@dataclass(frozen=True, kw_only=True, slots=True)
class BlobPiece:
    """Bytes of blob `digest` from `offset`; `total` is the blob's whole size."""

    T: ClassVar[str] = "bpiece"
    digest: bytes
    offset: int
    total: int
    data: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "h": self.digest, "o": self.offset, "z": self.total, "d": self.data}

    @classmethod
    def from_wire(cls, wire: WireMap) -> BlobPiece:
        piece = cls(digest=_digest(wire), offset=_offset(wire, "o"), total=_offset(wire, "z"),
                    data=wire.byte_string("d"))
        if len(piece.data) > MAX_PIECE or piece.offset + len(piece.data) > piece.total:
            wire.fail(f"a blob piece is at most {MAX_PIECE} bytes and ends within the blob")
        return piece


@dataclass(frozen=True, kw_only=True, slots=True)
class BlobNone:
    """I cannot send the range of blob `digest` asked at `offset`: `not_here` (I do not hold it) or
    `too_large` (over my limit). One answer per request, like a piece."""

    T: ClassVar[str] = "bnone"
    digest: bytes
    offset: int
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "h": self.digest, "o": self.offset, "r": self.reason}

    @classmethod
    def from_wire(cls, wire: WireMap) -> BlobNone:
        return cls(digest=_digest(wire), offset=_offset(wire, "o"), reason=wire.text("r", UNAVAILABLE_REASONS))


BLOB_MESSAGES: tuple[Any, ...] = (BlobWant, BlobPiece, BlobNone)
