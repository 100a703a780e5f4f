"""What a relay sends right behind its proof is kept until the proof is verified, a whole catch-up window of it.

The relay (acceptor) proves itself and starts the joiner's catch-up at once: up to `catchup_window`
(128) batches leave before the joiner has checked that proof. A driver whose verifier is asynchronous
(the browser worker: WebCrypto) can be handed every one of those frames before its `VerifyProof` is
answered: WebKit delivered a 1,000-bundle join's ~110 frames in one burst. The session held 64
messages and dropped the rest without a word, so the joiner never acknowledged them and the relay
re-sent them only after `ack_timeout_ms` (30 s): a WebKit join of 1,000 bundles took ~31 s instead of
~3 (docs/benchmarks.md, session 15, helper gaps15)."""

from __future__ import annotations

from pathlib import Path

from helpers import ManualClock, Peer, make_peer
from openprod.sync import Role, SessionConfig, SyncSession, VerifyProof, WorkspaceReplica, decode_message_v1, pump
from openprod.sync.messages import Batch

TABLE = "contacts.Contacts"


def pair(tmp_path: Path, clock: ManualClock, records: int) -> tuple[Peer, Peer]:
    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    for i in range(records):  # ~6 KB a bundle: two or three to a 16 KiB batch, so the window holds ~100 batches
        alice.ws.create_record(TABLE, {"name": f"Crew {i}", "role": "x" * 6000})
    return alice, bob


def test_a_whole_catch_up_window_behind_the_proof_is_kept_until_it_is_verified(tmp_path: Path,
                                                                               clock: ManualClock) -> None:
    alice, bob = pair(tmp_path, clock, 260)
    config = SessionConfig(quiet_ms=600_000, recheck_ms=600_000)  # no timer fires here: the clock stands still
    relay = SyncSession(WorkspaceReplica(alice.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now, config=config)
    joiner = SyncSession(WorkspaceReplica(bob.ws), role=Role.INITIATOR, nonce=bytes(range(16)), now=clock.now,
                         config=config)
    sent: list[int] = []  # the batches' seqs as the relay sent them

    def relay_to_joiner() -> int:
        pump(relay, alice.ws, lambda: clock.now)
        frames = relay.data_to_send()
        for frame in frames:
            message = decode_message_v1(frame)
            if isinstance(message, Batch):
                sent.append(message.seq)
            joiner.receive_frame(frame, clock.now)
        return len(frames)

    # The handshake, with the joiner's check of the relay's proof held back (an asynchronous verifier).
    pending: VerifyProof | None = None
    for _ in range(20):
        while (item := joiner.next_work()) is not None:
            if isinstance(item, VerifyProof):
                pending = item
            else:
                joiner.proof_signed(bob.ws.env.signer.sign(item.message), clock.now)  # type: ignore[union-attr]
        for frame in joiner.data_to_send():
            relay.receive_frame(frame, clock.now)
        relay_to_joiner()
        if pending is not None:
            break
    assert pending is not None, "the relay's proof reached the joiner"
    relay_to_joiner()
    in_flight = len(set(sent))
    assert in_flight > 64, f"the relay sent {in_flight} batches before the joiner verified its proof"

    joiner.proof_verified(bob.ws.env.verifier.verify(pending.actor, pending.message, pending.signature), clock.now)
    for _ in range(500):  # frames both ways until nothing moves; no timer fires (no re-send after a timeout)
        pump(joiner, bob.ws, lambda: clock.now)
        back = joiner.data_to_send()
        for frame in back:
            relay.receive_frame(frame, clock.now)
        if not back and not relay_to_joiner():
            break
    assert bob.ws.vector_clock == alice.ws.vector_clock, "every bundle arrived without waiting for a re-send"
    assert bob.ws.state_hash() == alice.ws.state_hash()
    assert sorted(sent) == sorted(set(sent)), "no batch was sent twice"
