"""Attachments through the relay: a blob from peer A up to a real relay process, then down to B.

`python -m bench.blobs_bench [--mib 50]`

A attaches a random file (incompressible, like a PDF of scanned plots) and syncs with the relay,
which fetches it (timed: "upload", connect to the blob complete and verified in the relay's
folder); B, which holds the op but not the bytes, fetches it on demand (timed: "download",
connect to the blob verified in B's folder). Both run the blobs/1 feature of the sync session
over a WebSocket on loopback: 15 KiB pieces, 8 requests in flight, appended to a partial file,
hashed at the end. Reference, in the same run: the same bytes sent over a plain TCP socket on the
same loopback (`socket.sendfile` into a file), the floor of the machine, so the ratio is what the
protocol, the relay and the verification add.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

from openprod.blobs import BlobRef
from openprod.sync import HERE, BlobExchange
from openprod_server.blobstore import DiskBlobStore
from openprod_server.client import RelayClient

from .peers import origin_peer, replica_peer
from .sync_common import RelayProcess, report

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


def plain_copy(source: Path, target: Path) -> float:
    """Seconds to send `source` over a loopback TCP socket into `target` (the reference)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    size = source.stat().st_size

    def receive() -> None:
        conn, _ = server.accept()
        with conn, target.open("wb") as out:
            got = 0
            while got < size:
                data = conn.recv(1 << 20)
                if not data:
                    break
                out.write(data)
                got += len(data)
            out.flush()
            os.fsync(out.fileno())

    thread = threading.Thread(target=receive)
    thread.start()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn, source.open("rb") as f:
        conn.sendfile(f)
    thread.join()
    took = time.perf_counter() - start
    server.close()
    assert target.read_bytes() == source.read_bytes()
    return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="openprod-bench-") as folder:
        base = Path(folder)
        data = os.urandom(args.mib * 2**20)
        ref = BlobRef.of(data, "plots.pdf", "application/pdf")
        source = base / "plots.pdf"
        source.write_bytes(data)
        a = origin_peer(base, "A", 1)
        with a.ws.transaction(kind="module") as tx:
            tx.adopt_module(ATTACH)
        with a.ws.transaction() as tx:
            tx.create_record("attach.Plots", {"file": ref})
        a_store = DiskBlobStore(base / "A.blobs")
        a_store.put(ref.hash, data)

        relay = RelayProcess(base / "relay")
        relay_blob = base / "relay" / "workspaces" / f"{uuid.UUID(bytes=a.ws.workspace_id)}.blobs" / \
            ref.hash[7:9] / ref.hash[7:]
        try:
            async def run() -> tuple[float, float, bool]:
                client_a = RelayClient(relay.url, a.ws)
                await client_a.publish()
                await client_a.sync()  # the op first (not timed)
                client_a.blobs = BlobExchange(a_store, max_bytes=lambda: 2**31)
                t0 = time.perf_counter()
                task = asyncio.create_task(client_a.sync(until_in_sync=False))
                while not relay_blob.exists():  # the relay renames it into place once verified
                    if task.done():
                        raise RuntimeError(f"upload ended early: {task.result()}")
                    await asyncio.sleep(0.01)
                upload = time.perf_counter() - t0
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

                b = replica_peer(base, "B", 2, a)
                client_b = RelayClient(relay.url, b.ws)
                await client_b.join()
                await client_b.sync()
                b_store = DiskBlobStore(base / "B.blobs")
                exchange = BlobExchange(b_store, max_bytes=lambda: 2**31)
                exchange.want(next(iter(b.ws.attachments.referenced_blobs().values())))
                client_b.blobs = exchange
                client_b.blobs_until = lambda: exchange.status(ref).state == HERE
                t0 = time.perf_counter()
                await client_b.sync(until_in_sync=False)
                download = time.perf_counter() - t0
                return upload, download, b_store.read(ref.hash, 0, len(data)) == data

            upload, download, intact = asyncio.run(run())
        finally:
            relay.stop()
        floor = plain_copy(source, base / "copy.pdf")
    mib = args.mib
    report("blobs_bench", {
        "mib": mib, "upload_s": round(upload, 2), "download_s": round(download, 2),
        "upload_mib_per_s": round(mib / upload, 1), "download_mib_per_s": round(mib / download, 1),
        "reference_plain_socket_copy_s": round(floor, 3), "reference_mib_per_s": round(mib / floor, 1),
        "ratio_download_to_reference": round(download / floor, 1), "intact": intact})


if __name__ == "__main__":
    main()
