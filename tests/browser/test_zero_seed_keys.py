"""Keys whose seed or public half starts with a zero byte (1 in 128) work in both engines.

WebKit's WebCrypto refuses to import such a seed as PKCS#8 ("DataError"), and the recovery key's
public half was derived that way: in WebKit, about one workspace creation in 256 failed with "Not
created: … DataError" (a CI run of the WebKit lane met it). The public half is now derived in Python
(`openprod.ed25519_public`). WebKit's `generateKey` fails now and then too (OperationError, 7 keys in
1,024 in one probe), so a new identity is a seed from `getRandomValues` with its public half derived in
Python (`signer_webcrypto.generate_identity`). What still goes through WebCrypto is a JWK with both
halves, for signing with an identity or a recovery key: this checks, in each engine, that such a key
imports and signs, with zero-led seeds and public halves, and that the signature verifies."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from nacl.signing import VerifyKey

from openprod.ed25519_public import public_key

pytestmark = pytest.mark.browser

SIGN_JS = """async ([d, x, message]) => {
  const jwk = {kty: 'OKP', crv: 'Ed25519', d, x};
  const key = await crypto.subtle.importKey('jwk', jwk, {name: 'Ed25519'}, false, ['sign']);
  const data = Uint8Array.from(atob(message), (c) => c.charCodeAt(0));
  const signature = new Uint8Array(await crypto.subtle.sign({name: 'Ed25519'}, key, data));
  return btoa(String.fromCharCode(...signature));
}"""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_key_whose_seed_starts_with_zero_signs_in_this_engine(profile: Any, server: Any) -> None:
    page = profile.new_page()
    page.goto(server.url)  # a secure context (loopback), where WebCrypto is available
    message = b"RecoverOwnership: Hamlet"
    zero_led_public = next(seed for n in range(100_000)
                           if public_key(seed := n.to_bytes(4, "big") * 8)[0] == 0)
    for seed in (bytes(1) + bytes(range(1, 32)), bytes(2) + bytes(range(2, 32)), zero_led_public, bytes(range(32, 64))):
        x = public_key(seed)
        signature = base64.b64decode(page.evaluate(SIGN_JS, [_b64url(seed), _b64url(x),
                                                             base64.b64encode(message).decode()]))
        VerifyKey(x).verify(message, signature)  # raises if the engine signed with another key

