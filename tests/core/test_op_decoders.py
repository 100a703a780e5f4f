"""The fast readers of received bundles say exactly what the worded reference readers say.

Ingest decodes ops with decoders compiled per op type, reads format-2 headers inline, and checks
a bundle's ops (hashes, distinct ids, rising clocks) in one pass; a local transaction checks and
encodes each op once (`encoded_op`). Each has a reference that refuses in words and is used for
anything unusual. These tests check the two agree on every shape, and that each bundle-level check
of the one pass still refuses what it refuses (a check dropped from either path fails here).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import sync
from openprod import bundle as b
from openprod import operations as o
from openprod.encoding import decode, encode
from openprod.errors import REASON_BAD_HASH, REASON_MALFORMED

EXAMPLES = 60 if sys.platform == "emscripten" else 600

NAMES = ["contacts.Contacts", "contacts.Contacts.name", "scenes.appears_in", "character", "contacts", "a1B",
         "_x", "Bad Name", "", "x" * 300]
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(), st.text(max_size=6),
                   st.sampled_from(NAMES))
LEAF = st.one_of(SCALAR, st.binary(min_size=16, max_size=16), st.binary(max_size=33))
VALUE = st.one_of(
    LEAF, LEAF, LEAF,
    st.lists(st.one_of(SCALAR, st.binary(min_size=16, max_size=16)), max_size=3),
    st.lists(st.lists(st.sampled_from(NAMES), min_size=2, max_size=3), max_size=2),
    st.dictionaries(st.one_of(st.sampled_from(NAMES), st.integers(0, 2)), SCALAR, max_size=2),
    st.fixed_dictionaries({"type": st.sampled_from(["user", "rule", "nope"])}),
)


def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """What a call gives, comparable across readers: the result's repr (types included: True, 1
    and 1.0 differ) or the exception's type and words."""
    try:
        return "ok", repr(fn(*args, **kwargs))
    except Exception as exc:
        return type(exc).__name__, str(exc)


@st.composite
def op_wires(draw: st.DrawFn) -> dict[Any, Any]:
    """A plausible op map of any type: fields of every shape, sometimes a key missing or extra, a
    bad id or clock, an unknown type."""
    kind = draw(st.sampled_from([*sorted(o.OP_TYPES), "Nope"]))
    wire: dict[Any, Any] = {"t": kind,
                            "id": draw(st.one_of(st.just(bytes(range(16))), st.binary(max_size=17), SCALAR)),
                            "hlc": draw(st.one_of(st.just(bytes(12)), st.binary(max_size=13)))}
    for name in o.OP_TYPES[kind].SPEC if kind in o.OP_TYPES else ():
        wire[name] = draw(VALUE)
    change = draw(st.sampled_from(["none", "none", "none", "drop", "extra"]))
    if change == "drop" and len(wire) > 3:
        del wire[draw(st.sampled_from(sorted(k for k in wire if k != "t")))]
    elif change == "extra":
        wire[draw(st.sampled_from(["extra", "entity", 1]))] = 0
    return wire


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(wire=op_wires())
def test_compiled_decoders_give_what_the_reference_decoder_gives(wire: dict[Any, Any]) -> None:
    reference = outcome(o._decode_checked, wire)
    compiled = o._DECODERS.get(wire["t"])
    if compiled is not None:
        fast = outcome(compiled, dict(wire))
        if fast[0] == "ok":  # a compiled decoder may leave a shape to the reference, never accept more
            assert fast == reference
    try:
        data = cbor2.dumps(wire, canonical=True)
    except (TypeError, ValueError, OverflowError):
        return
    assert outcome(o.decode_op, data) == reference


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(wire=op_wires(), as_tuples=st.booleans())
def test_encoded_op_gives_the_op_and_bytes_of_the_round_trip(wire: dict[Any, Any], as_tuples: bool) -> None:
    """`encoded_op` checks flat values as they are and encodes once; the result (or the refusal) is
    that of encoding, decoding and checking, as `make_op` always did."""
    cls = o.OP_TYPES.get(wire["t"], o.SetField)
    payload = {k: (tuple(v) if as_tuples and isinstance(v, list) else v)
               for k, v in wire.items() if isinstance(k, str) and k not in ("t", "id", "hlc")}
    op_id = wire.get("id") if isinstance(wire.get("id"), bytes) else bytes(16)
    hlc = wire.get("hlc") if isinstance(wire.get("hlc"), bytes) else bytes(12)

    def round_trip() -> tuple[o.Op, bytes]:
        full = {"id": op_id, "hlc": hlc, "t": cls.TYPE, **{k: o._to_wire_value(v) for k, v in payload.items()}}
        data = encode(full)
        return o.decode_op(data), data

    assert outcome(o.encoded_op, cls, op_id, hlc, **payload) == outcome(round_trip)


def test_encoded_op_keeps_no_reference_to_the_callers_maps_or_lists() -> None:
    values = {"contacts.Contacts.role": "Crew"}
    op, raw = o.encoded_op(o.AddToTable, bytes(16), bytes(12), entity=bytes(16), table="contacts.Contacts",
                           defaults=values, source={"type": "user"})
    values["contacts.Contacts.role"] = "changed"
    assert isinstance(op, o.AddToTable) and op.defaults == {"contacts.Contacts.role": "Crew"}
    assert raw == o.encode_op(op)
    edges = [bytes(range(16))]
    deleted, _ = o.encoded_op(o.DeleteEntity, bytes(16), bytes(12), entity=bytes(16), cascade_edges=edges)
    edges.append(bytes(16))
    assert isinstance(deleted, o.DeleteEntity) and deleted.cascade_edges == (bytes(range(16)),)


@pytest.fixture
def pair(peer_factory):
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    return alice, bob


def genuine(bob) -> bytes:
    with bob.ws.transaction() as tx:
        record = tx.create_record("contacts.Contacts", {"name": "Jo", "role": "SM"})
        tx.set_field(record, "contacts.Contacts.phone", "555")
    return bob.ws.last_receipt.wire


HEADER_VALUES = st.one_of(st.binary(max_size=49), st.integers(-1, 3), st.text(max_size=5),
                          st.sampled_from(["edit", "module", "nope", 2.0, True, None]),
                          st.lists(st.binary(min_size=31, max_size=33), max_size=3),
                          st.dictionaries(st.binary(min_size=47, max_size=49), st.binary(min_size=11, max_size=13),
                                          max_size=2),
                          st.dictionaries(st.one_of(st.text(max_size=3), st.binary(max_size=2)),
                                          st.one_of(st.integers(), st.floats(), st.text(max_size=3)), max_size=2))


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_fast_header_reader_gives_what_the_checked_reader_gives(pair, data) -> None:
    _alice, bob = pair
    header = decode(b.decode_bundle(genuine(bob)).header_bytes)
    for _ in range(data.draw(st.integers(1, 2), label="changes")):
        key = data.draw(st.sampled_from([*sorted(header), "extra"]), label="key")
        if data.draw(st.booleans(), label="drop") and key in header:
            del header[key]
        else:
            header[key] = data.draw(HEADER_VALUES, label="value")
    try:
        header_bytes = cbor2.dumps(header, canonical=True)
    except (TypeError, ValueError, OverflowError):
        return
    reference = outcome(b._decode_header_checked, header_bytes)
    fast = outcome(b._fast_header, cbor2.loads(header_bytes))
    if fast[0] == "ok" and fast[1] != "None":
        assert fast == reference
    assert outcome(b.decode_header, header_bytes) == reference


def resigned(bob, wire: bytes, ops: list[dict[str, Any]], **header_changes: Any) -> bytes:
    """Bob's bundle with these op maps (header hashes updated) and header fields, signed by him."""
    bundle = b.decode_bundle(wire)
    raw = [cbor2.dumps(op, canonical=True) for op in ops]
    header = {**decode(bundle.header_bytes), "ops": [b.op_hash(r) for r in raw], **header_changes}
    header_bytes = cbor2.dumps(header, canonical=True)
    return b.encode_wire(header_bytes, bob.env.signer.sign(b.SIGN_CONTEXT + header_bytes), raw)


def refused(receiver, wire: bytes, reason: str, words: str) -> None:
    before = receiver.ws.state_hash()
    result = receiver.ws.ingest(wire)
    assert (result.status, result.reason) == ("rejected", reason), result
    assert words in result.detail, result.detail
    assert receiver.ws.state_hash() == before


def op_maps(wire: bytes) -> list[dict[str, Any]]:
    return [cbor2.loads(raw) for raw in b.decode_bundle(wire).op_bytes]


def test_two_ops_with_one_id_are_refused(pair) -> None:
    alice, bob = pair
    wire = genuine(bob)
    ops = op_maps(wire)
    ops[2]["id"] = ops[1]["id"]
    refused(alice, resigned(bob, wire, ops), REASON_MALFORMED, "operation 2 repeats an op id")
    assert alice.ws.ingest(wire).status == "applied"


def test_op_clocks_that_do_not_rise_are_refused(pair) -> None:
    alice, bob = pair
    wire = genuine(bob)
    ops = op_maps(wire)
    ops[1]["hlc"] = ops[0]["hlc"]
    refused(alice, resigned(bob, wire, ops), REASON_MALFORMED, "operation 1: op clocks must increase")
    ops = op_maps(wire)
    ops[0], ops[1] = ops[1], ops[0]
    refused(alice, resigned(bob, wire, ops), REASON_MALFORMED, "operation 1: op clocks must increase")
    assert alice.ws.ingest(wire).status == "applied"


def test_a_bundle_clock_other_than_its_last_ops_is_refused(pair) -> None:
    alice, bob = pair
    wire = genuine(bob)
    ops = op_maps(wire)
    earlier = ops[-2]["hlc"]
    refused(alice, resigned(bob, wire, ops, hlc=earlier), REASON_MALFORMED,
            "bundle hlc must equal its last operation's hlc")


def test_an_op_that_is_not_the_one_its_header_lists_is_refused(pair) -> None:
    alice, bob = pair
    wire = genuine(bob)
    bundle = b.decode_bundle(wire)
    header = decode(bundle.header_bytes)
    header["ops"] = [*header["ops"][:-1], b.op_hash(b"something else")]
    header_bytes = cbor2.dumps(header, canonical=True)
    signed = b.encode_wire(header_bytes, bob.env.signer.sign(b.SIGN_CONTEXT + header_bytes), bundle.op_bytes)
    last = len(bundle.op_bytes) - 1
    refused(alice, signed, REASON_BAD_HASH, f"operation {last} does not match its hash in the header")


def test_an_op_with_a_field_of_the_wrong_shape_is_refused_in_words(pair) -> None:
    alice, bob = pair
    wire = genuine(bob)
    ops = op_maps(wire)
    field_write = next(i for i, op in enumerate(ops) if op["t"] == "SetField")
    ops[field_write]["entity"] = b"short"
    refused(alice, resigned(bob, wire, ops), REASON_MALFORMED,
            f"operation {field_write}: field 'entity' must be a 16-byte id")
    ops = op_maps(wire)
    ops[field_write]["value"] = math.inf
    refused(alice, resigned(bob, wire, ops), REASON_MALFORMED,
            f"operation {field_write}: field 'value' must be a plain value")
    ops = op_maps(wire)
    ops[field_write]["field"] = "contacts.Contacts.no such"
    refused(alice, resigned(bob, wire, ops), REASON_MALFORMED,
            f"operation {field_write}: field 'field' must be a field id")
    assert alice.ws.ingest(wire).status == "applied"


def test_a_local_bundle_carries_each_ops_own_bytes(pair) -> None:
    """The bytes kept from `encoded_op` are the ops' encodings, in order, whatever the op types
    (the transaction adds ops of several kinds, and one for the author's name)."""
    alice, bob = pair
    with bob.ws.transaction() as tx:
        record = tx.create_record("contacts.Contacts", {"name": "Jo"})
        other = tx.create_record("scenes.Scenes", {"title": "Act 1", "act": 1})
        tx.create_edge("scenes.appears_in", record, other, {"character": "Juliet"})
        tx.set_field(record, "contacts.Contacts.role", "SM")
    bundle = b.decode_bundle(bob.ws.last_receipt.wire)
    assert len(bundle.ops) > 4
    assert list(bundle.op_bytes) == [o.encode_op(op) for op in bundle.ops]
    sync(alice, bob)
    assert alice.ws.state_hash() == bob.ws.state_hash()


def nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("meta", [{"note": math.nan}, {"note": math.inf}, {"deep": nested_list(40)}, {1: "x"}])
def test_header_metadata_that_is_not_plain_data_is_refused(pair, meta) -> None:
    alice, bob = pair
    wire = genuine(bob)
    refused(alice, resigned(bob, wire, op_maps(wire), meta=meta), REASON_MALFORMED, "bundle header: field 'meta'")
    assert alice.ws.ingest(wire).status == "applied"
