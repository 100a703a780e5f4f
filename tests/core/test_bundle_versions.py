"""Bundles of format v1 (before per-device chains) still verify, apply and sync, as device zero;
a database file from before per-device chains opens and keeps its state."""

from __future__ import annotations

from helpers import sync
from openprod import Workspace, connect, decode_bundle
from openprod.bundle import NO_DEVICE, SIGN_CONTEXT, encode_wire
from openprod.encoding import decode, encode


def as_v1(wire: bytes, signer) -> bytes:  # type: ignore[no-untyped-def]
    """The same bundle as an older version wrote it: no device, clock keyed by the 32-byte actor."""
    bundle = decode_bundle(wire)
    header = decode(bundle.header_bytes)
    del header["dev"]
    header["v"] = 1
    header["clock"] = {writer[:32]: hlc for writer, hlc in header["clock"].items()}
    header_bytes = encode(header)
    return encode_wire(header_bytes, signer.sign(SIGN_CONTEXT + header_bytes), bundle.op_bytes)


def test_v1_bundles_apply_as_device_zero_and_new_devices_build_on_them(peer_factory) -> None:
    alice = peer_factory("Alice")
    jane = alice.ws.create_record("contacts.Contacts", {"name": "Jane Doe", "phone": "555-0101"})
    old = [as_v1(b.wire, alice.env.signer) for b in alice.ws.oplog.bundles()]
    replica = peer_factory("Bob", workspace_from=alice)
    for wire in reversed(old):  # out of order: each waits for its predecessor
        assert replica.ws.ingest(wire).status in ("applied", "pending")
    assert replica.ws.oplog.size().pending == 0
    assert replica.ws.records.get(jane).get("phone") == "555-0101"
    assert replica.ws.state_hash() == alice.ws.state_hash()
    assert list(replica.ws.vector_clock) == [alice.ws.actor_id + NO_DEVICE]
    replica.ws.set_field(jane, "contacts.Contacts.phone", "555-0199")  # a v2 bundle on top of v1 history
    third = peer_factory("Carol", workspace_from=alice)
    sync(replica, third)
    assert third.ws.records.get(jane).get("phone") == "555-0199" and third.ws.state_hash() == replica.ws.state_hash()


def test_a_database_from_before_per_device_chains_opens_with_its_state(peer_factory, tmp_path) -> None:
    alice = peer_factory("Alice")
    jane = alice.ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    old = peer_factory("Bob", workspace_from=alice)
    for stored in alice.ws.oplog.bundles():
        old.ws.ingest(as_v1(stored.wire, alice.env.signer))
    expected = old.ws.state_hash()
    conn = old.ws.conn  # turn the file back into the previous layout: no writer column
    conn.execute("DROP INDEX bundles_writer_hlc")
    conn.execute("ALTER TABLE bundles DROP COLUMN writer")
    conn.execute("UPDATE meta SET value = 3 WHERE key = 'schema_version'")
    old.ws.close()
    with Workspace.open(connect(old.path), old.env) as reopened:
        assert reopened.state_hash() == expected
        assert reopened.records.get(jane).get("name") == "Jane Doe"
        assert list(reopened.vector_clock) == [alice.ws.actor_id + NO_DEVICE]
        reopened.set_field(jane, "contacts.Contacts.phone", "1")
        assert reopened.records.get(jane).get("phone") == "1"
