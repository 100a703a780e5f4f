"""Two peers create, edit, exchange and agree: the minimum the core must do in both runtimes.

Runs on CPython (PyNaCl) and unchanged under Pyodide (pure-Python signer), so the Pyodide
runner always has real signed bundles, ingestion and state hashing to check.
"""

from __future__ import annotations

from collections.abc import Callable

from helpers import BACKEND, Peer, sync
from openprod import decode_bundle
from openprod.bundle import encode_wire


def test_backend_is_known() -> None:
    assert BACKEND in ("nacl", "pure")


def test_create_ingest_and_state_hash_converge(peer_factory: Callable[..., Peer]) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    assert alice.ws.state_hash() != bob.ws.state_hash()

    ann = alice.ws.create_record("contacts.Contacts", {"name": "Ann", "role": "Stage manager"})
    sync(alice, bob)
    assert alice.ws.state_hash() == bob.ws.state_hash()
    assert bob.ws.records.get(ann, "contacts.Contacts").get("role") == "Stage manager"

    bob.ws.set_field(ann, "contacts.Contacts.department", "Stage management")
    sync(alice, bob)
    assert alice.ws.records.get(ann).get("department") == "Stage management"
    assert alice.ws.state_hash() == bob.ws.state_hash()
    assert [c.display_name for c in alice.ws.history.field(ann, "contacts.Contacts.department")] == ["Bob"]


def test_rebuild_reproduces_incremental_state(peer_factory: Callable[..., Peer]) -> None:
    alice = peer_factory("Alice", on_disk=False)
    for n in range(3):
        alice.ws.create_record("contacts.Contacts", {"name": f"Crew {n}"})
    before = alice.ws.state_hash()
    alice.ws.rebuild()
    assert alice.ws.state_hash() == before


def test_tampered_bundle_is_quarantined(peer_factory: Callable[..., Peer]) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    wires = [b.wire for b in alice.ws.oplog.bundles()]
    for wire in wires[:-1]:
        assert bob.ws.ingest(wire).status == "applied"
    last = bytearray(wires[-1])
    last[-1] ^= 0x01  # flip one bit in the last op: its hash no longer matches the signed header
    result = bob.ws.ingest(bytes(last))
    assert result.status == "rejected"
    assert bob.ws.oplog.quarantined()[-1].reason == result.reason
    assert bob.ws.ingest(wires[-1]).status == "applied"
    assert alice.ws.state_hash() == bob.ws.state_hash()


def test_forged_signature_is_rejected(peer_factory: Callable[..., Peer]) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    wires = [b.wire for b in alice.ws.oplog.bundles()]
    for wire in wires[:-1]:
        bob.ws.ingest(wire)
    bundle = decode_bundle(wires[-1])
    forged = bytes([bundle.signature[0] ^ 0x80]) + bundle.signature[1:]
    result = bob.ws.ingest(encode_wire(bundle.header_bytes, forged, bundle.op_bytes))
    assert (result.status, result.reason) == ("rejected", "bad_signature")
    assert alice.ws.state_hash() != bob.ws.state_hash()
