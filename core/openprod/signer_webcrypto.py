"""Ed25519 through WebCrypto: the signer backend under Pyodide (browsers, and Node >= 20).

There is no PyNaCl wheel for the browser, and WebCrypto's Ed25519 produces signatures that
PyNaCl verifies (and vice versa). WebCrypto is promise-based, so only the async methods work;
the sync ones raise SignerError and callers use the workspace's `*_async` entry points.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Sequence
from typing import Any

from . import ed25519_public
from .ed25519_rules import refused_by_libsodium
from .errors import SignerError
from .identity import ACTOR_ID_LEN, SIGNATURE_LEN, Identity, clean_display_name


def _js() -> Any:
    try:
        import js  # type: ignore[import-not-found]
        from pyodide.ffi import to_js  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - only reached outside Pyodide
        raise SignerError("the WebCrypto signer needs Pyodide") from None
    return js, to_js


def _alg() -> Any:
    js, to_js = _js()
    return to_js({"name": "Ed25519"}, dict_converter=js.Object.fromEntries)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def generate_identity(display_name: str) -> Identity:
    """A new identity: a seed from the browser's CSPRNG, its public half derived in Python.

    Not `subtle.generateKey`: WebKit's fails now and then (OperationError for about 7 keys in 1,024,
    tests/browser/test_zero_seed_keys.py), so a person could not start there; importing and signing
    with the seed as a JWK works in both engines."""
    js, _to_js = _js()
    seed = js.crypto.getRandomValues(js.Uint8Array.new(32)).to_bytes()
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Identity(ed25519_public.public_key(bytes(seed)), bytes(seed), clean_display_name(display_name), now)


async def public_key_of(seed: bytes) -> bytes:
    """The Ed25519 public key of a 32-byte seed (a recovery key: recovery.recovery_seed).

    Derived in Python, not through a PKCS#8 import: WebKit's WebCrypto refuses a seed that starts
    with a zero byte (1 in 256), which made creating a workspace fail there (ed25519_public)."""
    return ed25519_public.public_key(seed)


async def _import_private(identity: Identity) -> Any:
    js, to_js = _js()
    jwk = {"kty": "OKP", "crv": "Ed25519", "d": _b64url(identity.seed), "x": _b64url(identity.actor_id)}
    return await js.crypto.subtle.importKey(
        "jwk", to_js(jwk, dict_converter=js.Object.fromEntries), _alg(), False, to_js(["sign"])
    )


class WebCryptoSigner:
    """Create with `await WebCryptoSigner.create(identity)`: importing the key is async."""

    def __init__(self, actor_id: bytes, key: Any) -> None:
        self._actor_id = actor_id
        self._key = key

    @classmethod
    async def create(cls, identity: Identity) -> WebCryptoSigner:
        return cls(identity.actor_id, await _import_private(identity))

    @property
    def actor_id(self) -> bytes:
        return self._actor_id

    def sign(self, message: bytes) -> bytes:
        raise SignerError("WebCrypto signs asynchronously; use the workspace's async methods")

    async def sign_async(self, message: bytes) -> bytes:
        js, to_js = _js()
        signature = await js.crypto.subtle.sign(_alg(), self._key, to_js(message))
        return bytes(js.Uint8Array.new(signature).to_bytes())


class WebCryptoVerifier:
    """Caches the imported public key per actor: importKey costs more than verify."""

    def __init__(self) -> None:
        self._keys: dict[bytes, Any] = {}

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        raise SignerError("WebCrypto verifies asynchronously; use the workspace's async methods")

    async def verify_async(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != ACTOR_ID_LEN or len(signature) != SIGNATURE_LEN:
            return False
        if refused_by_libsodium(public_key, signature):
            return False
        js, to_js = _js()
        key = self._keys.get(public_key)
        if key is None:
            try:
                key = await js.crypto.subtle.importKey(
                    "raw", to_js(public_key), _alg(), True, to_js(["verify"])
                )
            except Exception:
                return False
            self._keys[public_key] = key
        return bool(await js.crypto.subtle.verify(_alg(), key, to_js(signature), to_js(message)))

    async def verify_many_async(self, items: Sequence[tuple[bytes, bytes, bytes]],
                                known: Sequence[bool | None] | None = None) -> list[bool]:
        """(public key, message, signature) each: every verify is started at once and awaited together
        (Promise.all), so WebCrypto works the batch off this thread and Python waits once, not per bundle.
        `known`: WebCrypto's verdict on an item where the caller has it already (None: not), e.g. from a
        worker of its own (openprod_web.writes.VerifyAhead); the shape and libsodium's refusals are
        checked here either way."""
        js, to_js = _js()
        alg = _alg()
        out = [False] * len(items)
        started: list[Any] = []
        index: list[int] = []
        for i, (public_key, message, signature) in enumerate(items):
            if len(public_key) != ACTOR_ID_LEN or len(signature) != SIGNATURE_LEN:
                continue
            if refused_by_libsodium(public_key, signature):
                continue
            verdict = known[i] if known is not None else None
            if verdict is not None:
                out[i] = bool(verdict)
                continue
            key = self._keys.get(public_key)
            if key is None:
                try:
                    key = await js.crypto.subtle.importKey("raw", to_js(public_key), alg, True, to_js(["verify"]))
                except Exception:
                    continue
                self._keys[public_key] = key
            started.append(js.crypto.subtle.verify(alg, key, to_js(signature), to_js(message)))
            index.append(i)
        if started:
            try:
                verdicts = (await js.Promise.all(to_js(started))).to_py()
            except Exception:  # one verify failed outright: ask again one at a time
                verdicts = [await self.verify_async(*items[i]) for i in index]
            for i, ok in zip(index, verdicts, strict=True):
                out[i] = bool(ok)
        return out
