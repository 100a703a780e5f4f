"""Ed25519 through the pure-Python `ecdsa` package: a synchronous signer that runs anywhere.

Slow (milliseconds per verification) but dependency-free, so the core's synchronous test suite
runs unchanged under Pyodide, where PyNaCl does not exist and WebCrypto is async-only.
Signatures are identical to PyNaCl's (Ed25519 is deterministic).
"""

from __future__ import annotations

from ecdsa import BadSignatureError, Ed25519, SigningKey, VerifyingKey

from .ed25519_rules import refused_by_libsodium
from .identity import ACTOR_ID_LEN, SIGNATURE_LEN, Identity


def public_key_for(seed: bytes) -> bytes:
    return bytes(SigningKey.from_string(seed, curve=Ed25519).get_verifying_key().to_string())


class PureSigner:
    def __init__(self, identity: Identity) -> None:
        self._key = SigningKey.from_string(identity.seed, curve=Ed25519)
        if public_key_for(identity.seed) != identity.actor_id:
            raise ValueError("identity's private key does not match its actor id")
        self._actor_id = identity.actor_id

    @property
    def actor_id(self) -> bytes:
        return self._actor_id

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key.sign(message))

    async def sign_async(self, message: bytes) -> bytes:
        return self.sign(message)


class PureVerifier:
    def __init__(self) -> None:
        self._keys: dict[bytes, VerifyingKey] = {}

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != ACTOR_ID_LEN or len(signature) != SIGNATURE_LEN:
            return False
        if refused_by_libsodium(public_key, signature):
            return False
        key = self._keys.get(public_key)
        if key is None:
            try:
                key = VerifyingKey.from_string(public_key, curve=Ed25519)
            except Exception:
                return False
            self._keys[public_key] = key
        try:
            return bool(key.verify(signature, message))
        except (BadSignatureError, Exception):
            return False

    async def verify_async(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return self.verify(public_key, message, signature)
