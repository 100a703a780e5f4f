"""Wire form of the sync messages: every message survives encode/decode unchanged, chunking is
invisible to the receiver, and no byte string makes decoding fail with anything but `PeerError`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import openprod.sync as sync
from openprod.sync import MAX_FRAME, PeerError, Reassembler, decode_message_v1, encode_message_v1, split_v1
from openprod.sync.messages import Ack, Batch, Check, Hello, Nack, Ping, Pong, Proof, Refuse

actors = st.binary(min_size=32, max_size=32)
writers = st.binary(min_size=48, max_size=48)  # actor key || device id
hlcs = st.binary(min_size=12, max_size=12)
clocks = st.dictionaries(writers, hlcs, max_size=5)
digests = st.dictionaries(writers, st.binary(min_size=32, max_size=32), max_size=5)
counts = st.integers(0, 2**40)

messages = st.one_of(
    st.builds(Hello, version=st.integers(0, 9), workspace=st.binary(min_size=16, max_size=16), actor=actors,
              nonce=st.binary(min_size=16, max_size=16)),
    st.builds(Proof, signature=st.binary(min_size=64, max_size=64), clock=clocks),
    st.builds(Batch, seq=counts, bundles=st.lists(st.binary(min_size=1, max_size=3000), max_size=30).map(tuple),
              remaining=counts, kind=st.sampled_from(["catchup", "live"])),
    st.builds(Ack, seq=counts, clock=clocks),
    st.builds(Nack, bundle_id=st.none() | st.binary(min_size=16, max_size=16),
              reason=st.sampled_from(sorted(sync.ALL_REASONS)), detail=st.text(max_size=100)),
    st.builds(Check, clock=clocks, state_hash=st.text("0123456789abcdef", min_size=64, max_size=64),
              digests=digests),
    st.builds(Ping, stamp=counts), st.builds(Pong, stamp=counts),
    st.builds(Refuse, reason=st.sampled_from(sorted(sync.SESSION_REASONS)), detail=st.text(max_size=100)),
)


@given(messages)
def test_round_trip(message: object) -> None:
    assert decode_message_v1(encode_message_v1(message)) == message  # type: ignore[arg-type]


@settings(max_examples=60)
@given(messages, st.randoms(use_true_random=False))
def test_chunked_messages_reassemble_in_any_order(message: object, rnd: object) -> None:
    frames = split_v1(message, 7, max_frame=1024)  # type: ignore[arg-type]
    assert all(len(f) <= 1024 for f in frames)
    order = list(frames)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    receiver = Reassembler(max_frame=1024)
    out = [m for m in (receiver.receive(f) for f in order + order[:1]) if m is not None]
    assert out[0] == message and receiver.partial == 0


@given(st.binary(max_size=300))
def test_garbage_only_ever_raises_peer_error(data: bytes) -> None:
    try:
        decode_message_v1(data)
    except PeerError as exc:
        assert exc.reason == "malformed"


def test_oversize_and_bogus_chunks_are_refused() -> None:
    receiver = Reassembler()
    with pytest.raises(PeerError) as too_big:
        receiver.receive(b"\x00" * (MAX_FRAME + 1))
    assert too_big.value.reason == "oversize"
    from openprod.sync.messages import Chunk

    huge = Chunk(message_id=1, index=0, count=10**7, data=b"x")
    with pytest.raises(PeerError) as claimed:
        receiver.receive(encode_message_v1(huge))
    assert claimed.value.reason == "oversize"
    receiver.receive(encode_message_v1(Chunk(message_id=2, index=0, count=3, data=b"x")))
    with pytest.raises(PeerError) as changed:
        receiver.receive(encode_message_v1(Chunk(message_id=2, index=1, count=4, data=b"y")))
    assert changed.value.reason == "malformed"


def test_public_surface() -> None:
    assert sorted(sync.__all__) == sorted(name for name in sync.__all__ if hasattr(sync, name))
    assert {"SyncSession", "pump", "pump_async", "WorkspaceReplica", "RelayRequest"} <= set(sync.__all__)
