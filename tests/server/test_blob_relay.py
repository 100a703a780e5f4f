"""Attachments through a real relay process: Alice's tablet uploads what it references (the relay
fetches every referenced blob), Bob fetches it on demand, verified, into a folder on disk; a
blob whose bytes reach the relay only after Bob asked is picked up."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from pathlib import Path

from relayproc import RelayProcess, env_for, make_file_peer, wait_until

from openprod import Workspace, connect
from openprod.blobs import BlobRef
from openprod.sync import FETCHING, HERE, MISSING, BlobExchange
from openprod_server.blobstore import DiskBlobStore
from openprod_server.client import RelayClient

ATTACH = """
[module]
name = "attach"
version = "1.0.0"
display_name = "Attachments"

[table.Plots]
display_name = "Plots"

[table.Plots.fields.file]
type = "blob"
display_name = "File"
"""

DATA = random.Random(18).randbytes(3 * 2**20 + 17)
REF = BlobRef.of(DATA, "Act 1 plot.pdf", "application/pdf")


def relay_blob(relay: RelayProcess, ws_id: bytes) -> Path:
    digest = REF.hash[7:]
    return relay.data / "workspaces" / f"{uuid.UUID(bytes=ws_id)}.blobs" / digest[:2] / digest


def setup(relay: RelayProcess, tmp_path: Path):  # type: ignore[no-untyped-def]
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    with ws.transaction(kind="module") as tx:
        tx.adopt_module(ATTACH)
    with ws.transaction() as tx:
        tx.create_record("attach.Plots", {"file": REF})
    ws_id = ws.workspace_id
    ws.conn.close()
    bob = make_file_peer(tmp_path, "Bob", 2, workspace_id=ws_id)
    alice.cli("publish", relay=relay)
    bob.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
    return alice, bob, ws_id


async def serve_until(relay: RelayProcess, ws: Workspace, store: DiskBlobStore, done) -> None:  # type: ignore[no-untyped-def]
    """Sync with the relay, serving blobs from `store`, until `done()` holds (polled: a state, not a delay)."""
    client = RelayClient(relay.url, ws)
    client.blobs = BlobExchange(store, max_bytes=lambda: ws.settings.max_blob_bytes)
    task = asyncio.create_task(client.sync(until_in_sync=False))
    try:
        async with asyncio.timeout(120):
            while not done():
                if task.done():
                    raise AssertionError(f"the session ended early: {task.result()}")
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def fetch(relay: RelayProcess, ws: Workspace, store: DiskBlobStore, ref: BlobRef) -> str:
    client = RelayClient(relay.url, ws)
    exchange = BlobExchange(store, max_bytes=lambda: ws.settings.max_blob_bytes)
    client.blobs = exchange
    exchange.want(ref)
    client.blobs_until = lambda: exchange.status(ref).state != FETCHING  # here, or asked and nobody had it
    async with asyncio.timeout(120):
        await client.sync(until_in_sync=False)
    return exchange.status(ref).state


def test_a_blob_goes_up_to_the_relay_and_down_to_another_peer(relay: RelayProcess, tmp_path: Path) -> None:
    alice, bob, ws_id = setup(relay, tmp_path)
    alice_store = DiskBlobStore(tmp_path / "alice.blobs")
    alice_store.put(REF.hash, DATA)
    ws = alice.open()
    asyncio.run(serve_until(relay, ws, alice_store, lambda: relay_blob(relay, ws_id).exists()))
    ws.conn.close()
    assert relay_blob(relay, ws_id).read_bytes() == DATA  # verified and renamed into place, whole

    bob.cli("sync", relay=relay)
    bob_ws = Workspace.open(connect(str(bob.db)), env_for(bob.identity))
    [ref] = bob_ws.attachments.referenced_blobs().values()
    assert ref == REF
    bob_store = DiskBlobStore(tmp_path / "bob.blobs")
    assert asyncio.run(fetch(relay, bob_ws, bob_store, ref)) == HERE
    assert bob_store.read(REF.hash, 0, len(DATA)) == DATA
    sessions = [e for e in relay.events() if e.get("event") == "session_closed"]
    assert sessions and all(e["reason"] == "closed" for e in sessions), sessions


def test_a_blob_reaching_the_relay_after_the_op_is_picked_up(relay: RelayProcess, tmp_path: Path) -> None:
    alice, bob, ws_id = setup(relay, tmp_path)
    alice.cli("sync", relay=relay)  # the op reaches the relay; the bytes stay on Alice's tablet
    bob.cli("sync", relay=relay)
    bob_ws = Workspace.open(connect(str(bob.db)), env_for(bob.identity))
    bob_store = DiskBlobStore(tmp_path / "bob.blobs")
    assert asyncio.run(fetch(relay, bob_ws, bob_store, REF)) == MISSING  # "not on this device yet"
    assert not bob_store.has(REF.hash)

    alice_store = DiskBlobStore(tmp_path / "alice.blobs")
    alice_store.put(REF.hash, DATA)
    ws = alice.open()
    asyncio.run(serve_until(relay, ws, alice_store, lambda: relay_blob(relay, ws_id).exists()))
    assert asyncio.run(fetch(relay, bob_ws, bob_store, REF)) == HERE
    assert bob_store.read(REF.hash, 0, len(DATA)) == DATA
    wait_until(lambda: not any(p.name.startswith(".incoming") for p in relay_blob(relay, ws_id).parent.iterdir()),
               10, "no temporary files left")
