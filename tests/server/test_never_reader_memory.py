"""Issue 19, item 7: a member who stops reading, through a real socket, does not make the relay grow.

Mallory gets in sync with a real relay process, then never reads her socket again (a 4 KiB receive
buffer: the kernel buffers fill and the relay's writes to her stall). She pings every few seconds
so the relay keeps her (its send timeout and WebSocket keepalive are raised to 10 minutes for this
test: the bound under test is the session's, not the timeouts', and a loaded machine must not let
the keepalive drop her before the pushes are done). Alice pushes two rounds of 24 MiB of bundles (32 KiB
each) while Bob reads everything. Stated bound (docs/relay.md, "Limits"): what the relay holds for
a stalled peer is its window of 32 unacknowledged batches and an 8 MiB live queue (then dropped,
to be replaced by a catch-up from the store when it reads again). So the second round, which
would add 24 MiB to an unbounded queue, adds under 12 MiB to the relay's resident memory, and
its whole growth stays under 80 MiB; Bob gets every bundle, and Mallory's session is still
there. Waits are on states (Bob has every bundle); the timeouts only bound a failure.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from pathlib import Path

from rawsocket import frame, sync_handshake, tcp, upgrade
from relayproc import make_file_peer, process_memory_kib, settings_env, wait_until

from openprod import BundleEvent, Workspace
from openprod.signer_nacl import NaclSigner
from openprod.sync import InSync, encode_message_v1
from openprod.sync.messages import Ping
from openprod_server.client import RelayClient

TABLE = "contacts.Contacts"
BIG = 32 * 1024
ROUND = 768  # bundles per round: 24 MiB
SECOND_ROUND_LIMIT_KIB = 12 * 1024  # an unbounded queue would add 24 MiB
# 8 MiB of queue, the window, and what the relay's allocator and SQLite keep after taking 24 MiB in
# bursts (measured: 54 MiB with the bound, 90 MiB and rising by 26 MiB a round without it)
GROWTH_LIMIT_KIB = 80 * 1024


def relay_tx_queue(relay_port: int, member_port: int) -> int:
    """Bytes the relay's kernel holds unsent on its socket to the member (Linux /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote = int(cols[1].split(":")[1], 16), int(cols[2].split(":")[1], 16)
        if local == relay_port and remote == member_port:
            return int(cols[4].split(":")[0], 16)
    return -1


class Pinger(threading.Thread):
    """Mallory's only activity: a sync Ping every 3 s, so the relay does not drop her as silent."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.stop = threading.Event()

    def run(self) -> None:
        stamp = 0
        while not self.stop.wait(3):
            stamp += 1
            self.sock.sendall(frame(encode_message_v1(Ping(stamp=stamp))))


async def push_round(alice: Workspace, bob: Workspace, base: int) -> None:
    """Alice makes ROUND records of 32 KiB in bursts; returns once Bob (through the relay) has them all."""
    loop = asyncio.get_running_loop()
    wanted: set[str] = set()
    got: set[str] = set()
    made = False  # every bundle of the round is made: only then can Bob have them all
    done = asyncio.Event()

    def on_bob(event: BundleEvent) -> None:
        if event.origin == "remote":
            got.add(event.bundle_id)
            if made and wanted <= got:
                loop.call_soon_threadsafe(done.set)

    bob.listeners.append(on_bob)
    try:
        for i in range(ROUND):
            alice.create_record(TABLE, {"name": f"Cue {base + i}", "role": f"{i} " + "x" * BIG})
            wanted.add(alice.last_receipt.bundle_id)  # type: ignore[union-attr]
            if i % 16 == 15:
                await asyncio.sleep(0.05)  # the sessions send between bursts
        made = True
        if wanted <= got:
            return
        async with asyncio.timeout(240):
            await done.wait()
    finally:
        bob.listeners.remove(on_bob)


def test_a_member_who_never_reads_leaves_the_relay_bounded_and_serving(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(send_timeout=600, keepalive=600))
    owner = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    ws = owner.open()
    ws_id = ws.workspace_id
    ws.conn.close()
    owner.cli("publish", relay=relay)
    bob_peer = make_file_peer(tmp_path, "Bob", 2, workspace_id=ws_id)
    mallory = make_file_peer(tmp_path, "Mallory", 3, workspace_id=ws_id)
    for peer in (bob_peer, mallory):
        peer.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
        peer.cli("sync", relay=relay)
    pid = relay.proc.pid  # type: ignore[union-attr]

    alice, bob = owner.open(), bob_peer.open()
    report: dict[str, object] = {}
    held: list[socket.socket] = []

    def stall_mallory() -> Pinger:
        """Mallory in sync (her clock is the relay's), then never reading again."""
        mws = mallory.open()
        clock = dict(mws.vector_clock)
        mws.conn.close()
        sock = tcp(relay.port, rcvbuf=4096)
        held.append(sock)
        rest = upgrade(sock, f"/sync/{uuid.UUID(bytes=ws_id)}")
        sync_handshake(sock, rest, ws_id, mallory.identity.actor_id, NaclSigner(mallory.identity).sign, clock=clock)
        pinger = Pinger(sock)
        pinger.start()
        wait_until(lambda: relay.health()["sessions"] == 3, 30, "the relay to admit Mallory")
        return pinger

    async def scenario() -> None:
        synced = {"alice": asyncio.Event(), "bob": asyncio.Event()}
        sessions = [asyncio.create_task(RelayClient(relay.url, w).sync(
            until_in_sync=False, on_event=lambda e, n=name: isinstance(e, InSync) and synced[n].set()))
            for name, w in (("alice", alice), ("bob", bob))]
        try:
            async with asyncio.timeout(60):
                for ready in synced.values():
                    await ready.wait()
            report["before_kib"] = process_memory_kib(pid)[0]
            pingers.append(stall_mallory())
            started = time.monotonic()
            await push_round(alice, bob, 0)
            report["first_round_kib"] = process_memory_kib(pid)
            await push_round(alice, bob, ROUND)
            report["second_round_kib"] = process_memory_kib(pid)
            report["rounds_s"] = round(time.monotonic() - started, 1)
            report["sessions"] = relay.health()["sessions"]
            report["relay_unsent_to_mallory_kib"] = relay_tx_queue(relay.port, held[0].getsockname()[1]) // 1024
        finally:
            for task in sessions:
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)

    pingers: list[Pinger] = []
    try:
        asyncio.run(scenario())
    finally:
        for pinger in pingers:
            pinger.stop.set()
            pinger.join(10)
        alice.conn.close()
        bob.conn.close()
    report["closed"] = [e for e in relay.events() if e.get("event") == "session_closed"]
    print(json.dumps(report))
    before = report["before_kib"]
    first, second = report["first_round_kib"][0], report["second_round_kib"][0]  # type: ignore[index]
    peak = report["second_round_kib"][1]  # type: ignore[index]
    # Mallory was still held, stalled: the relay's kernel had bytes for her it could not send.
    assert report["sessions"] == 3, report
    assert report["relay_unsent_to_mallory_kib"] > 64, report  # type: ignore[operator]
    # The bound: the second 24 MiB round did not pile up, and the whole growth stayed under the limit.
    assert second - first < SECOND_ROUND_LIMIT_KIB, report
    assert peak - before < GROWTH_LIMIT_KIB, report  # type: ignore[operator]
    # Mallory hangs up; what she missed reaches her in a catch-up like any member's.
    held[0].close()
    mallory.cli("sync", relay=relay)
    assert mallory.hash_and_count() == bob_peer.hash_and_count()
    assert relay.health()["status"] == "ok"
