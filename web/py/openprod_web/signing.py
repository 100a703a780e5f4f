"""Ed25519 signing through the worker's synchronous JavaScript (web/js/worker/ed25519.js, noble-ed25519).

Why: WebCrypto signs asynchronously, and WebKit runs each sign() on a work queue of its own and posts the
result back to the worker, two thread hops inside every edit's save; in WebKitGTK that was the largest
part of the slow saves (docs/benchmarks.md, session 10). This signer runs on the worker's thread, with
the seed Python already holds. Ed25519 is deterministic, so the signatures are the bytes WebCrypto and
PyNaCl make. Only importable under Pyodide.
"""

from __future__ import annotations

from typing import Any

from openprod import Identity, SignerError


class WorkerSigner:
    """Create with `WorkerSigner.create(identity, module)`, `module` the worker's ed25519.js."""

    def __init__(self, actor_id: bytes, sign: Any) -> None:
        self._actor_id = actor_id
        self._sign = sign

    @classmethod
    def create(cls, identity: Identity, module: Any) -> WorkerSigner:
        from pyodide.ffi import to_js  # type: ignore[import-not-found]

        seed = to_js(identity.seed)
        if bytes(module.publicKeyOf(seed).to_bytes()) != identity.actor_id:
            raise SignerError("the identity's private key does not match its actor id")
        return cls(identity.actor_id, module.makeSigner(seed))

    @property
    def actor_id(self) -> bytes:
        return self._actor_id

    def sign(self, message: bytes) -> bytes:
        from pyodide.ffi import to_js

        return bytes(self._sign(to_js(message)).to_bytes())

    async def sign_async(self, message: bytes) -> bytes:
        return self.sign(message)
