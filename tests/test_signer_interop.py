"""PyNaCl (CPython) and WebCrypto Ed25519 (Pyodide in Node.js) verify each other's bundles.

Why: the relay signs and verifies with PyNaCl, the browser with WebCrypto, and bundles travel
byte for byte between them. If the two verifiers ever disagree about a signature, a browser
and the relay apply different histories and never converge. So this checks real bundles and
whole workspaces both ways, tampered copies, and edge-case signatures where Ed25519 libraries
are known to differ (small-order keys and nonces, non-canonical scalars).

The Pyodide half is tests/pyodide/webcrypto_checks.py, run once per module by
tests/pyodide/webcrypto_interop.mjs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from typing import Any

import pytest
from pyodide_env import PYODIDE_TESTS, ROOT, missing_pyodide_prerequisites

from openprod import Env, Identity, Workspace, connect, decode_bundle
from openprod import operations as o
from openprod.bundle import build, encode_wire
from openprod.encoding import decode, encode
from openprod.hlc import Clock
from openprod.ids import IdFactory, workspace_id_for
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity
from openprod.starter import starter_manifests

# Ed25519 constants (RFC 8032) used to build the edge-case signatures.
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY_POINT = (1).to_bytes(32, "little")
ORDER_8_POINT = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
IDENTITY_NON_CANONICAL = (P + 1).to_bytes(32, "little")  # y = p + 1, i.e. the identity again


def flip_bit(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def with_signature(wire: bytes, signature: bytes) -> bytes:
    bundle = decode_bundle(wire)
    return encode_wire(bundle.header_bytes, signature, bundle.op_bytes)


def with_header(wire: bytes, **changes: Any) -> bytes:
    """The same ops and signature under an edited header: what a forwarding peer might try."""
    bundle = decode_bundle(wire)
    header = decode(bundle.header_bytes)
    header.update(changes)
    return encode_wire(encode(header), bundle.signature, bundle.op_bytes)


def secret_scalar(seed: bytes) -> int:
    digest = bytearray(hashlib.sha512(seed).digest()[:32])
    digest[0] &= 248
    digest[31] &= 127
    digest[31] |= 64
    return int.from_bytes(digest, "little")


def challenge(r: bytes, public_key: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + public_key + message).digest(), "little") % L


def edge_case_vectors() -> dict[str, dict[str, str]]:
    """Signatures that a lenient Ed25519 verifier accepts and libsodium refuses (and two that all accept)."""
    seed = bytes(range(32))
    identity = generate_identity("Vectors", seed=seed)
    public = identity.actor_id
    message = b"openprod edge case"
    good = NaclSigner(identity).sign(message)
    # A message whose challenge is a multiple of 8, so [k]T vanishes for the order-8 point T.
    order8_message = next(m for m in (b"forged %d" % i for i in range(1000))
                          if challenge(IDENTITY_POINT, ORDER_8_POINT, m) % 8 == 0)
    big_s = (int.from_bytes(good[32:], "little") + L).to_bytes(32, "little")  # S + L: same value mod L
    small_nonce_s = challenge(IDENTITY_POINT, public, message) * secret_scalar(seed) % L
    cases = {
        "genuine": (public, message, good),
        "wrong_message": (public, message + b"!", good),
        "flipped_signature_bit": (public, message, flip_bit(good, 40)),
        # R = identity, S = 0 verifies under [S]B = R + [k]A for ANY message when A = identity.
        "small_order_key_identity": (IDENTITY_POINT, message, IDENTITY_POINT + bytes(32)),
        "small_order_key_non_canonical": (IDENTITY_NON_CANONICAL, message, IDENTITY_POINT + bytes(32)),
        "small_order_key_order_8": (ORDER_8_POINT, order8_message, IDENTITY_POINT + bytes(32)),
        # A real key holder signing with nonce r = 0 (R = identity): valid maths, refused by libsodium.
        "small_order_nonce": (public, message, IDENTITY_POINT + small_nonce_s.to_bytes(32, "little")),
        "non_canonical_s": (public, message, good[:32] + big_s),
        "key_not_on_curve": ((2).to_bytes(32, "little"), message, good),
        "short_signature": (public, message, good[:63]),
    }
    return {name: {"public_key": k.hex(), "message": m.hex(), "signature": s.hex()}
            for name, (k, m, s) in cases.items()}


def nacl_verdicts(vectors: dict[str, dict[str, str]]) -> dict[str, bool]:
    verifier = NaclVerifier()
    return {name: verifier.verify(bytes.fromhex(c["public_key"]), bytes.fromhex(c["message"]),
                                  bytes.fromhex(c["signature"])) for name, c in vectors.items()}


def nacl_env(name: str) -> Env:
    identity = generate_identity(name)
    return Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=identity.display_name)


def nacl_genesis(identity: Identity) -> bytes:
    """A bare bundle built and sealed by the core, signed by PyNaCl."""
    ids, clock = IdFactory(), Clock(lambda: time.time_ns() // 1_000_000)
    nonce = os.urandom(16)
    ops = [o.make_op(o.InitWorkspace, ids.new(), clock.tick(), name="Signed on CPython", nonce=nonce)]
    workspace = workspace_id_for(identity.actor_id, time.time_ns() // 1_000_000, nonce)
    unsigned = build(workspace=workspace, bundle_id=ids.new(), actor=identity.actor_id,
                     device=bytes(16), kind="workspace",
                     clock={}, ops=ops)
    return unsigned.seal(NaclSigner(identity).sign(unsigned.signing_bytes())).wire()


def nacl_workspace() -> dict[str, Any]:
    """A CPython workspace, and its next bundle both genuine and with a forged signature."""
    ws = Workspace.create(connect(":memory:"), nacl_env("Sam (relay)"), "Relay show")
    ws.adopt_module(starter_manifests()["contacts"])
    record = ws.create_record("contacts.Contacts", {"name": "Lee", "role": "Sound designer"})
    wires = [b.wire for b in ws.oplog.bundles()]
    hash_before = ws.state_hash()
    ws.set_field(record, "contacts.Contacts.department", "Sound")
    assert ws.last_receipt is not None
    genuine = ws.last_receipt.wire
    return {
        "workspace": ws.workspace_id.hex(),
        "wires": [w.hex() for w in wires],
        "genuine": genuine.hex(),
        "forged": with_signature(genuine, flip_bit(decode_bundle(genuine).signature, 0)).hex(),
        "record": record,
        "values": ws.records.get(record).values,  # type: ignore[union-attr]
        "state_hash_before": hash_before,
        "state_hash": ws.state_hash(),
    }


@pytest.fixture(scope="module")
def interop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = missing_pyodide_prerequisites()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("webcrypto")
    signer = generate_identity("Sam (relay)")
    genesis = nacl_genesis(signer)
    other = generate_identity("Someone else")
    given = {
        "bundles": {
            "nacl_genesis": genesis.hex(),
            "nacl_signature_flipped": with_signature(genesis, flip_bit(decode_bundle(genesis).signature, 5)).hex(),
            "nacl_header_altered": with_header(genesis, meta={"note": "added in transit"}).hex(),
            "nacl_claimed_by_other_actor": with_header(genesis, actor=other.actor_id).hex(),
        },
        "vectors": edge_case_vectors(),
        "workspace": nacl_workspace(),
    }
    (folder / "input.json").write_text(json.dumps(given), encoding="utf-8")
    done = subprocess.run(
        ["node", str(PYODIDE_TESTS / "webcrypto_interop.mjs"), str(folder / "input.json"), str(folder / "output.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, f"the Pyodide side did not run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads((folder / "output.json").read_text(encoding="utf-8"))
    assert result["platform"] == "emscripten"
    return {"given": given, "result": result}


# --- WebCrypto-signed, verified by PyNaCl -------------------------------------------------------


def test_pynacl_verifies_a_bundle_signed_with_webcrypto(interop: dict[str, Any]) -> None:
    genesis = interop["result"]["genesis"]
    wire = bytes.fromhex(genesis["wire"])
    bundle = decode_bundle(wire)
    assert bundle.actor.hex() == genesis["actor"]
    assert (genesis["self_verifies"], genesis["self_verifies_altered_message"]) == (True, False)
    verifier = NaclVerifier()
    assert verifier.verify(bundle.actor, bundle.signing_bytes(), bundle.signature)

    ws = Workspace.join(connect(":memory:"), nacl_env("Sam (relay)"), bytes.fromhex(genesis["workspace"]))
    assert ws.ingest(wire).status == "applied"
    assert ws.name == "Signed in Pyodide"
    assert ws.actor_name(bundle.actor) == "Wren (browser)"


def test_pynacl_rejects_tampered_webcrypto_bundles(interop: dict[str, Any]) -> None:
    wire = bytes.fromhex(interop["result"]["genesis"]["wire"])
    signature = decode_bundle(wire).signature
    verifier = NaclVerifier()
    for tampered in (with_signature(wire, flip_bit(signature, 63)), with_header(wire, kind="edit"),
                     with_header(wire, actor=generate_identity("Mallory").actor_id)):
        bundle = decode_bundle(tampered)
        assert not verifier.verify(bundle.actor, bundle.signing_bytes(), bundle.signature)

    ws = Workspace.join(connect(":memory:"), nacl_env("Sam (relay)"), decode_bundle(wire).header.workspace)
    before = ws.state_hash()
    result = ws.ingest(with_signature(wire, flip_bit(signature, 63)))
    assert (result.status, result.reason) == ("rejected", "bad_signature")
    assert ws.state_hash() == before
    assert [q.reason for q in ws.oplog.quarantined()] == ["bad_signature"]


def test_workspace_written_in_pyodide_ingests_on_cpython(interop: dict[str, Any]) -> None:
    browser = interop["result"]["browser_workspace"]
    assert "asynchronously" in browser["sync_refusal"], browser["sync_refusal"]
    assert browser["sync_refusal_changed_state"] is False
    wires = [bytes.fromhex(w) for w in browser["wires"]]
    assert len(wires) == 4  # create, adopt modules, two records, one edit

    relay = Workspace.join(connect(":memory:"), nacl_env("Sam (relay)"), bytes.fromhex(browser["workspace"]))
    assert [relay.ingest(w, source="browser").status for w in wires] == ["applied"] * len(wires)
    assert relay.state_hash() == browser["state_hash"]  # same bytes in, same state out, on both runtimes
    record = relay.records.get(browser["record"], "contacts.Contacts")
    assert record is not None and record.values == browser["values"]
    assert record.get("department") == "Stage management"
    (change,) = relay.history.field(browser["record"], "contacts.Contacts.department")
    assert (change.actor, change.display_name) == (browser["actor"], "Wren (browser)")
    assert [r.get("title") for r in relay.records.all("schedule.Events")] == ["Tech rehearsal"]


def test_tampered_pyodide_bundle_is_quarantined_on_cpython(interop: dict[str, Any]) -> None:
    browser = interop["result"]["browser_workspace"]
    *earlier, last = [bytes.fromhex(w) for w in browser["wires"]]
    relay = Workspace.join(connect(":memory:"), nacl_env("Sam (relay)"), bytes.fromhex(browser["workspace"]))
    for wire in earlier:
        assert relay.ingest(wire).status == "applied"
    before = relay.state_hash()
    result = relay.ingest(with_signature(last, flip_bit(decode_bundle(last).signature, 17)))
    assert (result.status, result.reason) == ("rejected", "bad_signature")
    assert relay.state_hash() == before
    assert relay.ingest(last).status == "applied"
    assert relay.state_hash() == browser["state_hash"]


# --- PyNaCl-signed, verified by WebCrypto -------------------------------------------------------


def test_webcrypto_verifies_pynacl_bundles_and_rejects_tampered_ones(interop: dict[str, Any]) -> None:
    assert interop["result"]["verified"]["bundles"] == {
        "nacl_genesis": True,
        "nacl_signature_flipped": False,
        "nacl_header_altered": False,
        "nacl_claimed_by_other_actor": False,
    }


def test_pyodide_replica_ingests_a_pynacl_workspace_through_webcrypto(interop: dict[str, Any]) -> None:
    given, joined = interop["given"]["workspace"], interop["result"]["joined"]
    assert joined["statuses"] == ["applied"] * len(given["wires"])
    assert joined["state_hash_before_forgery"] == given["state_hash_before"]
    assert joined["forged"]["status"] == "rejected"
    assert joined["forged"]["reason"] == "bad_signature", joined["forged"]
    assert joined["state_hash_after_forgery"] == given["state_hash_before"]
    assert joined["genuine"] == "applied"
    assert joined["state_hash"] == given["state_hash"]
    assert joined["record"] == given["values"]


def test_webcrypto_and_pynacl_agree_on_edge_case_signatures(interop: dict[str, Any]) -> None:
    vectors = interop["given"]["vectors"]
    expected = nacl_verdicts(vectors)
    # The vectors only test something if libsodium accepts the genuine one and refuses the rest.
    assert expected == {name: name == "genuine" for name in vectors}
    webcrypto = interop["result"]["verified"]["vectors"]
    disagreements = {name: (expected[name], webcrypto.get(name))
                     for name in vectors if webcrypto.get(name) != expected[name]}
    assert not disagreements, f"(PyNaCl, WebCrypto) verdicts differ: {disagreements}"


def test_webcrypto_verifies_a_batch_at_once_as_it_does_one_by_one(interop: dict[str, Any]) -> None:
    # the browser's catch-up verifies a slice's signatures in one batch (verify_many_async)
    verified = interop["result"]["verified"]
    expected = ({f"bundle:{k}": v for k, v in verified["bundles"].items()}
                | {f"vector:{k}": v for k, v in verified["vectors"].items()})
    assert True in expected.values() and False in expected.values()  # genuine and refused ones both in the batch
    assert verified["together"] == expected


def test_webcrypto_takes_verdicts_given_but_still_refuses_what_libsodium_refuses(interop: dict[str, Any]) -> None:
    # a catch-up's verdicts from the verify worker (verify_many_async's `known`), all said to hold: the
    # shape and libsodium's refusals are still checked, everything else is taken as given
    from openprod.ed25519_rules import refused_by_libsodium

    verified = interop["result"]["verified"]
    expected = {name: len(bytes.fromhex(key)) == 32 and len(bytes.fromhex(sig)) == 64
                and not refused_by_libsodium(bytes.fromhex(key), bytes.fromhex(sig))
                for name, (key, sig) in verified["shapes"].items()}
    assert False in expected.values() and True in expected.values()
    assert verified["told_valid"] == expected


def test_edge_case_vectors_are_what_they_claim() -> None:
    """The forgery really is valid Ed25519 maths: a lenient verifier (no small-order check) accepts it."""
    ecdsa = pytest.importorskip("ecdsa")
    vectors = edge_case_vectors()
    lenient = {}
    for name in ("small_order_key_identity", "small_order_key_order_8", "small_order_nonce", "genuine"):
        case = vectors[name]
        key = ecdsa.VerifyingKey.from_string(bytes.fromhex(case["public_key"]), curve=ecdsa.Ed25519)
        try:
            lenient[name] = bool(key.verify(bytes.fromhex(case["signature"]), bytes.fromhex(case["message"])))
        except ecdsa.BadSignatureError:
            lenient[name] = False
    assert lenient == dict.fromkeys(lenient, True)


# --- the pre-check that keeps WebCrypto as strict as libsodium (runs on CPython, no Pyodide) ---


def _edwards_add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    d = -121665 * pow(121666, -1, P) % P
    (x1, y1), (x2, y2) = p1, p2
    t = d * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + y1 * x2) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def _x_for(y: int) -> int:
    d = -121665 * pow(121666, -1, P) % P
    x2 = (y * y - 1) * pow(d * y * y + 1, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    assert (x * x - x2) % P == 0, f"y={y} is not on the curve"
    return x


def test_small_order_list_is_exactly_the_eight_torsion_points() -> None:
    """Independent check of the constant in signer_webcrypto: 8 distinct points, each with [8]P = O."""
    from openprod.ed25519_rules import _SMALL_ORDER_Y

    points = {(sx, y) for y in _SMALL_ORDER_Y for x in [_x_for(y)] for sx in {x, -x % P}}
    assert len(points) == 8  # the torsion subgroup of edwards25519 has order 8
    for point in points:
        acc = (0, 1)
        for _ in range(8):
            acc = _edwards_add(acc, point)
        assert acc == (0, 1)


def test_precheck_refuses_what_libsodium_refuses_and_never_a_genuine_signature() -> None:
    from openprod.ed25519_rules import refused_by_libsodium

    vectors = edge_case_vectors()
    for name in ("small_order_key_identity", "small_order_key_non_canonical", "small_order_key_order_8",
                 "small_order_nonce", "non_canonical_s"):
        case = vectors[name]
        assert refused_by_libsodium(bytes.fromhex(case["public_key"]), bytes.fromhex(case["signature"])), name
    for n in range(300):
        identity = generate_identity("Genuine", seed=hashlib.sha256(b"%d" % n).digest())
        message = b"bundle %d" % n
        assert not refused_by_libsodium(identity.actor_id, NaclSigner(identity).sign(message))


def test_pure_verifier_agrees_with_pynacl_on_edge_cases() -> None:
    signer_pure = pytest.importorskip("openprod.signer_pure")
    vectors = edge_case_vectors()
    verifier = signer_pure.PureVerifier()
    pure = {name: verifier.verify(bytes.fromhex(c["public_key"]), bytes.fromhex(c["message"]),
                                  bytes.fromhex(c["signature"])) for name, c in vectors.items()}
    assert pure == nacl_verdicts(vectors)


def test_the_nacl_signer_signs_as_libsodium_and_the_pure_signer_do() -> None:
    """NaclSigner calls libsodium's crypto_sign directly (no SignedMessage per commit): its
    signatures are PyNaCl's SigningKey's and the pure-Python signer's, byte for byte, and verify."""
    from nacl.signing import SigningKey

    from openprod.signer_pure import PureSigner

    for n in range(3):
        seed = hashlib.sha256(b"signer %d" % n).digest()
        identity = generate_identity("Signer", seed=seed)
        nacl_signer, pure = NaclSigner(identity), PureSigner(identity)
        for message in (b"", b"openprod", os.urandom(700)):
            signature = nacl_signer.sign(message)
            assert signature == SigningKey(seed).sign(message).signature == pure.sign(message)
            assert NaclVerifier().verify(identity.actor_id, message, signature)
