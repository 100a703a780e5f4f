"""Ed25519 through PyNaCl (libsodium): the CPython signer backend.

Synchronous and fast; the async methods simply return, so the same workspace code path
serves both this backend and the async-only WebCrypto one.
"""

from __future__ import annotations

import datetime as _dt
import os

from nacl.bindings import crypto_sign, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from .identity import ACTOR_ID_LEN, SIGNATURE_LEN, Identity, clean_display_name


def generate_identity(display_name: str, seed: bytes | None = None) -> Identity:
    """A new identity; pass `seed` only to make tests reproducible."""
    key = SigningKey(seed if seed is not None else os.urandom(32))
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Identity(bytes(key.verify_key), bytes(key), clean_display_name(display_name), now)


def public_key_for(seed: bytes) -> bytes:
    return bytes(SigningKey(seed).verify_key)


class NaclSigner:
    def __init__(self, identity: Identity) -> None:
        self._key = SigningKey(identity.seed)
        if bytes(self._key.verify_key) != identity.actor_id:
            raise ValueError("identity's private key does not match its actor id")
        self._actor_id = identity.actor_id
        self._secret = crypto_sign_seed_keypair(identity.seed)[1]  # seed || public key: what libsodium signs with

    @property
    def actor_id(self) -> bytes:
        return self._actor_id

    def sign(self, message: bytes) -> bytes:
        # libsodium's signed message is signature || message: the signature is its first 64 bytes
        # (SigningKey.sign builds a SignedMessage object around the same call, on every commit)
        return crypto_sign(message, self._secret)[:SIGNATURE_LEN]

    async def sign_async(self, message: bytes) -> bytes:
        return self.sign(message)


class NaclVerifier:
    """Caches one VerifyKey per actor: a workspace has few actors and many bundles."""

    def __init__(self) -> None:
        self._keys: dict[bytes, VerifyKey] = {}

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != ACTOR_ID_LEN or len(signature) != SIGNATURE_LEN:
            return False
        key = self._keys.get(public_key)
        if key is None:
            try:
                key = VerifyKey(public_key)
            except Exception:
                return False
            self._keys[public_key] = key
        try:
            key.verify(message, signature)
        except BadSignatureError:
            return False
        return True

    async def verify_async(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return self.verify(public_key, message, signature)
