"""Test helpers: a manual clock and peers built from seeded identities (no real randomness)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass

from openprod import Env, Identity, Workspace, connect
from openprod.starter import starter_manifests

try:  # CPython: libsodium. Pyodide has no PyNaCl: the pure-Python backend signs identically.
    from openprod.signer_nacl import NaclSigner as Signer
    from openprod.signer_nacl import NaclVerifier as Verifier
    from openprod.signer_nacl import public_key_for
    BACKEND = "nacl"
except ImportError:
    from openprod.signer_pure import PureSigner as Signer  # type: ignore[assignment]
    from openprod.signer_pure import PureVerifier as Verifier  # type: ignore[assignment]
    from openprod.signer_pure import public_key_for  # type: ignore[assignment]
    BACKEND = "pure"

START_MS = 1_790_000_000_000  # 2026-09-21, a fixed point in time


class ManualClock:
    """Physical time that only moves when a test says so (1 ms per read by default)."""

    def __init__(self, start: int = START_MS, step: int = 1) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class Peer:
    name: str
    ws: Workspace
    path: str
    identity: Identity
    env: Env


def seeded_identity(name: str, seed: int) -> Identity:
    private = hashlib.sha256(f"{name}/{seed}".encode()).digest()
    return Identity(public_key_for(private), private, name, "2026-01-01T00:00:00Z")


def crdt_backend(random_bytes):  # type: ignore[no-untyped-def]
    """pycrdt on CPython; under Pyodide, Yjs if the runner loaded it as globalThis.Y."""
    try:
        from openprod.crdt import PycrdtBackend

        return PycrdtBackend(random_bytes)
    except ImportError:
        import js  # type: ignore[import-not-found]

        from openprod.crdt_yjs import YjsBackend

        return YjsBackend(js.Y, random_bytes) if hasattr(js, "Y") else None


def make_env(identity: Identity, clock: ManualClock, rng: random.Random) -> Env:
    random_bytes = lambda n: rng.randbytes(n)  # noqa: E731
    return Env(signer=Signer(identity), verifier=Verifier(), display_name=identity.display_name,
               now_ms=clock, random_bytes=random_bytes, crdt=crdt_backend(random_bytes))

# A module whose one table has a "title", as Schedule's Events and the app's Reports do: a bare
# "title" across a link is then ambiguous (tests of the calling view and of cue sheets)
NOTEBOOK = """
[module]
name = "notebook"
version = "1.0.0"
display_name = "Notebook"

[table.Pages]
display_name = "Pages"

[table.Pages.fields.title]
type = "string"
display_name = "Title"
"""


def make_peer(name: str, path: str, clock: ManualClock, *, seed: int, workspace_from: Peer | None = None,
              rng: random.Random | None = None, modules: tuple[str, ...] = ("contacts", "schedule", "scenes",
                                                                             "lighting", "sm", "sound")) -> Peer:
    rng = rng or random.Random(seed)
    identity = seeded_identity(name, seed)
    env = make_env(identity, clock, rng)
    conn = connect(path)
    if workspace_from is None:
        ws = Workspace.create(conn, env, f"{name}'s show")
        manifests = starter_manifests()
        with ws.transaction(kind="module") as tx:
            for module in modules:
                tx.adopt_module(manifests[module])
    else:
        ws = Workspace.join(conn, env, workspace_from.ws.workspace_id)
    return Peer(name, ws, path, identity, env)


def sync(a: Peer, b: Peer) -> None:
    """Exchange every bundle each side lacks, in canonical order (a test stand-in for sync)."""

    for src, dst in ((a, b), (b, a)):
        for wire in (b.wire for b in src.ws.oplog.bundles()):
            dst.ws.ingest(wire)


def netns_unavailable() -> str | None:
    """None when this machine can create network namespaces (the LAN tests), else the reason in words."""
    if shutil.which("ip") is None:
        return "this machine has no `ip` command (iproute2), so the test cannot create network namespaces"
    if os.geteuid() != 0:
        return "the test runs as a non-root user, and creating network namespaces needs root"
    probe = f"openprod-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` is refused here ({made.stderr.strip()}), so the test cannot create network namespaces"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None
