"""Attachments as the workspace references them: which blobs the live records point at.

A reader over derived state: it never needs the bytes. Shells ask it which blobs to fetch (the
relay keeps every one; a tablet the ones pinned or opened) and show what is on this device.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .blobs import BlobRef
from .context import Part, reads
from .errors import ValidationError
from .ids import to_str
from .values import KIND_LIST, from_sql

if TYPE_CHECKING:
    from .context import Context


@dataclass(frozen=True, slots=True)
class Attachment:
    """One blob field's value on one live record."""

    record: str
    field: str
    ref: BlobRef


def attachments(cx: Context) -> list[Attachment]:
    """Every attachment on a live record, in record and field order."""
    blob_fields = sorted(fid for fid, fdef in cx.schema.fields.items() if fdef.type == "blob")
    if not blob_fields:
        return []
    marks = ",".join("?" * len(blob_fields))
    rows = cx.conn.execute(
        f"SELECT f.entity_id, f.field, f.kind, f.value FROM fields f JOIN entities e USING (entity_id) "
        f"WHERE e.alive = 1 AND f.kind = ? AND f.field IN ({marks}) ORDER BY f.entity_id, f.field",
        (KIND_LIST, *blob_fields)).fetchall()
    out = []
    for entity, field, kind, value in rows:
        try:
            ref = BlobRef.parse(from_sql(kind, value))
        except ValidationError:
            continue  # every stored value passed the schema check on the way in; nothing else can be here
        out.append(Attachment(to_str(entity), field, ref))
    return out


def referenced_blobs(cx: Context) -> dict[str, BlobRef]:
    """Each referenced blob once, by hash (the first reference's name and media type)."""
    out: dict[str, BlobRef] = {}
    for item in attachments(cx):
        out.setdefault(item.ref.hash, item.ref)
    return out


class Attachments(Part):
    """`ws.attachments`: files attached to records (blob field values) and the blobs they name."""

    @reads
    def list(self) -> builtins.list[Attachment]:
        """Every attachment (blob field value) on a live record; the bytes may not be on this device."""
        return attachments(self._cx)

    @reads
    def referenced_blobs(self) -> dict[str, BlobRef]:
        """Each blob a live record references, once, by hash: what a peer keeping everything fetches."""
        return referenced_blobs(self._cx)
