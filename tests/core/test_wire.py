"""One idiom for untrusted wire maps, and errors that say who is at fault.

Every format a peer sends (bundle headers, sync messages, relay requests) is read through
`WireMap`; the same mistake gets the same refusal (`malformed`, naming the format and the field)
in each. Local misuse raises a `LocalError` and changes nothing; remote misbehaviour is a
`RemoteError` carrying a wire reason.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from helpers import ManualClock, make_peer
from openprod.bundle import decode_header
from openprod.encoding import encode
from openprod.errors import BundleRejected, LocalError, RemoteError, SignerError, ValidationError
from openprod.sync.errors import PeerError
from openprod.sync.messages import Ack, Batch, Hello, decode_message_v1, encode_message_v1
from openprod.sync.requests import decode_request_v1
from openprod.wire import WireMap


def _bad(detail: str) -> PeerError:
    return PeerError("malformed", detail)


def test_wire_map_reads_each_shape_and_names_the_field_it_refuses() -> None:
    wire = WireMap({"n": 3, "b": b"x" * 16, "t": "live", "f": True, "m": {"k": [1, "a"]},
                    "l": [b"a", b"b"], "c": {b"k" * 4: b"v" * 2}}, "thing", _bad)
    assert wire.count("n") == 3 and wire.byte_string("b", 16) == b"x" * 16 and wire.text("t", ("live",)) == "live"
    assert wire.flag("f") is True and wire.flag("absent") is False
    assert wire.text_map("m") == {"k": [1, "a"]} and wire.byte_list("l") == [b"a", b"b"]
    assert wire.byte_map("c", key_len=4, value_len=2, max_entries=1, describe="c") == {b"kkkk": b"vv"}
    cases: list[tuple[dict[str, Any], Any, str]] = [
        ({"n": True}, lambda w: w.count("n"), "field 'n' is missing or of the wrong type"),  # a bool is no count
        ({"n": -1}, lambda w: w.count("n"), "field 'n' must be a non-negative integer"),
        ({"b": b"x"}, lambda w: w.byte_string("b", 16), "field 'b' must be 16 bytes, got 1"),
        ({"t": "later"}, lambda w: w.text("t", ("live",)), "field 't' has an unknown value 'later'"),
        ({"f": 1}, lambda w: w.flag("f"), "field 'f' must be a boolean"),
        ({"m": {1: 2}}, lambda w: w.text_map("m"), "field 'm' must be a map with text keys"),
        ({"m": {"k": {1, 2}}}, lambda w: w.text_map("m"), "field 'm': cannot encode set"),
        ({"l": [b""]}, lambda w: w.byte_list("l"), "field 'l' must list non-empty byte strings"),
        ({"l": []}, lambda w: w.byte_list("l", min_len=1), "field 'l' must list at least 1 items"),
        ({"c": {b"k": b"v", b"j": b"w"}}, lambda w: w.byte_map("c", key_len=1, value_len=1, max_entries=1,
                                                               describe="c"), "c has more than 1 entries"),
    ]
    for data, read, message in cases:
        with pytest.raises(PeerError) as caught:
            read(WireMap(data, "thing", _bad))
        assert caught.value.reason == "malformed" and caught.value.detail == f"thing: {message}"
    with pytest.raises(PeerError, match="thing: must be a map"):
        WireMap([1], "thing", _bad)
    with pytest.raises(PeerError, match=r"thing: fields must be a, b, c\?"):
        WireMap({"a": 1, "z": 2}, "thing", _bad, fields=("a", "b"), optional=("c",))


def test_the_same_mistake_is_refused_the_same_way_in_every_format(tmp_path: Path) -> None:
    # a sync message: a bool where a sequence number belongs
    with pytest.raises(PeerError) as caught:
        decode_message_v1(encode({"t": "ack", "n": True, "vc": {}}))
    assert caught.value.detail == "ack: field 'n' is missing or of the wrong type"
    # a bundle header: an actor of the wrong size
    peer = make_peer("a", str(tmp_path / "a.db"), ManualClock(), seed=1, modules=("contacts",))
    header = decode_header(peer.ws.conn.execute("SELECT header FROM bundles LIMIT 1").fetchone()[0]).to_wire()
    header["actor"] = b"short"
    with pytest.raises(BundleRejected) as rejected:
        decode_header(encode(header))
    assert rejected.value.reason == "malformed"
    assert rejected.value.detail == "bundle header: field 'actor' must be 32 bytes, got 5"
    # a relay request: the same wrong-size field
    payload = encode({"action": "join", "ws": b"w" * 16, "actor": b"short", "at": 1, "nonce": b"n" * 16, "args": {}})
    with pytest.raises(PeerError) as refused:
        decode_request_v1({"request": base64.b64encode(payload).decode(),
                           "signature": base64.b64encode(b"s" * 64).decode()})
    assert refused.value.detail == "relay request: field 'actor' must be 32 bytes, got 5"


def test_messages_round_trip_through_the_one_reader() -> None:
    for message in (Hello(version=2, workspace=b"w" * 16, actor=b"a" * 32, nonce=b"n" * 16),
                    Batch(seq=4, bundles=(b"x", b"y"), remaining=2, kind="live"),
                    Ack(seq=9, clock={b"w" * 48: b"h" * 12})):
        assert decode_message_v1(encode_message_v1(message)) == message


def test_peer_errors_are_remote_errors_and_local_errors_are_not() -> None:
    assert issubclass(PeerError, RemoteError) and issubclass(BundleRejected, RemoteError)
    assert not issubclass(PeerError, LocalError) and not issubclass(ValidationError, RemoteError)
    assert PeerError("timeout", "no pong").reason == "timeout"
    with pytest.raises(ValueError, match="unknown rejection reason"):
        PeerError("made_up", "x")


def _row_counts(conn: sqlite3.Connection) -> tuple[int, int]:
    return (conn.execute("SELECT count(*) FROM bundles").fetchone()[0],
            conn.execute("SELECT count(*) FROM oplog").fetchone()[0])


def test_local_misuse_raises_a_local_error_and_changes_nothing(tmp_path: Path) -> None:
    peer = make_peer("a", str(tmp_path / "a.db"), ManualClock(), seed=1, modules=("contacts",))
    ws = peer.ws
    record = ws.create_record("Contacts", {"name": "Ana"})
    before, state = _row_counts(ws.conn), ws.state_hash()
    with pytest.raises(ValidationError, match="unknown kind of change 'bogus'"):
        ws.begin(kind="bogus")
    tx = ws.begin()
    tx.set_field(record, "name", "Bea")
    prepared = ws.prepare(tx)
    assert prepared is not None
    with pytest.raises(SignerError, match="returned 5 bytes instead of a 64-byte Ed25519 signature"):
        ws.commit(prepared, b"short")
    for bad_actor in ("zz", "ab" * 10, b"x"):
        with pytest.raises(ValidationError, match="actor id"):
            ws.actor_name(bad_actor)
    for bad_id in ("not-an-id", b"short", 12):
        with pytest.raises(ValidationError, match="record id"):
            ws.set_field(bad_id, "name", "Cy")  # type: ignore[arg-type]
    assert _row_counts(ws.conn) == before and ws.state_hash() == state and ws.records.value(record, "name") == "Ana"
    ws.set_field(record, "name", "Dee")  # the workspace is still usable afterwards
    assert ws.records.value(record, "name") == "Dee"
