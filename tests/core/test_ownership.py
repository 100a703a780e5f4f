"""Recovery moves ownership in the oplog: every peer derives the same owner, refuses the old
owner's later settings, and refuses the used words (ownership.py)."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import Signer, public_key_for, sync
from openprod import Identity, ValidationError
from openprod.recovery import proof_message, recovery_seed

MINUTE = 60_000


class _Signed:
    def __init__(self, signature: bytes) -> None:
        self.signature = signature


class SigningKey:
    """The recovery key pair, signed with the project's own signer (PyNaCl on CPython, pure Python
    under Pyodide), with the two calls these tests make of a PyNaCl SigningKey."""

    def __init__(self, seed: bytes) -> None:
        self.verify_key = public_key_for(seed)
        self._signer = Signer(Identity(self.verify_key, seed, "recovery", "2026-01-01T00:00:00Z"))

    def sign(self, message: bytes) -> _Signed:
        return _Signed(self._signer.sign(message))


def _key(ws_id: bytes, secret: bytes) -> SigningKey:
    return SigningKey(recovery_seed(ws_id, secret))


def _founded(peer_factory: Any) -> tuple[Any, SigningKey]:
    alice = peer_factory("Alice")
    key = _key(alice.ws.workspace_id, b"a" * 16)
    with alice.ws.transaction() as tx:
        tx.set_setting("recovery_key", bytes(key.verify_key).hex())
    return alice, key


def _recover(peer: Any, key: SigningKey, next_key: SigningKey, *, for_actor: bytes | None = None) -> None:
    ws = peer.ws
    nxt = bytes(next_key.verify_key)
    proof = key.sign(proof_message(ws.workspace_id, for_actor or ws.actor_id, nxt)).signature
    with ws.transaction() as tx:
        tx.recover_ownership(bytes(key.verify_key), nxt, proof)


def test_recovery_moves_ownership_on_every_peer_and_the_old_owner_is_refused(peer_factory, clock) -> None:
    alice, key = _founded(peer_factory)
    bob = peer_factory("Bob", workspace_from=alice)
    zed = peer_factory("Zed", workspace_from=alice)
    sync(alice, bob)
    sync(alice, zed)
    assert zed.ws.settings.owner == alice.ws.actor_id
    nxt = _key(alice.ws.workspace_id, b"b" * 16)
    _recover(zed, key, nxt)
    assert zed.ws.settings.owner == zed.ws.actor_id
    assert zed.ws.settings.recovery_key == bytes(nxt.verify_key).hex()
    sync(zed, bob)
    sync(bob, alice)
    for peer in (alice, bob, zed):
        assert peer.ws.settings.owner == zed.ws.actor_id
        assert peer.ws.settings.recovery_key == bytes(nxt.verify_key).hex()
    assert len({p.ws.state_hash() for p in (alice, bob, zed)}) == 1
    assert alice.ws.workspace_id == zed.ws.workspace_id

    # the old owner can no longer change a setting, locally or by forging past the local check
    with pytest.raises(ValidationError, match="only the workspace owner"), alice.ws.transaction() as tx:
        tx.set_setting("max_future_drift_ms", 10 * MINUTE)
    # the new owner can, and everyone takes it
    with zed.ws.transaction() as tx:
        tx.set_setting("max_future_drift_ms", 10 * MINUTE)
    sync(zed, alice)
    assert alice.ws.settings.max_future_drift_ms == 10 * MINUTE

    # rebuild derives the same state
    before = alice.ws.state_hash()
    alice.ws.rebuild()
    assert alice.ws.state_hash() == before and alice.ws.settings.owner == zed.ws.actor_id


def test_a_setting_the_old_owner_made_offline_after_the_recovery_is_refused_everywhere(peer_factory, clock) -> None:
    """Alice, offline, changes a setting after Zed recovered the workspace: peers that get it
    first and peers that get it last agree it does not count (canonical order decides)."""
    alice, key = _founded(peer_factory)
    bob = peer_factory("Bob", workspace_from=alice)
    zed = peer_factory("Zed", workspace_from=alice)
    sync(alice, bob)
    sync(alice, zed)
    _recover(zed, key, _key(alice.ws.workspace_id, b"b" * 16))
    clock.advance(MINUTE)
    with alice.ws.transaction() as tx:  # Alice has not heard of the recovery yet
        tx.set_setting("max_future_drift_ms", 20 * MINUTE)
    assert alice.ws.settings.max_future_drift_ms == 20 * MINUTE
    sync(alice, bob)  # Bob gets Alice's setting first, then the recovery
    assert bob.ws.settings.max_future_drift_ms == 20 * MINUTE
    sync(zed, bob)
    sync(zed, alice)
    for peer in (alice, bob, zed):
        assert peer.ws.settings.owner == zed.ws.actor_id
        assert peer.ws.settings.max_future_drift_ms != 20 * MINUTE
    assert len({p.ws.state_hash() for p in (alice, bob, zed)}) == 1
    h = bob.ws.state_hash()
    bob.ws.rebuild()
    assert bob.ws.state_hash() == h


def test_used_words_and_bad_proofs_are_refused(peer_factory, clock) -> None:
    alice, key = _founded(peer_factory)
    zed = peer_factory("Zed", workspace_from=alice)
    eve = peer_factory("Eve", workspace_from=alice)
    sync(alice, zed)
    sync(alice, eve)
    ws_id = alice.ws.workspace_id
    nxt = _key(ws_id, b"b" * 16)

    # wrong words: the key is not this workspace's
    stranger = _key(ws_id, b"x" * 16)
    before = zed.ws.state_hash()
    with pytest.raises(ValidationError, match="do not open this workspace"):
        _recover(zed, stranger, nxt)
    # a proof made for someone else
    with pytest.raises(ValidationError, match="proof does not check"):
        _recover(zed, key, nxt, for_actor=eve.ws.actor_id)
    assert zed.ws.state_hash() == before and zed.ws.settings.owner == alice.ws.actor_id

    _recover(zed, key, nxt)
    sync(zed, eve)
    # the same words a second time, by anyone who has seen the first use
    with pytest.raises(ValidationError, match="used already"):
        _recover(eve, key, _key(ws_id, b"c" * 16))
    assert eve.ws.settings.owner == zed.ws.actor_id
    # the next words work once
    _recover(eve, nxt, _key(ws_id, b"c" * 16))
    assert eve.ws.settings.owner == eve.ws.actor_id


def test_forged_recoveries_are_quarantined_with_a_reason(peer_factory, clock) -> None:
    """A peer that skips its own checks: receivers quarantine the bundle and change nothing."""
    from openprod import operations as o

    alice, key = _founded(peer_factory)
    zed = peer_factory("Zed", workspace_from=alice)
    sync(alice, zed)
    ws_id = alice.ws.workspace_id
    nxt = bytes(_key(ws_id, b"b" * 16).verify_key)
    bad = key.sign(proof_message(ws_id, alice.ws.actor_id, nxt)).signature  # names Alice, not Zed
    with zed.ws.transaction() as tx:
        tx.add(o.RecoverOwnership, recovery_key=bytes(key.verify_key), next_key=nxt, proof=bad)
    before = alice.ws.state_hash()
    result = alice.ws.ingest(zed.ws.last_receipt.wire)
    assert result.status == "rejected" and result.reason == "bad_signature"
    assert "recovery proof does not check" in result.detail
    assert alice.ws.state_hash() == before and alice.ws.settings.owner == alice.ws.actor_id

    # a second use of used words, by an author who knew of the first: quarantined everywhere
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    good = key.sign(proof_message(ws_id, bob.ws.actor_id, nxt)).signature
    with bob.ws.transaction() as tx:
        tx.recover_ownership(bytes(key.verify_key), nxt, good)
    sync(bob, alice)
    assert alice.ws.settings.owner == bob.ws.actor_id
    again = _key(ws_id, b"c" * 16)
    second = key.sign(proof_message(ws_id, alice.ws.actor_id, bytes(again.verify_key))).signature
    with alice.ws.transaction() as tx:  # forged past the local check
        tx.add(o.RecoverOwnership, recovery_key=bytes(key.verify_key), next_key=bytes(again.verify_key),
               proof=second)
    result = bob.ws.ingest(alice.ws.last_receipt.wire)
    assert result.status == "rejected" and result.reason == "schema" and "used already" in result.detail
    assert bob.ws.settings.owner == bob.ws.actor_id
