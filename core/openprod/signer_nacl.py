"""Ed25519 through PyNaCl (libsodium): the CPython signer backend.

Synchronous and fast; the async methods simply return, so the same workspace code path
serves both this backend and the async-only WebCrypto one.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

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


_CHUNK = 8  # bundles per task handed to the verifying thread
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (the process it was started in, the pool)
_pool_lock = threading.Lock()


def _verifying_thread() -> ThreadPoolExecutor:
    """One worker thread for the process, started on first use (again in a forked child, which
    inherits the pool but not its thread)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="openprod-verify"))
        return _pool[1]


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

    def verify_each(self, requests: Sequence[Sequence[tuple[bytes, bytes, bytes]]]) -> _Verdicts:
        """One verdict per request (every signature in it valid), in order, checked on a worker
        thread ahead of the caller. libsodium releases the GIL while it checks, so on CPython a
        receiver applies one bundle while the next ones' signatures are checked on the other core
        (`receive.verify_and_apply`); each verdict is handed out only once it is known (`ready`
        says whether the next one is). Pyodide has no threads: its verifiers do not offer this, and
        the receiver checks one by one."""
        pool = _verifying_thread()
        return _Verdicts([pool.submit(self._verdicts, requests[start:start + _CHUNK])
                          for start in range(0, len(requests), _CHUNK)])

    def _verdicts(self, requests: Sequence[Sequence[tuple[bytes, bytes, bytes]]]) -> list[bool]:
        return [all(self.verify(*signature) for signature in request) for request in requests]


class _Verdicts:
    """The verdicts of `verify_each`, in order, each handed out once its chunk is checked. `ready`
    says whether the next one is known without waiting: a receiver that would wait does other work
    first (`receive._apply_batch` writes the bundles it holds, and while SQLite writes with the
    GIL released this thread gets to run; in pure Python it gets the GIL once per switch interval)."""

    def __init__(self, futures: list[Future[list[bool]]]) -> None:
        self._futures = futures
        self._next = 0  # the next future to read
        self._chunk: list[bool] = []
        self._at = 0  # the next verdict in `_chunk`

    def __iter__(self) -> Iterator[bool]:
        return self

    def __next__(self) -> bool:
        while self._at >= len(self._chunk):
            if self._next >= len(self._futures):
                raise StopIteration
            self._chunk, self._at = self._futures[self._next].result(), 0
            self._next += 1
        self._at += 1
        return self._chunk[self._at - 1]

    def ready(self) -> bool:
        """Whether the next verdict (or the end) is known now, without waiting."""
        return (self._at < len(self._chunk) or self._next >= len(self._futures)
                or self._futures[self._next].done())

    def close(self) -> None:
        """The caller stopped early: drop what has not started."""
        for future in self._futures[self._next:]:
            future.cancel()
