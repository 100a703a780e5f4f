"""What the public API hands back: plain frozen values with one convention for ids.

Every id in a result is a string: records, edges, conflicts, overlays, rules, proposals,
bundles and operations in the canonical UUID form (8-4-4-4-12 lowercase hex), people (actors)
as their 64-hex public key. Bytes appear only where bytes travel: signed wire bundles, HLC
timestamps (`hlc`, sortable; `when` is the same time as text) and vector clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError
from .ids import to_str


def actor_str(actor: bytes) -> str:
    """How results name a person: the 64-hex public key."""
    return actor.hex()


def id_str(raw: bytes | None) -> str | None:
    return None if raw is None else to_str(raw)


@dataclass(frozen=True)
class Record:
    """A visible record: its tables, and its values by full field id ('module.Table.field')."""

    id: str
    tables: list[str]
    values: dict[str, Any]

    def get(self, field: str, default: Any = None) -> Any:
        """By full field id, or by a shorter name ('Table.field', 'field') when it names one field
        of this record; a short name shared by fields holding different values is refused."""
        if field in self.values:
            return self.values[field]
        found = {key: value for key, value in self.values.items() if key.endswith("." + field)}
        if len({repr(v) for v in found.values()}) > 1:
            raise ValidationError(f"{field!r} is ambiguous on this record ({', '.join(sorted(found))}); "
                                  "use the full field id")
        return next(iter(found.values()), default)


@dataclass(frozen=True)
class Edge:
    """A visible relationship (ordered edges carry their list `position`)."""

    id: str
    edge_type: str
    source: str
    target: str
    created_by: str
    properties: dict[str, Any] = field(default_factory=dict)
    position: str | None = None


@dataclass(frozen=True)
class Receipt:
    """A committed local bundle: its id, its HLC, the exact signed wire bytes, records it created."""

    bundle_id: str
    hlc: bytes
    wire: bytes
    created: list[str]


@dataclass(frozen=True)
class IngestResult:
    """What happened to one received bundle. `status`: applied, duplicate, pending, rejected."""

    status: str
    bundle_id: str | None = None
    reason: str | None = None
    detail: str = ""
    stale: bool = False
    applied: tuple[str, ...] = ()  # this bundle and any pending ones it unblocked
    writer: bytes | None = None
    """The bundle's chain (vector-clock key), with `hlc`, only when both are known to be its author's:
    its signature verified here, or it equals a bundle stored here. Sync reads them to know what the
    sender holds (an honest peer sends only bundles it stored, so its clock covers them)."""
    hlc: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


@dataclass(frozen=True)
class BundleEvent:
    """Told to listeners after a bundle is stored: the sync layer forwards `wire` unchanged.

    `writer` is the vector-clock key of the bundle's chain (its author's key and device)."""

    bundle_id: str
    actor: str
    writer: bytes
    hlc: bytes
    wire: bytes
    origin: str  # "local" or "remote"


@dataclass(frozen=True)
class StoredBundle:
    """One bundle of the oplog, with its exact signed wire bytes."""

    id: str
    actor: str
    hlc: bytes
    kind: str
    operations: int
    wire: bytes


@dataclass(frozen=True)
class OplogSize:
    """How much the oplog holds, and how many received bundles wait for earlier ones."""

    bundles: int
    operations: int
    pending: int


@dataclass(frozen=True)
class Quarantined:
    """A received bundle that was refused, kept with why and from where."""

    number: int  # its place in this device's quarantine (a local count, not an id)
    reason: str
    detail: str
    bundle_id: str | None
    source: str | None
