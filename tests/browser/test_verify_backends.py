"""The verify worker's two Ed25519 backends (worker/verifier.js): WebCrypto and libsodium's WebAssembly
build, in both engines. WebKitGTK's WebCrypto verify costs ~500 µs, libsodium ~110 µs once warm;
Chromium's WebCrypto ~46 µs against libsodium's ~92 µs (docs/benchmarks.md, session 16), so the worker
times each batch and uses the backend measured cheaper on this device. Checked here: each backend's
verdicts against PyNaCl's (libsodium too) on valid, tampered, wrong-key and malformed items; the
choice follows the measured costs (a device where libsodium tiers up, one where WebCrypto is fast);
and the real worker's choices follow its own measurements, libsodium loaded from the app's build."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

pytestmark = pytest.mark.browser

L = 2**252 + 27742317777372353535851937790883648493  # the group order: S >= L is not canonical

# Answers of verifier.js to a list of [hex packed, count, backend] batches, one after another; a batch
# all "could not tell" is asked again for up to a minute (a backend still loading answers 2 for every
# item, never a verdict).
ASK = """async (batches) => {
    const bytes = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
    const worker = new Worker('/js/worker/verifier.js', { type: 'module' });
    const ask = (id, packed, count, backend) => new Promise((resolve) => {
        worker.onmessage = ({ data }) => resolve({ ...data, verdicts: Array.from(data.verdicts) });
        worker.postMessage({ id, packed, count, backend });
    });
    const out = [];
    for (const [i, [packed, count, backend]] of batches.entries()) {
        let data = await ask(i, bytes(packed), count, backend);
        const until = performance.now() + 60000;
        while (data.verdicts.every((v) => v === 2) && performance.now() < until) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            data = await ask(i, bytes(packed), count, backend);
        }
        out.push(data);
    }
    worker.terminate();
    return JSON.stringify(out);
}"""

# Batches of `count` valid items sent to the worker until `sodium` answered `want` of them (libsodium
# loads in the background: WebCrypto answers until then); every answer.
UNTIL_SODIUM = """async ([packed, count, want]) => {
    const bytes = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
    const { verifyMany } = await import('/js/worker/verifypool.js');
    const first = await verifyMany(bytes(packed), count); // the pool surfaces the backend it used
    const worker = new Worker('/js/worker/verifier.js', { type: 'module' });
    const answers = [];
    let sodium = 0;
    for (let i = 0; sodium < want && i < 2000; i += 1) {
        const data = await new Promise((resolve) => {
            worker.onmessage = ({ data }) => resolve(data);
            worker.postMessage({ id: i, packed: bytes(packed), count });
        });
        answers.push({ backend: data.backend, sample: data.sample, costs: data.costs,
                       valid: Array.from(data.verdicts).every((v) => v === 1) });
        if (data.backend === 'sodium') sodium += 1;
    }
    worker.terminate();
    return { first: first.backend, firstValid: Array.from(first).every((v) => v === 1), answers };
}"""

# verifychoice.js's Chooser fed made-up timings: which backend each batch went to.
CHOOSE = """async ([costs, batches, sodiumFrom]) => {
    const { Chooser } = await import('/js/worker/verifychoice.js');
    const chooser = new Chooser({ warm: { sodium: 600 } });
    const done = { webcrypto: 0, sodium: 0 };
    const picks = [];
    for (let i = 0; i < batches; i += 1) {
        const ready = i >= sodiumFrom ? ['webcrypto', 'sodium'] : ['webcrypto'];
        const { name, sample } = chooser.pick(ready);
        const [cold, warm, after] = costs[name]; // µs per verify: `cold` for the first `after` verifies
        chooser.record(name, 100, (done[name] < after ? cold : warm) * 100 / 1000, sample);
        done[name] += 100;
        picks.push([name, sample]);
    }
    return picks;
}"""


def pack(items: list[tuple[bytes, bytes, bytes]]) -> bytes:
    return b"".join(key + signature + len(message).to_bytes(4, "little") + message
                    for key, message, signature in items)


def nacl_verdict(key: bytes, message: bytes, signature: bytes) -> int:
    try:
        VerifyKey(key).verify(message, signature)
    except (BadSignatureError, ValueError):
        return 0
    return 1


def cases() -> dict[str, tuple[bytes, bytes, bytes]]:
    signer = SigningKey(os.urandom(32))
    key = bytes(signer.verify_key)
    message = os.urandom(200)
    signature = signer.sign(message).signature
    flipped_r = bytes([signature[0] ^ 1]) + signature[1:]
    flipped_s = signature[:40] + bytes([signature[40] ^ 4]) + signature[41:]
    s = int.from_bytes(signature[32:], "little")
    not_canonical_s = signature[:32] + (s + L).to_bytes(32, "little")  # same point equation, S >= L
    other = bytes(SigningKey(os.urandom(32)).verify_key)
    identity = b"\x01" + bytes(31)  # a small-order key (the neutral point): libsodium refuses it
    not_canonical_key = b"\xed" + b"\xff" * 30 + b"\x7f"  # y = p - 1 + ... >= p: not a canonical encoding
    return {
        "valid": (key, message, signature),
        "valid, empty message": (key, b"", signer.sign(b"").signature),
        "tampered signature R": (key, message, flipped_r),
        "tampered signature S": (key, message, flipped_s),
        "tampered message": (key, message[:-1] + bytes([message[-1] ^ 1]), signature),
        "wrong key": (other, message, signature),
        "S not canonical": (key, message, not_canonical_s),
        "small-order key, zero signature": (identity, message, identity + bytes(32)),
        "key not canonical": (not_canonical_key, message, signature),
    }


@pytest.mark.parametrize("backend", ["webcrypto", "sodium"])
def test_each_backend_gives_pynacls_verdicts(profile: Any, server: Any, backend: str) -> None:
    page = profile.new_page()
    page.goto(server.url)
    named = cases()
    items = list(named.values())
    expected = [nacl_verdict(*item) for item in items]
    assert expected[:2] == [1, 1] and expected[2:] == [0] * (len(items) - 2)
    packed = pack(items)
    truncated = packed + pack([items[0]])[:-10]  # the last item's message cut short: could not tell
    got = json.loads(page.evaluate(ASK, [[truncated.hex(), len(items) + 1, backend]]))[0]
    assert got["backend"] == backend, got
    verdicts = dict(zip(named, got["verdicts"], strict=False))
    assert got["verdicts"][-1] == 2, got  # cut short: could not tell
    want = dict(zip(named, expected, strict=True))
    differ = {k: (verdicts[k], want[k]) for k in named if verdicts[k] != want[k]}
    # WebCrypto takes S >= L and a small-order key's trivial signature (and in WebKitGTK the page was lost on
    # a small-order or non-canonical key): the worker refuses those before WebCrypto, as libsodium does
    assert not differ, differ


def test_the_choice_follows_the_measured_costs(profile: Any, server: Any) -> None:
    page = profile.new_page()
    page.goto(server.url)
    # WebKitGTK-like: WebCrypto 500 µs; libsodium 980 µs for its first 600 verifies (JSC tiering the
    # wasm up), then 110 µs; libsodium ready from the 3rd batch
    picks = page.evaluate(CHOOSE, [{"webcrypto": [500, 500, 0], "sodium": [980, 110, 600]}, 120, 2])
    assert [name for name, _ in picks[:2]] == ["webcrypto", "webcrypto"]  # first verdicts: no wait for sodium
    chosen = [name for name, sample in picks[60:] if not sample]
    assert chosen and set(chosen) == {"sodium"}, picks
    assert any(name == "webcrypto" and sample for name, sample in picks[60:]), picks  # re-sampled
    # Chromium- (or CryptoKit-) like: WebCrypto 46 µs, libsodium 92 µs once warm: WebCrypto kept, and
    # trying libsodium (warming it up, then re-sampling it) takes a bounded share of the time
    picks = page.evaluate(CHOOSE, [{"webcrypto": [46, 46, 0], "sodium": [300, 92, 600]}, 120, 2])
    chosen = [name for name, sample in picks[60:] if not sample]
    assert chosen and set(chosen) == {"webcrypto"}, picks
    samples = [name for name, sample in picks[60:] if sample]
    assert "sodium" in samples and len(samples) <= len(picks[60:]) // 4, picks  # a small share
    # libsodium never ready: WebCrypto throughout
    picks = page.evaluate(CHOOSE, [{"webcrypto": [500, 500, 0], "sodium": [110, 110, 0]}, 20, 10**9])
    assert {name for name, _ in picks} == {"webcrypto"}, picks


def test_the_worker_uses_the_backend_it_measured_cheaper(profile: Any, server: Any) -> None:
    page = profile.new_page()
    page.goto(server.url)
    signer = SigningKey(os.urandom(32))
    items = [(bytes(signer.verify_key), m, signer.sign(m).signature) for m in (os.urandom(100) for _ in range(64))]
    out = page.evaluate(UNTIL_SODIUM, [pack(items).hex(), len(items), 12])
    assert out["first"] in ("webcrypto", "sodium") and out["firstValid"], out["first"]
    answers = out["answers"]
    assert answers[0]["backend"] == "webcrypto"  # libsodium still loading: WebCrypto answers at once
    assert all(a["valid"] for a in answers)
    assert sum(a["backend"] == "sodium" for a in answers) >= 12, answers[-3:]  # loaded, then measured
    # every batch not a re-sample went to the backend cheapest by the costs measured before it
    for before, answer in itertools.pairwise(answers):
        costs = before["costs"]
        if answer["sample"] or len(costs) < 2:
            continue
        assert answer["backend"] == min(costs, key=costs.get), (before, answer)
    final = answers[-1]["costs"]
    assert set(final) == {"webcrypto", "sodium"}, final
    print({"engine_costs_us": {k: round(v) for k, v in final.items()}, "batches": len(answers)})
