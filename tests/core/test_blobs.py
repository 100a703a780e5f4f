"""Blobs: content addresses, blob fields carrying name/size/media type, stores, the size limit,
and a missing blob that never breaks replay, rebuild or the state hash (issue 18, item 2)."""

from __future__ import annotations

import hashlib

import cbor2
import pytest

from helpers import sync
from openprod.blobs import BlobMismatch, BlobRef, MemoryBlobStore, blob_hash
from openprod.errors import ValidationError

ATTACH = """
[module]
name = "attach"
version = "1.0.0"
display_name = "Attachments"
description = "Plots and headshots"

[table.Plots]
display_name = "Plots"

[table.Plots.fields.title]
type = "string"
display_name = "Title"

[table.Plots.fields.file]
type = "blob"
display_name = "File"

[edge.revision.properties]
marked_up = "blob"
note = "string"

[edge.page.properties]
scan = "blob"

[edge.page]
ordered = true
"""

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


@pytest.fixture
def crew(peer_factory):
    alice = peer_factory("Alice")
    with alice.ws.transaction(kind="module") as tx:
        tx.adopt_module(ATTACH)
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    return alice, bob


def attach(peer, data: bytes = PDF, name: str = "plot.pdf", media_type: str = "application/pdf") -> tuple[str, BlobRef]:
    ref = BlobRef.of(data, name, media_type)
    with peer.ws.transaction() as tx:
        rid = tx.create_record("attach.Plots", {"title": "Act 1 plot", "file": ref})
    return rid, ref


def test_the_content_address_is_sha256_of_the_bytes_and_same_content_same_id() -> None:
    assert blob_hash(PDF) == "sha256:" + hashlib.sha256(PDF).hexdigest()
    assert blob_hash(bytes(PDF)) == blob_hash(PDF) and blob_hash(PDF + b"x") != blob_hash(PDF)
    store = MemoryBlobStore()
    store.put(blob_hash(PDF), PDF)
    store.put(blob_hash(PDF), bytes(PDF))  # a second copy of the same content: still one blob
    assert store.has(blob_hash(PDF)) and store.size(blob_hash(PDF)) == len(PDF)


def test_a_store_refuses_bytes_under_the_wrong_id_and_keeps_nothing() -> None:
    store = MemoryBlobStore()
    with pytest.raises(BlobMismatch):
        store.put(blob_hash(b"a"), b"b")
    assert not store.has(blob_hash(b"a"))


def test_the_field_value_in_the_op_carries_hash_name_size_and_media_type(crew) -> None:
    alice, bob = crew
    rid, ref = attach(alice)
    ops = [cbor2.loads(raw) for raw in _op_bytes(alice.ws.last_receipt.wire)]
    values = [op["value"] for op in ops if op.get("field") == "attach.Plots.file"]
    assert values == [[ref.hash, "plot.pdf", len(PDF), "application/pdf"]]
    sync(alice, bob)
    assert BlobRef.parse(bob.ws.records.value(rid, "file")) == ref
    assert [a.ref for a in bob.ws.attachments.list()] == [ref]
    assert list(bob.ws.attachments.referenced_blobs()) == [ref.hash]


def _op_bytes(wire: bytes) -> list[bytes]:
    from openprod.bundle import decode_bundle

    return list(decode_bundle(wire).op_bytes)


@pytest.mark.parametrize(("value", "why"), [
    ({"hash": "sha256:" + "0" * 63, "name": "a.pdf", "size": 1, "media_type": "application/pdf"}, "64 lower-case hex"),
    ({"hash": blob_hash(b"x"), "name": "", "size": 1, "media_type": "application/pdf"}, "file name"),
    ({"hash": blob_hash(b"x"), "name": "../etc/passwd", "size": 1, "media_type": "application/pdf"}, "slashes"),
    ({"hash": blob_hash(b"x"), "name": "a\x00.pdf", "size": 1, "media_type": "application/pdf"}, "control"),
    ({"hash": blob_hash(b"x"), "name": "x" * 256, "size": 1, "media_type": "application/pdf"}, "255"),
    ({"hash": blob_hash(b"x"), "name": "a.pdf", "size": -1, "media_type": "application/pdf"}, "whole number"),
    ({"hash": blob_hash(b"x"), "name": "a.pdf", "size": 1.5, "media_type": "application/pdf"}, "whole number"),
    ({"hash": blob_hash(b"x"), "name": "a.pdf", "size": True, "media_type": "application/pdf"}, "whole number"),
    ({"hash": blob_hash(b"x"), "name": "a.pdf", "size": 1, "media_type": "PDF"}, "media type"),
    ({"hash": blob_hash(b"x"), "name": "a.pdf", "size": 1, "media_type": "text/html; x=1"}, "media type"),
    ({"hash": blob_hash(b"x"), "name": "a.pdf", "size": 1}, "needs its 'media_type'"),
    ({"hash": blob_hash(b"x"), "name": "a.pdf", "size": 1, "media_type": "image/png", "x": 1}, "no 'x'"),
    ("sha256:" + "0" * 64, "[hash, name, size, media type]"),
])
def test_a_bad_attachment_is_refused_locally_with_a_reason_and_nothing_written(crew, value, why) -> None:
    alice, _bob = crew
    before, count = alice.ws.state_hash(), alice.ws.oplog.size().bundles
    with pytest.raises(ValidationError, match="File") as err, alice.ws.transaction() as tx:
        tx.create_record("attach.Plots", {"title": "x", "file": value})
    assert why in str(err.value)
    assert alice.ws.state_hash() == before and alice.ws.oplog.size().bundles == count


@pytest.mark.parametrize("bad", [
    ["sha256:" + "g" * 64, "a.pdf", 1, "application/pdf"],
    [blob_hash(b"x"), "a/b.pdf", 1, "application/pdf"],
    [blob_hash(b"x"), "a.pdf", -5, "application/pdf"],
    [blob_hash(b"x"), "a.pdf", 1, "not a type"],
    [blob_hash(b"x"), "a.pdf", 1],
    "sha256:" + "0" * 64,
])
def test_a_bad_attachment_is_refused_when_received(crew, bad) -> None:
    from test_crafted_bundles import expect_refused, still_works

    alice, bob = crew
    with bob.ws.transaction() as tx:
        tx.create_record("attach.Plots", {"title": "mine"})
    sync(alice, bob)
    crafted, genuine = craft_blob(bob, bad)
    expect_refused(alice, crafted, "schema")
    still_works(alice, genuine)


def craft_blob(bob, value) -> tuple[bytes, bytes]:
    from test_crafted_bundles import parts, resign

    rid, _ = attach(bob, b"genuine", "g.pdf")
    genuine = bob.ws.last_receipt.wire
    header, ops = parts(genuine)
    assert ops[-1].get("field") == "attach.Plots.file", ops[-1]
    crafted_op = {**ops[-1], "value": value}
    assert rid
    return resign(bob.env.signer, header, [cbor2.dumps(op) for op in [*ops[:-1], crafted_op]]), genuine


def test_the_size_limit_is_an_owner_only_workspace_setting(crew) -> None:
    alice, bob = crew
    assert alice.ws.settings.max_blob_bytes == 100 * 2**20
    big = BlobRef(blob_hash(b"big"), "score.pdf", 2 * 2**20, "application/pdf")
    with alice.ws.transaction() as tx:
        tx.set_setting("max_blob_bytes", 2**20)
    with pytest.raises(ValidationError, match=r"up to 1\.0 MiB"), alice.ws.transaction() as tx:
        tx.create_record("attach.Plots", {"file": big})
    with pytest.raises(ValidationError, match="between 1024"), alice.ws.transaction() as tx:
        tx.set_setting("max_blob_bytes", 10)
    sync(alice, bob)
    assert bob.ws.settings.max_blob_bytes == 2**20
    with pytest.raises(ValidationError, match="owner"), bob.ws.transaction() as tx:
        tx.set_setting("max_blob_bytes", 2**30)
    with pytest.raises(ValidationError, match=r"up to 1\.0 MiB"), bob.ws.transaction() as tx:
        rid = tx.create_record("attach.Plots", {"title": "x"})
        tx.set_field(rid, "file", big)


def test_a_missing_blob_breaks_neither_replay_rebuild_nor_the_state_hash(crew) -> None:
    """Alice holds the bytes, Bob does not: same state, same hash, rebuild equal on both."""
    alice, bob = crew
    stores = {alice.name: MemoryBlobStore(), bob.name: MemoryBlobStore()}
    rid, ref = attach(alice)
    stores[alice.name].put(ref.hash, PDF)
    sync(alice, bob)
    assert not stores[bob.name].has(ref.hash)
    assert bob.ws.state_hash() == alice.ws.state_hash()
    for peer in (alice, bob):
        before = peer.ws.state_hash()
        peer.ws.rebuild()
        assert peer.ws.state_hash() == before
    assert BlobRef.parse(bob.ws.records.value(rid, "file")).name == "plot.pdf"
    # The hash covers the reference: another file in the same field changes it.
    with alice.ws.transaction() as tx:
        tx.set_field(rid, "file", BlobRef.of(b"v2", "plot.pdf", "application/pdf"))
    assert alice.ws.state_hash() != bob.ws.state_hash()


def test_an_attachment_undoes_and_conflicts_like_any_field(crew) -> None:
    alice, bob = crew
    rid, ref = attach(alice)
    sync(alice, bob)
    other = BlobRef.of(b"bob's photo", "set.jpg", "image/jpeg")
    mine = BlobRef.of(b"alice's photo", "set.jpg", "image/jpeg")
    with bob.ws.transaction() as tx:
        tx.set_field(rid, "file", other)
    with alice.ws.transaction() as tx:
        tx.set_field(rid, "file", mine)
    sync(alice, bob)
    assert len(alice.ws.conflicts.open(rid)) == 1 and alice.ws.state_hash() == bob.ws.state_hash()
    with alice.ws.transaction() as tx:
        tx.set_field(rid, "title", "x")
    alice.ws.undo()
    assert BlobRef.parse(alice.ws.records.value(rid, "file")) in (mine, other)
    assert ref.hash not in {a.ref.hash for a in alice.ws.attachments.list()}


def test_edge_property_attachments_are_held_to_the_same_size_limit(crew) -> None:
    """A blob in an edge property (a marked-up plot on the link between two plots) is checked like a
    blob field: over the workspace's limit is refused with the same words and writes nothing."""
    alice, _bob = crew
    with alice.ws.transaction() as tx:
        tx.set_setting("max_blob_bytes", 2**20)
        a = tx.create_record("attach.Plots", {"title": "Act 1 plot"})
        b = tx.create_record("attach.Plots", {"title": "Act 1 plot, rev B"})
        edge = tx.create_edge("attach.revision", a, b, {"note": "moved the booms"})
    big = BlobRef(blob_hash(b"big"), "markup.pdf", 2 * 2**20, "application/pdf")
    small = BlobRef.of(PDF, "markup.pdf", "application/pdf")
    before = alice.ws.state_hash()
    same_words = r"'markup.pdf' is 2\.0 MiB; this workspace takes attachments up to 1\.0 MiB"
    with pytest.raises(ValidationError, match=same_words), alice.ws.transaction() as tx:
        tx.set_edge_property(edge, "marked_up", big)
    with pytest.raises(ValidationError, match=r"up to 1\.0 MiB"), alice.ws.transaction() as tx:
        tx.create_edge("attach.revision", b, a, {"marked_up": big})
    with pytest.raises(ValidationError, match=r"up to 1\.0 MiB"), alice.ws.transaction() as tx:
        tx.create_ordered_edge("attach.page", a, b, properties={"scan": list(big.value)})
    assert alice.ws.state_hash() == before  # nothing written
    with alice.ws.transaction() as tx:  # within the limit: taken
        tx.set_edge_property(edge, "marked_up", small)
        tx.create_ordered_edge("attach.page", a, b, properties={"scan": small})
    assert alice.ws.state_hash() != before
