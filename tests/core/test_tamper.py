"""Received bundles are verified before anything is applied; each failure has its own reason."""

from __future__ import annotations

import cbor2
import pytest

from openprod.bundle import SIGN_CONTEXT, decode_bundle, encode_wire
from openprod.encoding import decode, encode


@pytest.fixture
def pair(peer_factory):
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    for wire in (b.wire for b in alice.ws.oplog.bundles()):
        assert bob.ws.ingest(wire).status == "applied"
    with alice.ws.transaction() as tx:
        rid = tx.create_record("contacts.Contacts", {"name": "Jane", "email": "j@x"})
        tx.set_field(rid, "contacts.Contacts.phone", "555")
    return alice, bob, alice.ws.last_receipt.wire


def assert_refused(bob, wire: bytes, reason: str) -> None:
    before = bob.ws.state_hash()
    bundles = bob.ws.oplog.size().bundles
    ops = bob.ws.oplog.size().operations
    result = bob.ws.ingest(wire, source="test")
    assert result.status == "rejected", result
    assert result.reason == reason, result
    assert result.detail
    assert bob.ws.state_hash() == before
    assert bob.ws.oplog.size().bundles == bundles
    assert bob.ws.oplog.size().operations == ops
    assert bob.ws.oplog.quarantined()[-1].reason == reason


def test_valid_bundle_applies(pair) -> None:
    _alice, bob, wire = pair
    assert bob.ws.ingest(wire).status == "applied"
    assert bob.ws.ingest(wire).status == "duplicate"  # replay is harmless


def test_flipped_byte_anywhere_in_the_header_is_refused(pair) -> None:
    _alice, bob, wire = pair
    header, signature, ops = decode(wire)
    for i in range(len(header)):
        tampered = bytearray(header)
        tampered[i] ^= 0x01
        result = bob.ws.ingest(encode_wire(bytes(tampered), signature, ops))
        assert result.status == "rejected", i
        assert result.reason in {"bad_signature", "malformed", "unsupported_version", "wrong_workspace",
                                 "bad_hash", "future_hlc", "backdated"}, (i, result)
    assert bob.ws.records.label  # still usable
    assert sum(b.actor == _alice.ws.actor_id.hex() for b in bob.ws.oplog.bundles()) == 2


def test_flipped_byte_in_an_operation_is_a_hash_mismatch(pair) -> None:
    _alice, bob, wire = pair
    header, signature, ops = decode(wire)
    for index in range(len(ops)):
        op = bytearray(ops[index])
        op[len(op) // 2] ^= 0x40
        tampered = list(ops)
        tampered[index] = bytes(op)
        assert_refused(bob, encode_wire(header, signature, tampered), "bad_hash")


def test_flipped_byte_in_the_signature_is_refused(pair) -> None:
    _alice, bob, wire = pair
    header, signature, ops = decode(wire)
    sig = bytearray(signature)
    sig[5] ^= 0x01
    assert_refused(bob, encode_wire(header, bytes(sig), ops), "bad_signature")


def test_bundle_signed_by_another_key_than_its_actor_is_refused(pair, peer_factory) -> None:
    alice, bob, wire = pair
    mallory = peer_factory("Mallory", workspace_from=alice)
    header, _signature, ops = decode(wire)
    forged = mallory.env.signer.sign(SIGN_CONTEXT + header)  # claims to be Alice
    assert_refused(bob, encode_wire(header, forged, ops), "bad_signature")


def test_dropped_or_added_operation_is_refused(pair) -> None:
    _alice, bob, wire = pair
    header, signature, ops = decode(wire)
    assert_refused(bob, encode_wire(header, signature, ops[:-1]), "bad_hash")
    assert_refused(bob, encode_wire(header, signature, [*ops, ops[0]]), "bad_hash")


@pytest.mark.parametrize("cut", [1, 10, 100, -1])
def test_truncated_cbor_is_malformed(pair, cut: int) -> None:
    _alice, bob, wire = pair
    assert_refused(bob, wire[:cut], "malformed")


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"hello world", bytes(range(256)), cbor2.dumps({"a": 1}),
                                     cbor2.dumps([b"x", b"y", [b"z"]]), cbor2.dumps(cbor2.CBORTag(55799, [1]))])
def test_garbage_is_malformed(pair, garbage: bytes) -> None:
    _alice, bob, _wire = pair
    assert_refused(bob, garbage, "malformed")


def test_bundle_of_another_workspace_is_refused(pair, peer_factory) -> None:
    _alice, bob, _wire = pair
    stranger = peer_factory("Stranger")  # a different workspace
    stranger.ws.create_record("contacts.Contacts", {"name": "Leak?"})
    assert_refused(bob, stranger.ws.last_receipt.wire, "wrong_workspace")


def test_same_bundle_id_with_different_content_is_refused(pair) -> None:
    alice, bob, wire = pair
    assert bob.ws.ingest(wire).status == "applied"
    bundle = decode_bundle(wire)
    # Alice signs a different header reusing the bundle id (a faulty or malicious author).
    header = decode(bundle.header_bytes)
    header["kind"] = "import"
    header_bytes = encode(header)
    signature = alice.env.signer.sign(SIGN_CONTEXT + header_bytes)
    assert_refused(bob, encode_wire(header_bytes, signature, bundle.op_bytes), "conflicting_duplicate")


def test_schema_violation_in_a_signed_bundle_is_refused(pair) -> None:
    alice, bob, wire = pair
    assert bob.ws.ingest(wire).status == "applied"
    from openprod import operations as o
    from openprod.bundle import build

    op = o.make_op(o.SetField, alice.ws.ids.new(), alice.ws.clock.tick(), entity=alice.ws.ids.new(),
                   field="contacts.Contacts.name", value=42)
    unsigned = build(workspace=alice.ws.workspace_id, bundle_id=alice.ws.ids.new(), actor=alice.ws.actor_id,
                     device=alice.ws.device,
                     kind="edit", clock=alice.ws.vector_clock, ops=[op])
    bad = unsigned.seal(alice.env.signer.sign(unsigned.signing_bytes())).wire()
    assert_refused(bob, bad, "schema")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**70, -(2**64)])
def test_out_of_range_numbers_signed_by_a_real_author_are_refused(pair, value) -> None:
    alice, bob, wire = pair
    assert bob.ws.ingest(wire).status == "applied"
    from openprod import operations as o
    from openprod.bundle import build
    from openprod.operations import SetField

    entity = bytes.fromhex(bob.ws.records.all("contacts.Contacts")[0].id.replace("-", ""))
    op = SetField(alice.ws.ids.new(), alice.ws.clock.tick(), entity, "contacts.Contacts.status", "ok")
    raw = cbor2.dumps({"id": op.op_id, "hlc": op.hlc, "t": "SetField", "entity": entity,
                       "field": "contacts.Contacts.status", "value": value})
    unsigned = build(workspace=alice.ws.workspace_id, bundle_id=alice.ws.ids.new(), actor=alice.ws.actor_id,
                     device=alice.ws.device,
                     kind="edit", clock=alice.ws.vector_clock, ops=[op])
    # swap in the hostile op bytes and re-sign honestly, as a faulty author would
    header = decode(unsigned.header_bytes)
    from openprod.bundle import op_hash
    header["ops"] = [op_hash(raw)]
    header_bytes = encode(header)
    signature = alice.env.signer.sign(SIGN_CONTEXT + header_bytes)
    assert_refused(bob, encode_wire(header_bytes, signature, [raw]), "malformed")
    assert o.decode_op  # the module is what refused it


def test_a_batch_applies_with_one_commit_and_refuses_the_bad_one(pair) -> None:
    alice, bob, wire = pair
    with alice.ws.transaction() as tx:
        tx.create_record("contacts.Contacts", {"name": "Second"})
    second = alice.ws.last_receipt.wire
    header, signature, ops = decode(second)
    sig = bytearray(signature)
    sig[0] ^= 1
    forged = encode_wire(header, bytes(sig), ops)
    results = bob.ws.ingest_many([second, wire, forged, b"junk", wire])
    # `second` waits for `wire` (its author's earlier bundle), then applies in the same call
    assert [r.status for r in results] == ["applied", "applied", "rejected", "rejected", "duplicate"]
    assert [r.reason for r in results][2:4] == ["bad_signature", "malformed"]
    assert bob.ws.state_hash() == alice.ws.state_hash()


def test_a_member_cannot_become_owner_with_a_backdated_init(pair, peer_factory) -> None:
    alice, bob, _wire = pair
    mallory = peer_factory("Mallory", workspace_from=alice)
    from openprod import hlc
    from openprod import operations as o
    from openprod.bundle import build

    early = hlc.pack(1, 0)  # "before" Alice founded the workspace
    op = o.make_op(o.InitWorkspace, mallory.ws.ids.new(), early, name="Mine now", nonce=b"\x00" * 16)
    unsigned = build(workspace=alice.ws.workspace_id, bundle_id=mallory.ws.ids.new(), actor=mallory.ws.actor_id,
                     device=mallory.ws.device,
                     kind="workspace", clock={}, ops=[op])
    forged = unsigned.seal(mallory.env.signer.sign(unsigned.signing_bytes())).wire()
    assert_refused(bob, forged, "schema")
    assert bob.ws.settings.owner == alice.ws.actor_id
    assert "only the actor this workspace's id was made for" in bob.ws.oplog.quarantined()[-1].detail


def test_non_canonical_or_padded_envelope_is_refused(pair) -> None:
    """The envelope is not signed, but one bundle still has exactly one encoding on the wire."""
    _alice, bob, wire = pair
    header, signature, ops = decode(wire)
    assert wire[0] == 0x83  # a definite 3-item array
    indefinite = b"\x9f" + wire[1:] + b"\xff"  # the same items as an indefinite-length array
    assert cbor2.loads(indefinite) == [header, signature, ops]
    assert_refused(bob, indefinite, "malformed")
    assert_refused(bob, wire + b"\x00", "malformed")  # trailing bytes
    assert bob.ws.ingest(wire).status == "applied"
