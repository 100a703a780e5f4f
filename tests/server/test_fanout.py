"""The relay's live fan-out, as batching changed it (bundles stored close together leave in one
frame per session): every other member gets each bundle once and in order, its author never gets
it back, one bad bundle in a batch is refused alone, and a member who reads nothing holds up
nobody (its batches in flight stop at the window, the rest waits in its bounded queue)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rawpeer import RawPeer
from relayproc import RelayProcess, env_for, make_file_peer

from helpers import seeded_identity
from openprod import Workspace, connect
from openprod.bundle import decode_bundle, encode_wire
from openprod.hlc import ZERO
from openprod.sync.messages import Ack, Batch, Nack
from openprod_server.client import RelayClient

TABLE = "contacts.Contacts"
PUSHES = 45  # more than the window (32 batches in flight) a member who never acknowledges can hold


class Reader:
    """A raw member that reads every batch and acknowledges it with its clock, as a peer does."""

    def __init__(self, peer: RawPeer, ws: Workspace) -> None:
        self.peer = peer
        self.clock = dict(ws.vector_clock)
        self.got: list[bytes] = []  # bundle ids in the order they arrived

    async def read_until(self, wanted: set[bytes], timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not wanted <= set(self.got):
                message = await self.peer.read(timeout)
                assert message is not None, "the relay hung up on a member"
                if isinstance(message, Batch):
                    for wire in message.bundles:
                        bundle = decode_bundle(wire)
                        self.got.append(bundle.bundle_id)
                        if bundle.hlc > self.clock.get(bundle.writer, ZERO):
                            self.clock[bundle.writer] = bundle.hlc
                    await self.peer.send(_ack(message.seq, self.clock))


def _ack(seq: int, clock: dict[bytes, bytes]) -> bytes:
    from openprod.sync import encode_message_v1

    return encode_message_v1(Ack(seq=seq, clock=dict(clock)))


async def scenario(relay: RelayProcess, tmp_path: Path) -> None:
    owner = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    alice = Workspace.open(connect(str(owner.db)), env_for(owner.identity))
    await RelayClient(relay.url, alice).publish()
    await RelayClient(relay.url, alice).sync()
    members = {}
    for name, seed in (("Bob", 2), ("Carol", 3)):
        ws = Workspace.join(connect(str(tmp_path / f"{name}.db")), env_for(seeded_identity(name, seed)),
                            alice.workspace_id)
        await RelayClient(relay.url, ws).join()
        await RelayClient(relay.url, ws).sync()
        members[name] = ws
    # Alice's edits, made offline, pushed one batch each; the last batch also carries a bundle whose
    # signature was tampered with (last in her chain, so nothing waits for it).
    for i in range(PUSHES):
        alice.create_record(TABLE, {"name": f"Crew {i}"})
    wires = [b.wire for b in alice.oplog.bundles()][-PUSHES:]
    alice.create_record(TABLE, {"name": "Tampered"})
    genuine = decode_bundle(alice.last_receipt.wire)  # type: ignore[union-attr]
    bad_signature = bytes([genuine.signature[0] ^ 1]) + genuine.signature[1:]
    tampered = encode_wire(genuine.header_bytes, bad_signature, genuine.op_bytes)
    order = [decode_bundle(w).bundle_id for w in wires]
    assert len(set(order)) == PUSHES

    bob = Reader(await RawPeer.open(relay.url, alice.workspace_id), members["Bob"])
    await bob.peer.handshake(members["Bob"])
    carol_peer = await RawPeer.open(relay.url, alice.workspace_id)
    await carol_peer.handshake(members["Carol"])  # ...and then reads nothing until the end
    sender = Reader(await RawPeer.open(relay.url, alice.workspace_id), alice)
    await sender.peer.handshake(alice)
    for seq, wire in enumerate(wires[:-1], 1):
        await sender.peer.push(wire, seq=seq)
    await sender.peer.push(wires[-1], tampered, seq=PUSHES)

    # Bob gets every good bundle once, in Alice's order, while Carol reads nothing.
    await bob.read_until(set(order))
    assert bob.got == order
    assert decode_bundle(tampered).bundle_id not in bob.got

    # Alice: acknowledged up to her last batch, the tampered bundle refused alone, nothing of hers sent back.
    refused: list[Nack] = []
    async with asyncio.timeout(60):
        while True:
            message = await sender.peer.read(60)
            assert message is not None, "the relay hung up on the sender"
            if isinstance(message, Nack):
                refused.append(message)
            elif isinstance(message, Batch):
                assert not {decode_bundle(w).bundle_id for w in message.bundles} & set(order)
            elif isinstance(message, Ack) and message.seq == PUSHES:
                break
    assert [(n.bundle_id, n.reason) for n in refused] == [(decode_bundle(tampered).bundle_id, "bad_signature")]

    # Carol reads at last: the relay held at most its window of batches for her, and the rest follows
    # as she acknowledges; she too gets each good bundle once, in order.
    carol = Reader(carol_peer, members["Carol"])
    first_batches: list[int] = []
    wait = 60.0  # the first batch surely comes; after it, what the relay already sent follows at once
    while True:
        try:
            message = await carol.peer.read(wait)
        except TimeoutError:
            break
        assert message is not None, "the relay hung up on a member who was only slow"
        if isinstance(message, Batch):
            wait = 1.0
            first_batches.append(message.seq)
            for wire in message.bundles:
                bundle = decode_bundle(wire)
                carol.got.append(bundle.bundle_id)
                carol.clock[bundle.writer] = max(carol.clock.get(bundle.writer, ZERO), bundle.hlc)
    assert 0 < len(first_batches) <= 32, "unacknowledged batches beyond the window"
    await carol.peer.send(_ack(max(first_batches), carol.clock))
    await carol.read_until(set(order))
    assert carol.got == order
    for peer in (bob.peer, carol.peer, sender.peer):
        await peer.close()


def test_fan_out_in_order_never_back_to_the_author_and_a_silent_member_holds_up_nobody(
        relay: RelayProcess, tmp_path: Path) -> None:
    asyncio.run(scenario(relay, tmp_path))


def test_the_relay_does_not_compress_sync_frames(relay: RelayProcess) -> None:
    """Per-message deflate cost the relay a third of its CPU at 50 peers (each forwarded frame
    compressed once per session): the relay declines it (docs/relay.md, "Under load")."""
    import uuid

    from websockets.asyncio.client import connect as ws_connect

    async def offered() -> str | None:
        url = f"ws://{relay.url.split('://', 1)[1]}/sync/{uuid.uuid4()}"
        async with ws_connect(url, ping_interval=None) as conn:  # the client offers permessage-deflate
            assert conn.response is not None
            return conn.response.headers.get("Sec-WebSocket-Extensions")

    assert asyncio.run(offered()) is None
