"""The app's own writes are signed on the worker's thread (worker/ed25519.js, noble-ed25519), in both engines.

WebCrypto's sign() is asynchronous and WebKit runs it on a thread of its own: two thread hops inside every
edit's save, the largest part of WebKit's slow saves (docs/benchmarks.md, session 10). The worker now
signs with the same seed in JavaScript. Checked here: its signatures are exactly PyNaCl's (Ed25519 is
deterministic), for seeds WebKit's WebCrypto mishandles too (a zero first byte); its public key is the
identity's; and an edit in the app is signed by it, not by WebCrypto."""

from __future__ import annotations

import os
from typing import Any

import pytest
from appdriver import AppPage
from nacl.signing import SigningKey

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
SIGN = """async ([seeds, messages]) => {
    const { makeSigner, publicKeyOf } = await import('/js/worker/ed25519.js');
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const bytes = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
    return seeds.map((seed) => {
        const sign = makeSigner(bytes(seed));
        return { publicKey: hex(publicKeyOf(bytes(seed))), signatures: messages.map((m) => hex(sign(bytes(m)))) };
    });
}"""


def test_worker_signatures_are_pynacls(profile: Any, server: Any) -> None:
    page = profile.new_page()
    page.goto(server.url)
    page.wait_for_selector("body[data-ready]", timeout=180_000)
    seeds = [bytes(32), b"\x00" + os.urandom(31), os.urandom(32), os.urandom(32)]
    messages = [b"", b"abc", os.urandom(1000)]
    got = page.evaluate(SIGN, [[s.hex() for s in seeds], [m.hex() for m in messages]])
    for seed, out in zip(seeds, got, strict=True):
        key = SigningKey(seed)
        assert out["publicKey"] == bytes(key.verify_key).hex()
        for message, signature in zip(messages, out["signatures"], strict=True):
            assert signature == key.sign(message).signature.hex()
            key.verify_key.verify(message, bytes.fromhex(signature))


def test_an_edit_is_signed_on_the_workers_thread(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Alice Stage")
    app.create_workspace("Hamlet")
    app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane Doe"})
    last = app.stats()["workspace"]["splits"][-1]
    assert last["signer"] == "worker", last
    assert app.errors == []
