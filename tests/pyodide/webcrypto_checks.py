"""The Pyodide half of the signer interop test: WebCrypto Ed25519 against PyNaCl's bundles.

Why: in the browser the core signs and verifies through WebCrypto, on the relay through
PyNaCl. A bundle must verify identically on both, or peers disagree about what happened.
Run by tests/pyodide/webcrypto_interop.mjs inside Pyodide; `run(text)` takes the JSON that
tests/test_signer_interop.py wrote on CPython and returns JSON for it to check. It reports
what happened and leaves the verdicts to the CPython test, which can fail loudly.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import Any

from openprod import Env, SignerError, Workspace, connect, decode_bundle
from openprod import hlc as hlc_mod
from openprod import operations as o
from openprod.bundle import build
from openprod.ids import IdFactory, workspace_id_for
from openprod.signer_webcrypto import WebCryptoSigner, WebCryptoVerifier, generate_identity
from openprod.starter import starter_manifests


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _ingest(ws: Workspace, wire: bytes, source: str) -> Any:
    """The core's receive steps with WebCrypto verifying in between (check -> verify -> apply)."""
    received = ws.check_received([wire], source=source)
    verdicts = [await ws.env.verifier.verify_async(b.actor, b.signing_bytes(), b.signature)
                for b in received.to_verify]
    return ws.apply_received(received, verdicts)[0]


async def _finish(ws: Workspace, tx: Any) -> None:
    """The core's write steps with WebCrypto signing in between (prepare -> sign -> commit)."""
    prepared = ws.prepare(tx)
    if prepared is not None:
        ws.commit(prepared, await ws.env.signer.sign_async(prepared.signing_bytes()))


class _Writing:
    """`async with _Writing(ws) as tx:` one transaction signed by WebCrypto."""

    def __init__(self, ws: Workspace, kind: str = "edit") -> None:
        self.ws, self.kind = ws, kind

    async def __aenter__(self) -> Any:
        self.tx = self.ws.begin(self.kind)
        return self.tx

    async def __aexit__(self, kind: object, exc: object, tb: object) -> None:
        if exc is not None:
            self.ws.abort()
            return
        await _finish(self.ws, self.tx)


async def _signed_genesis_bundle() -> dict[str, Any]:
    """(a) A bundle built and sealed by the core, signed by a fresh WebCrypto identity."""
    identity = await generate_identity("Wren (browser)")
    signer = await WebCryptoSigner.create(identity)
    ids = IdFactory(_now_ms, os.urandom)
    clock = hlc_mod.Clock(_now_ms)
    nonce = os.urandom(16)
    ops = [
        o.make_op(o.InitWorkspace, ids.new(), clock.tick(), name="Signed in Pyodide", nonce=nonce),
        o.make_op(o.IdentifyActor, ids.new(), clock.tick(), display_name=identity.display_name),
    ]
    workspace = workspace_id_for(identity.actor_id, _now_ms(), nonce)
    unsigned = build(workspace=workspace, bundle_id=ids.new(), actor=identity.actor_id,
                     device=bytes(16), kind="workspace",
                     clock={}, ops=ops)
    bundle = unsigned.seal(await signer.sign_async(unsigned.signing_bytes()))
    verifier = WebCryptoVerifier()
    message = bundle.signing_bytes()
    return {
        "actor": identity.actor_id.hex(),
        "workspace": bundle.header.workspace.hex(),
        "wire": bundle.wire().hex(),
        "self_verifies": await verifier.verify_async(bundle.actor, message, bundle.signature),
        "self_verifies_altered_message": await verifier.verify_async(bundle.actor, message + b"!", bundle.signature),
    }


async def _verify_inputs(given: dict[str, Any]) -> dict[str, Any]:
    """(b) PyNaCl-signed bundles and edge-case signatures, judged by WebCryptoVerifier."""
    verifier = WebCryptoVerifier()
    wires: dict[str, bool | str] = {}
    for name, wire in given["bundles"].items():
        bundle = decode_bundle(bytes.fromhex(wire))
        wires[name] = await verifier.verify_async(bundle.actor, bundle.signing_bytes(), bundle.signature)
    vectors: dict[str, bool | str] = {}
    for name, case in given["vectors"].items():
        try:
            vectors[name] = await WebCryptoVerifier().verify_async(
                bytes.fromhex(case["public_key"]), bytes.fromhex(case["message"]), bytes.fromhex(case["signature"]))
        except Exception as exc:  # reported, not hidden: a verifier must answer, never raise
            vectors[name] = f"raised {type(exc).__name__}: {exc}"
    # the same inputs in one batch (verify_many_async: every verify started at once), in order
    names = [f"bundle:{n}" for n in given["bundles"]] + [f"vector:{n}" for n in given["vectors"]]
    items = [(b.actor, b.signing_bytes(), b.signature)
             for b in (decode_bundle(bytes.fromhex(w)) for w in given["bundles"].values())]
    items += [(bytes.fromhex(c["public_key"]), bytes.fromhex(c["message"]), bytes.fromhex(c["signature"]))
              for c in given["vectors"].values()]
    together: dict[str, bool] | str
    try:
        together = dict(zip(names, await WebCryptoVerifier().verify_many_async(items), strict=True))
    except Exception as exc:
        together = f"raised {type(exc).__name__}: {exc}"
    # verdicts the caller already has (a verify worker's, openprod_web.writes.VerifyAhead) are taken as
    # they are, but never over the shape and libsodium's refusals: here every one is said to hold
    told: dict[str, bool] | str
    try:
        told = dict(zip(names, await WebCryptoVerifier().verify_many_async(items, known=[True] * len(items)),
                        strict=True))
    except Exception as exc:
        told = f"raised {type(exc).__name__}: {exc}"
    return {"bundles": wires, "vectors": vectors, "together": together, "told_valid": told,
            "shapes": {n: [i[0].hex(), i[2].hex()] for n, i in zip(names, items, strict=True)}}


async def _webcrypto_env(name: str) -> Env:
    identity = await generate_identity(name)
    return Env(signer=await WebCryptoSigner.create(identity), verifier=WebCryptoVerifier(),
               display_name=identity.display_name)


async def _join_nacl_workspace(given: dict[str, Any]) -> dict[str, Any]:
    """A browser replica of a CPython workspace: every bundle verified by WebCrypto on receipt."""
    env = await _webcrypto_env("Jo (browser replica)")
    ws = Workspace.join(connect(":memory:"), env, bytes.fromhex(given["workspace"]))
    statuses = [(await _ingest(ws, bytes.fromhex(w), "cpython")).status for w in given["wires"]]
    hash_before_forgery = ws.state_hash()
    forged = await _ingest(ws, bytes.fromhex(given["forged"]), "cpython")
    hash_after_forgery = ws.state_hash()
    genuine = await _ingest(ws, bytes.fromhex(given["genuine"]), "cpython")
    record = ws.records.get(given["record"])
    return {
        "statuses": statuses,
        "state_hash_before_forgery": hash_before_forgery,
        "forged": {"status": forged.status, "reason": forged.reason, "detail": forged.detail},
        "state_hash_after_forgery": hash_after_forgery,
        "genuine": genuine.status,
        "state_hash": ws.state_hash(),
        "record": record.values if record else None,
    }


async def _browser_workspace() -> dict[str, Any]:
    """(c) A workspace created and edited through the async API with the WebCrypto signer."""
    env = await _webcrypto_env("Wren (browser)")
    ws, founding = Workspace.founding(connect(":memory:"), env, "Browser show")
    await _finish(ws, founding)
    manifests = starter_manifests()
    async with _Writing(ws, kind="module") as tx:
        tx.adopt_module(manifests["contacts"])
        tx.adopt_module(manifests["schedule"])
    async with _Writing(ws) as tx:
        ann = tx.create_record("contacts.Contacts", {"name": "Ann", "role": "Stage manager"})
        tx.create_record("schedule.Events", {"title": "Tech rehearsal", "room": "Studio A"})
    async with _Writing(ws) as tx:
        tx.set_field(ann, "contacts.Contacts.department", "Stage management")
    # The synchronous path cannot sign with WebCrypto: it must refuse and change nothing.
    before = ws.state_hash()
    try:
        with ws.transaction() as tx:
            tx.set_field(ann, "contacts.Contacts.role", "should never be stored")
        sync_refusal = "no error"
    except SignerError as exc:
        sync_refusal = str(exc)
    return {
        "workspace": ws.workspace_id.hex(),
        "actor": ws.actor_id.hex(),
        "record": ann,
        "values": ws.records.get(ann).values if ws.records.get(ann) else None,
        "wires": [w.hex() for w in (b.wire for b in ws.oplog.bundles())],
        "state_hash": ws.state_hash(),
        "sync_refusal": sync_refusal,
        "sync_refusal_changed_state": ws.state_hash() != before,
    }


async def run(text: str) -> str:
    given = json.loads(text)
    result = {
        "python": platform.python_version(),
        "platform": sys.platform,
        "genesis": await _signed_genesis_bundle(),
        "verified": await _verify_inputs(given),
        "joined": await _join_nacl_workspace(given["workspace"]),
        "browser_workspace": await _browser_workspace(),
    }
    return json.dumps(result, indent=1)

