"""The relay's blob folder: verified before visible, one copy per content, resumable partials."""

from __future__ import annotations

import pytest

from openprod.blobs import BlobMismatch, blob_hash
from openprod.errors import ValidationError
from openprod_server.blobstore import DiskBlobStore

DATA = bytes(range(256)) * 1000


def test_put_verifies_dedupes_and_leaves_no_temporary_files(tmp_path) -> None:
    store = DiskBlobStore(tmp_path / "ws.blobs")
    blob = blob_hash(DATA)
    store.put(blob, DATA)
    store.put(blob, DATA)
    files = [p for p in (tmp_path / "ws.blobs").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].name == blob[7:] and files[0].parent.name == blob[7:9]
    assert store.size(blob) == len(DATA) and store.read(blob, 10, 5) == DATA[10:15]
    with pytest.raises(BlobMismatch):
        store.put(blob_hash(b"other"), DATA)
    assert not store.has(blob_hash(b"other"))
    assert [p for p in (tmp_path / "ws.blobs").rglob("*") if p.is_file()] == files  # no torn temp file


def test_a_partial_grows_in_order_and_becomes_visible_only_when_verified(tmp_path) -> None:
    store = DiskBlobStore(tmp_path / "b")
    blob = blob_hash(DATA)
    store.append_partial(blob, 0, DATA[:1000])
    with pytest.raises(ValidationError, match="expected offset 1000"):
        store.append_partial(blob, 5, DATA[5:10])
    assert store.partial_size(blob) == 1000 and not store.has(blob)
    store.append_partial(blob, 1000, DATA[1000:])
    store.finish(blob)
    assert store.has(blob) and store.partial_size(blob) == 0 and store.read(blob, 0, len(DATA)) == DATA


def test_a_corrupted_partial_is_refused_and_discarded(tmp_path) -> None:
    store = DiskBlobStore(tmp_path / "b")
    blob = blob_hash(DATA)
    store.append_partial(blob, 0, DATA[:-1] + b"\x00")
    with pytest.raises(BlobMismatch):
        store.finish(blob)
    assert not store.has(blob) and store.partial_size(blob) == 0


def test_an_empty_blob_and_a_bad_id(tmp_path) -> None:
    store = DiskBlobStore(tmp_path / "b")
    store.finish(blob_hash(b""))
    assert store.size(blob_hash(b"")) == 0
    with pytest.raises(ValidationError, match="sha256"):
        store.has("sha256:../../etc")
