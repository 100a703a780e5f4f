"""Issue 10, "Must show": a real relay process under the outsiders' load, bounded in time.

While `loadgen.py` (its own process, at a lower priority) holds 200 silent sockets of each kind
(HTTP headers that never end, sync sockets that never say hello, signalling sockets that never
answer), opens connections past one address's limit, runs a stranger and a member who send and
never read, and floods publish requests, an honest member's round trip through the relay
(Alice's edit reaches Bob, Bob's answer reaches Alice) is measured by waiting for the bundles to
arrive. Stated limits (docs/relay.md, "Limits"): median round trip under 100 ms (or 5x the same
run's round trip before the attack, when a loaded machine is slower than that quiet); the relay's
resident memory at most 100 MiB above what it was before the attack; its open files at most
25 addresses x 32 connections (the per-address limit) above it; every silent socket dropped
within its deadline (10 s) plus the close wait (3 s) and slack; and everything back to where
it was afterwards.

The parked-bundle flood is its own test below: a member floods bundles that can never apply
(each waits for one held back), in the honest members' own workspace, while round trips are
measured there and in another workspace; then releases them all at once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from relayproc import FilePeer, make_file_peer, open_files, process_memory_kib, settings_env, wait_until

from openprod import BundleEvent, Workspace
from openprod.sync import InSync
from openprod_server.client import RelayClient

ROUND_TRIPS = 21  # at least; measured for as long as the attack lasts
MEDIAN_LIMIT_MS = 100
QUIET_FACTOR = 5  # on a loaded machine the limit is this many times the same run's quiet median


def median_limit(quiet: list[float]) -> float:
    """The stated 100 ms, or QUIET_FACTOR x the round trip measured before the attack in the same
    run when the machine itself is that slow: a test must not fail because CI shares its cores."""
    return max(MEDIAN_LIMIT_MS, QUIET_FACTOR * statistics.median(quiet))
MEMORY_LIMIT_KIB = 100 * 1024
PER_ADDRESS = 32
ATTACK_ADDRESSES = 25


class Sampler(threading.Thread):
    """Samples the relay's open files and resident memory until stopped (peaks kept)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_files = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.peak_files = max(self.peak_files, len(open_files(self.pid)))
            self.stop_event.wait(0.02)


async def measure_round_trips(url: str, alice: Workspace, bob: Workspace, count: int,
                              until: threading.Event | None = None) -> list[float]:
    """Alice edits; Bob answers each edit of hers as it arrives; Alice waits for the answer. At least
    `count` round trips, and on until `until` is set (the whole attack)."""
    loop = asyncio.get_running_loop()
    synced = {"alice": asyncio.Event(), "bob": asyncio.Event()}
    answered = asyncio.Event()

    def on_bob_bundle(event: BundleEvent) -> None:
        if event.origin == "remote" and event.actor == alice.actor_id.hex():
            loop.call_soon(lambda: bob.create_record("contacts.Contacts", {"name": "Answer"}))

    def on_alice_bundle(event: BundleEvent) -> None:
        if event.origin == "remote" and event.actor == bob.actor_id.hex():
            answered.set()

    bob.listeners.append(on_bob_bundle)
    alice.listeners.append(on_alice_bundle)
    sessions = [asyncio.create_task(RelayClient(url, ws).sync(
        until_in_sync=False, on_event=lambda e, name=name: isinstance(e, InSync) and synced[name].set()))
        for name, ws in (("alice", alice), ("bob", bob))]
    try:
        async with asyncio.timeout(60):
            for ready in synced.values():
                await ready.wait()
        timings: list[float] = []
        i = 0
        while len(timings) < count or (until is not None and not until.is_set()):
            i += 1
            answered.clear()
            started = time.perf_counter()
            alice.create_record("contacts.Contacts", {"name": f"Question {i}"})
            async with asyncio.timeout(30):
                await answered.wait()
            timings.append((time.perf_counter() - started) * 1000)
        return timings
    finally:
        bob.listeners.remove(on_bob_bundle)
        alice.listeners.remove(on_alice_bundle)
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)


def members(relay: object, folder: Path) -> tuple[FilePeer, FilePeer, bytes]:
    alice = make_file_peer(folder, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    ws_id = ws.workspace_id
    ws.conn.close()
    alice.cli("publish", relay=relay)
    bob = make_file_peer(folder, "Bob", 2, workspace_id=ws_id)
    mallory = make_file_peer(folder, "Mallory", 3, workspace_id=ws_id)  # the member who will never read
    for peer in (bob, mallory):
        peer.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
    for peer in (alice, bob):
        peer.cli("sync", relay=relay)
    return alice, bob, ws_id


def test_outsiders_cannot_sink_the_relay_while_a_member_works(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(send_timeout=5, max_connections_per_address=PER_ADDRESS, idle_close=5,
                                           publish_burst=3, publish_every=600))
    alice_peer, bob_peer, ws_id = members(relay, tmp_path)
    pid = relay.proc.pid  # type: ignore[union-attr]
    alice, bob = alice_peer.open(), bob_peer.open()
    # The baseline: the relay warmed up by the members' own work, before anyone attacks.
    quiet = asyncio.run(measure_round_trips(relay.url, alice, bob, 5))
    memory_before, _ = process_memory_kib(pid)
    files_before = len(open_files(pid))
    sampler = Sampler(pid)
    sampler.start()
    load = subprocess.Popen([sys.executable, str(Path(__file__).parent / "loadgen.py"), str(relay.port), ws_id.hex()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert load.stdout is not None
        ready = json.loads(load.stdout.readline() or "{}")
        assert ready.get("event") == "ready", load.stderr.read() if load.stderr else ""
        files_under_attack = len(open_files(pid))
        finished = threading.Event()
        lines: list[str] = []

        def wait_for_done() -> None:
            lines.append(load.stdout.readline())  # type: ignore[union-attr]
            finished.set()

        threading.Thread(target=wait_for_done, daemon=True).start()
        timings = asyncio.run(measure_round_trips(relay.url, alice, bob, ROUND_TRIPS, until=finished))
        done = json.loads(lines[0] or "{}")
        assert done.get("event") == "done", load.stderr.read() if load.stderr else ""
    finally:
        load.kill()
        load.wait(10)
        sampler.stop_event.set()
        sampler.join(5)
    _now, memory_peak = process_memory_kib(pid)
    median = statistics.median(timings)
    report = {"round_trip_ms": {"median": round(median, 1), "p90": round(sorted(timings)[int(0.9 * len(timings))], 1),
                                "p99": round(sorted(timings)[int(0.99 * len(timings))], 1),
                                "max": round(max(timings), 1), "count": len(timings),
                                "before_the_attack": [round(t) for t in quiet]},
              "memory_growth_mib": round((memory_peak - memory_before) / 1024, 1),
              "files": {"before": files_before, "under_attack": files_under_attack, "peak": sampler.peak_files},
              "ready": ready, "done": done}
    print(json.dumps(report, indent=1))
    # What the attack had in place while the round trips were measured.
    assert ready["silent"] == {"http": 200, "sync": 200, "signal": 200}
    assert files_under_attack > files_before + 400, "the silent sockets were already gone: nothing was measured"
    # The stated limits.
    assert median < median_limit(quiet), report
    assert memory_peak - memory_before < MEMORY_LIMIT_KIB, report
    assert sampler.peak_files <= files_before + ATTACK_ADDRESSES * PER_ADDRESS + 40, report
    # Every silent socket and every over-limit connection dropped, each within its deadline.
    assert done["closed"] == done["held"], report
    assert max(done["last_closed_s"].values()) < 10 + 3 + 10, report
    assert set(done["never_readers_dropped_s"]) == {"stranger", "member"}, report
    # The publish flood (while the round trips were measured): three per address, the rest told to wait.
    assert done["publishes"] == {"200": 15, "429": 35}, report
    # Afterwards everything is back, and the members are in sync with the relay.
    wait_until(lambda: len(open_files(pid)) <= files_before + 20, 30, "the relay's files to return to normal")
    health = relay.health()
    assert health["status"] == "ok" and health["workspaces"] == 1 + 15
    assert not [e for e in relay.events() if "Traceback" in str(e.get("error", ""))]
    alice.conn.close()
    bob.conn.close()
    alice_peer.cli("sync", relay=relay)
    bob_peer.cli("sync", relay=relay)
    assert alice_peer.hash_and_count() == bob_peer.hash_and_count()


def pending_at_relay(relay: object, ws_id: bytes) -> int:
    """How many bundles wait in the relay's replica (read through a read-only connection)."""
    path = relay.data / "workspaces" / f"{uuid.UUID(bytes=ws_id)}.db"  # type: ignore[attr-defined]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM pending").fetchone()[0])
    finally:
        conn.close()


def test_a_parked_bundle_flood_slows_nobody(relay_factory, tmp_path: Path) -> None:
    """Issue 10, item 3. Mallory, a member, pushes 10,300 bundles by 12 keys of her own, none of
    which can apply (each chain's first bundle is held back): the relay parks up to its limits
    (1,000 per author, 10,000 per workspace) and refuses the rest (`too_many_parked`); storing a
    bundle reads only what waits for it, so Alice and Bob (in the flooded workspace) and Carol and
    Dan (in another) keep their round trips. Then she sends the 12 first bundles: 10,000 parked
    bundles apply, 256 at a time between other work, while Carol and Dan go on."""
    relay = relay_factory()
    alice_peer, bob_peer, ws_id = members(relay, tmp_path)
    carol_peer = make_file_peer(tmp_path, "Carol", 4, owner_of="Macbeth")
    carol_ws = carol_peer.open()
    other_id = carol_ws.workspace_id
    carol_ws.conn.close()
    carol_peer.cli("publish", relay=relay)
    dan_peer = make_file_peer(tmp_path, "Dan", 5, workspace_id=other_id)
    dan_peer.cli("join", "--workspace", str(uuid.UUID(bytes=other_id)), relay=relay)
    for peer in (carol_peer, dan_peer):
        peer.cli("sync", relay=relay)
    pid = relay.proc.pid  # type: ignore[union-attr]
    alice, bob, carol, dan = (p.open() for p in (alice_peer, bob_peer, carol_peer, dan_peer))

    async def both(until: threading.Event | None, same: bool = True) -> list[list[float]]:
        pairs = [(carol, dan)] + ([(alice, bob)] if same else [])
        return list(await asyncio.gather(*(measure_round_trips(relay.url, a, b, ROUND_TRIPS, until=until)
                                           for a, b in pairs)))

    quiet = asyncio.run(both(None))
    memory_before, _ = process_memory_kib(pid)
    files_before = len(open_files(pid))
    sampler = Sampler(pid)
    sampler.start()
    load = subprocess.Popen([sys.executable, str(Path(__file__).parent / "loadgen.py"), str(relay.port), ws_id.hex(),
                             "parked"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)

    def next_line(event: threading.Event, into: list[dict]) -> threading.Thread:
        def read() -> None:
            into.append(json.loads(load.stdout.readline() or "{}"))  # type: ignore[union-attr]
            event.set()
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    try:
        lines: list[dict] = []
        ready = threading.Event()
        next_line(ready, lines).join(60)
        assert lines and lines[0].get("event") == "ready", load.stderr.read() if load.stderr else ""
        flooded = threading.Event()
        next_line(flooded, lines)
        during = asyncio.run(both(flooded))
        parked = lines[-1]
        assert parked.get("event") == "parked", load.stderr.read() if load.stderr else ""
        waiting = pending_at_relay(relay, ws_id)
        load.stdin.write("release\n")  # type: ignore[union-attr]
        load.stdin.flush()  # type: ignore[union-attr]
        drained = threading.Event()
        stuck: list[Exception] = []

        def watch() -> None:
            try:
                wait_until(lambda: pending_at_relay(relay, ws_id) == 0, 120, "the released bundles to apply", 0.1)
            except Exception as exc:  # the drain stopped (or its check failed): end the measuring and fail, not hang
                stuck.append(exc)
            finally:
                drained.set()

        threading.Thread(target=watch, daemon=True).start()
        released_at = time.perf_counter()
        release = asyncio.run(both(drained, same=False))[0]
        release_s = time.perf_counter() - released_at
        if stuck:
            raise stuck[0]
        load.wait(60)
    finally:
        load.kill()
        load.wait(10)
        sampler.stop_event.set()
        sampler.join(5)
    _now, memory_peak = process_memory_kib(pid)

    def figures(timings: list[float]) -> dict[str, float]:
        ordered = sorted(timings)
        return {"median": round(statistics.median(ordered), 1), "p99": round(ordered[int(0.99 * len(ordered))], 1),
                "max": round(ordered[-1], 1), "count": len(ordered)}

    report = {"before": {"other_workspace": figures(quiet[0]), "same_workspace": figures(quiet[1])},
              "flood": {"other_workspace": figures(during[0]), "same_workspace": figures(during[1]),
                        "seconds": parked["seconds"], "bundles": lines[0]["bundles"], "nacks": parked["nacks"],
                        "parked_at_relay": waiting},
              "release": {"other_workspace": figures(release), "seconds_to_apply_all": round(release_s, 1)},
              "memory_growth_mib": round((memory_peak - memory_before) / 1024, 1),
              "files": {"before": files_before, "peak": sampler.peak_files}}
    print(json.dumps(report, indent=1))
    # The limits held: 10,000 waited, 300 were refused with the reason (100 past one author's cap,
    # 200 past the workspace's), and the session went on.
    assert waiting == 10_000, report
    assert parked["nacks"] == {"too_many_parked": 300}, report
    # Nobody was slowed, in the flooded workspace or another, while it parked or while it applied.
    for timings in (during[0], during[1], release):
        assert statistics.median(timings) < median_limit(quiet[0] + quiet[1]), report
    assert memory_peak - memory_before < MEMORY_LIMIT_KIB, report
    assert sampler.peak_files <= files_before + 20, report
    # Everything released applied; the members catch up and agree with each other.
    health = relay.health()
    assert health["status"] == "ok"
    for ws in (alice, bob, carol, dan):
        ws.conn.close()
    for peer in (alice_peer, bob_peer):
        peer.cli("sync", relay=relay)
    assert alice_peer.hash_and_count() == bob_peer.hash_and_count()
    assert alice_peer.hash_and_count()[1] > 10_000
