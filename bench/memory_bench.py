"""Memory: the browser worker's heap and the relay's resident memory, each beside a same-run reference.

`python -m bench.memory_bench [--only relay,load,reader,browser] [--bundles 10000] [--quick]`

* relay: the real relay process's resident memory (/proc/PID/status: VmRSS now, VmHWM the peak)
  idle (the reference: a fresh relay that has answered /healthz), with the 100k-op workspace
  (10,000 bundles of ~10 ops, authored on CPython) uploaded and stored, during and after a
  100k-op catch-up to a new peer. The peak during a phase is sampled every 50 ms.
* load: a second relay, idle (its reference), with `--peers` (50) load peers connected, and while
  they edit (5 edits a second each for `--seconds`, 20 s by default: shorter than sync_load's
  60 s), the peers of bench/sync_load.py.
* reader: a third relay with `--send-timeout 300` (so the relay keeps the stalled peer instead of
  cutting it off at the default 30 s: the queue bound is what is measured), two writers pushing
  32 KiB bundles (20 a second together, about 640 KiB/s), a member who reads everything, and, after
  a reference phase with no stalled peer, a member whose socket (receive buffer 4 KiB) stops being
  read once it is in sync; it sends a ping every 5 s so the relay keeps it. The relay's RSS is
  printed every 5 s: it plateaus (the stalled session holds at most its 32 batches in flight and
  an 8 MiB live queue, docs/relay.md "Limits").
* browser (headless Debian Chromium): the worker's WebAssembly memory (Pyodide's heap, which only
  grows) and its JavaScript heap (CDP Runtime.getHeapUsage on the worker target, after a GC) for
  a small workspace (20 records) opened from IndexedDB, the 100k-op workspace right after its
  catch-up from the relay, and the same workspace opened from IndexedDB in a new tab. Reference: a
  bare module worker with Pyodide and the same wheels, `import openprod` (bench/opening_bench.py's
  page), measured first and last. Beside each, the JavaScript heap of every worker the core worker
  runs then (`workers_of_the_worker`): the verify worker a catch-up starts (js/worker/verifypool.js,
  kept for the core worker's life) is one; `verify_worker_js_used_mib` sums those, 0 when there is none.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from openprod import Workspace
from openprod import connect as db_connect
from openprod.sync import (
    InSync,
    Role,
    State,
    SyncSession,
    WorkspaceReplica,
    encode_message_v1,
    pump,
)
from openprod.sync.messages import Ping
from openprod_server.client import RelayClient

from .browser_bench import ARGS, BOOT_MS, CHROMIUM, CONTACTS, INTERACTIVE, Tab, author, chromium_version
from .manifest import TABLE
from .opening_bench import REFERENCE_WORKER
from .peers import make_env, origin_peer, replica_peer
from .sync_common import RelayProcess, load_average, report
from .sync_load import LoadRun

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def mib(kib: float) -> float:
    return round(kib / 1024, 1)


class Peak:
    """Samples a process's VmRSS every `every` s while in a `with` block: the phase's peak, and a
    series of (seconds, MiB) every `series_every` s."""

    def __init__(self, pid: int, every: float = 0.05, series_every: float | None = None) -> None:
        self.pid = pid
        self.every = every
        self.series_every = series_every
        self.peak = 0
        self.series: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        next_point = start
        while not self._stop.is_set():
            now_kib = rss_kib(self.pid)[0]
            self.peak = max(self.peak, now_kib)
            if self.series_every is not None and time.monotonic() >= next_point:
                self.series.append((round(time.monotonic() - start, 1), mib(now_kib)))
                next_point += self.series_every
            self._stop.wait(self.every)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def settle(pid: int, seconds: float = 1.0) -> int:
    """VmRSS once the process has been idle a moment (its event loop's last work done)."""
    time.sleep(seconds)
    return rss_kib(pid)[0]


def figure(now_kib: int, reference_kib: int, **more: Any) -> dict[str, Any]:
    return {"rss_mib": mib(now_kib), "above_reference_mib": mib(now_kib - reference_kib),
            "ratio_to_reference": round(now_kib / reference_kib, 2), **more}


def run_async(coro: Any) -> Any:
    """asyncio.run in a thread of its own (Playwright's sync API keeps a loop in this one)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# --- the relay with a 100k-op workspace ------------------------------------------------------------


def relay_memory(base: Path, bundles: int) -> dict[str, Any]:
    a, _ids, authoring = author(base, bundles, max(10, bundles // 10))
    ops = a.ws.oplog.size().operations
    relay = RelayProcess(base / "relay-mem")
    pid = relay.proc.pid
    try:
        idle = settle(pid)
        client_a = RelayClient(relay.url, a.ws)
        with Peak(pid) as upload:
            asyncio.run(client_a.publish())
            asyncio.run(client_a.sync())
        stored = settle(pid)
        b = replica_peer(base, "B", 2, a)
        client_b = RelayClient(relay.url, b.ws)
        asyncio.run(client_b.join())
        with Peak(pid) as catchup:
            t0 = time.perf_counter()
            down = asyncio.run(client_b.sync())
            seconds = time.perf_counter() - t0
        assert down.in_sync and b.ws.state_hash() == a.ws.state_hash()
        after = settle(pid)
        hwm = rss_kib(pid)[1]
    finally:
        relay.stop()
    result = {"bundles": bundles, "ops": ops, "authoring_s": round(authoring, 1),
              "reference_idle_rss_mib": mib(idle),
              "upload_peak": figure(upload.peak, idle),
              "stored_100k": figure(stored, idle),
              "catchup_peak": figure(catchup.peak, idle, seconds=round(seconds, 1)),
              "after_catchup": figure(after, idle), "vm_hwm_mib": mib(hwm), "load_average": load_average()}
    report("memory_relay_100k", result)
    return result


# --- the relay with 50 peers editing --------------------------------------------------------------


def load_memory(base: Path, peers_n: int, rate: float, seconds: float) -> dict[str, Any]:
    owner = origin_peer(base, "Owner", 1)
    genesis = [b.wire for b in owner.ws.oplog.bundles()]
    load = LoadRun(owner, genesis, peers_n, int(rate * seconds))
    relay = RelayProcess(base / "relay-load")
    pid = relay.proc.pid
    out: dict[str, Any] = {}
    try:
        idle = settle(pid)

        async def run() -> None:
            await load.connect(relay.url, relay.port)
            await asyncio.sleep(2.0)
            out["connected"] = rss_kib(pid)[0]
            with Peak(pid, series_every=5.0) as editing:
                await load.push(rate, seconds, 120)
            out["editing"] = editing
            out["delivered"] = sum(len((load.everything - load.expected[p.name]) & p.arrived.keys())
                                   for p in load.peers)
            out["expected"] = sum(len(load.everything - load.expected[p.name]) for p in load.peers)
            out["after"] = rss_kib(pid)[0]
            await load.close()

        asyncio.run(run())
        closed = settle(pid, 2.0)
    finally:
        relay.stop()
    editing: Peak = out["editing"]
    result = {"peers": peers_n, "edits_per_s_per_peer": rate, "seconds": seconds,
              "deliveries": out["delivered"], "deliveries_expected": out["expected"],
              "reference_idle_rss_mib": mib(idle),
              "connected": figure(out["connected"], idle),
              "editing_peak": figure(editing.peak, idle),
              "after_all_delivered": figure(out["after"], idle),
              "after_peers_left": figure(closed, idle),
              "rss_every_5s_mib": [v for _t, v in editing.series], "load_average": load_average()}
    report("memory_relay_50_peers", result)
    return result


# --- a peer that never reads ----------------------------------------------------------------------

BIG = 32 * 1024  # bytes of text per pushed bundle
STALLED_RCVBUF = 4096


class StalledMember:
    """A member who gets in sync with the relay and then stops reading its socket (a 4 KiB receive
    buffer, and the WebSocket library's own queue of one message): the kernel buffers fill and the
    relay's writes block. It pings every few seconds so that the relay keeps it."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.conn: Any = None
        self.pinging: asyncio.Task[None] | None = None

    async def open(self, relay: RelayProcess, ws_text: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF)
        sock.connect(("127.0.0.1", relay.port))
        self.conn = await connect(f"ws://127.0.0.1:{relay.port}/sync/{ws_text}", sock=sock, max_queue=1,
                                  ping_interval=None, max_size=2**22)
        def now() -> int:
            return int(time.time() * 1000)

        session = SyncSession(WorkspaceReplica(self.ws), role=Role.INITIATOR, nonce=secrets.token_bytes(16),
                              now=now())
        in_sync = False
        while not in_sync:
            for frame in session.data_to_send():
                await self.conn.send(frame)
            due = session.get_timer()
            try:
                frame = await asyncio.wait_for(self.conn.recv(), 30 if due is None else max(0, due - now()) / 1000)
                session.receive_frame(frame, now())
            except TimeoutError:
                session.handle_timer(now())  # the quiet check that ends in InSync
            pump(session, self.ws, now)
            while (event := session.next_event()) is not None:
                in_sync = in_sync or isinstance(event, InSync)
            assert session.state is not State.CLOSED, "the relay closed the stalled member's session"
        for frame in session.data_to_send():
            await self.conn.send(frame)

        async def ping() -> None:
            stamp = 0
            while True:
                await asyncio.sleep(5)
                stamp += 1
                await self.conn.send(encode_message_v1(Ping(stamp=stamp)))

        self.pinging = asyncio.create_task(ping())  # ...and from here on it reads nothing

    def queued(self) -> tuple[int, int]:
        """(bytes the relay's kernel holds unsent to this member, bytes waiting unread in this member's
        receive queue), from /proc/net/tcp (tx_queue of the relay's end, rx_queue of ours)."""
        port = self.conn.local_address[1]
        unsent = unread = -1
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            local, remote = int(cols[1].split(":")[1], 16), int(cols[2].split(":")[1], 16)
            tx, rx = (int(v, 16) for v in cols[4].split(":"))
            if local == port:
                unread = rx
            elif remote == port:
                unsent = tx
        return unsent, unread

    async def close(self) -> None:
        if self.pinging is not None:
            self.pinging.cancel()
        self.conn.transport.abort()


def reader_memory(base: Path, reference_s: float, stalled_s: float) -> dict[str, Any]:
    owner = origin_peer(base, "Owner", 1)
    relay = RelayProcess(base / "relay-reader", extra=("--send-timeout", "300"))
    pid = relay.proc.pid
    out: dict[str, Any] = {}
    try:
        async def run() -> None:
            owner_client = RelayClient(relay.url, owner.ws)
            await owner_client.publish()
            await owner_client.sync()
            members = {}
            for name, seed in (("W1", 11), ("W2", 12), ("Bob", 13), ("Stalled", 14)):
                ws = Workspace.join(db_connect(str(base / f"{name}.db")), make_env(name, seed), owner.ws.workspace_id)
                await RelayClient(relay.url, ws).join()
                await RelayClient(relay.url, ws).sync()
                members[name] = ws
            writers = [members["W1"], members["W2"]]
            bob = members["Bob"]
            got: set[str] = set()
            bob.listeners.append(lambda e: got.add(e.bundle_id) if e.origin == "remote" else None)
            sessions = [asyncio.create_task(RelayClient(relay.url, ws).sync(until_in_sync=False))
                        for ws in (*writers, bob)]
            made: list[str] = []

            async def push(seconds: float) -> None:
                """Each writer makes a 32 KiB record 10 times a second; the relay forwards each to everyone."""
                start = time.monotonic()
                n = 0
                while time.monotonic() - start < seconds:
                    for ws in writers:
                        with ws.transaction() as tx:
                            tx.create_record(TABLE, {"f0": f"{n} " + "x" * BIG})
                        made.append(ws.last_receipt.bundle_id)  # type: ignore[union-attr]
                    n += 1
                    await asyncio.sleep(max(0.0, start + n / 10 - time.monotonic()))

            async def delivered(timeout: float = 120) -> float:
                t0 = time.monotonic()
                while not set(made) <= got:
                    if time.monotonic() - t0 > timeout:
                        raise RuntimeError(f"Bob got {len(got)} of {len(made)}")
                    await asyncio.sleep(0.1)
                return time.monotonic() - t0

            await asyncio.sleep(1)
            out["idle"] = rss_kib(pid)[0]
            with Peak(pid, series_every=5.0) as reference:
                await push(reference_s)
                out["reference_wait"] = await delivered()
            out["reference"] = reference
            out["reference_bytes"] = len(made) * BIG
            await RelayClient(relay.url, members["Stalled"]).sync()  # what was pushed meanwhile
            stalled = StalledMember(members["Stalled"])
            await stalled.open(relay, str(uuid.UUID(bytes=owner.ws.workspace_id)))
            before = len(made)
            out["stalled_start"] = rss_kib(pid)[0]
            with Peak(pid, series_every=5.0) as during:
                await push(stalled_s)
                out["stalled_wait"] = await delivered()
            out["during"] = during
            out["stalled_bytes"] = (len(made) - before) * BIG
            out["unsent"], out["unread"] = stalled.queued()
            with urllib_open(f"{relay.url}/healthz") as health:
                out["sessions"] = json.loads(health.read())["sessions"]
            await stalled.close()
            for task in sessions:
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)

        asyncio.run(run())
        out["after"] = settle(pid, 2.0)
    finally:
        relay.stop()
    reference: Peak = out["reference"]
    during: Peak = out["during"]
    idle = out["idle"]
    series = during.series
    half = [v for t, v in series if t >= stalled_s / 2]
    result = {
        "bundle_bytes": BIG, "pushed_per_s": 20, "send_timeout_s": 300,
        "reference_phase": {"seconds": reference_s, "pushed_mib": round(out["reference_bytes"] / MIB, 1),
                            "idle_rss_mib": mib(idle), "peak": figure(reference.peak, idle),
                            "rss_every_5s_mib": [v for _t, v in reference.series],
                            "bob_caught_up_after_s": round(out["reference_wait"], 1)},
        "stalled_phase": {"seconds": stalled_s, "pushed_mib": round(out["stalled_bytes"] / MIB, 1),
                          "rss_at_start_mib": mib(out["stalled_start"]),
                          "peak": figure(during.peak, idle),
                          "peak_above_reference_phase_peak_mib": mib(during.peak - reference.peak),
                          "second_half_range_mib": [min(half), max(half)] if half else None,
                          "rss_every_5s_mib": [v for _t, v in series],
                          "kernel_unsent_at_relay_kib": round(out["unsent"] / 1024, 1),
                          "kernel_unread_at_member_kib": round(out["unread"] / 1024, 1),
                          "relay_sessions_at_end": out["sessions"],
                          "bob_caught_up_after_s": round(out["stalled_wait"], 1)},
        "after_mib": mib(out["after"]), "load_average": load_average()}
    report("memory_relay_never_reader", result)
    return result


def urllib_open(url: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(url, timeout=10)


# --- the browser worker ----------------------------------------------------------------------------

# The bare reference (opening_bench's worker), kept alive after `import openprod` to be measured.
REFERENCE_TAIL = "\npostMessage({ wasmHeapBytes: py._module.HEAP8.buffer.byteLength });\n"
REFERENCE_START = """async (code) => {
    window.benchWorker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })),
                                    { type: 'module', name: location.origin + '/' });
    return await new Promise((resolve, reject) => {
        window.benchWorker.onmessage = (e) => { if (e.data.wasmHeapBytes) resolve(e.data); };
        window.benchWorker.onerror = (e) => reject(new Error(e.message || 'reference worker failed'));
    });
}"""


class WorkerHeap:
    """A page's dedicated workers seen through CDP (auto-attached, non-flat sessions), to read a
    worker's JavaScript heap: Chromium has no `performance.memory` in workers, and the page is not
    cross-origin isolated, so `measureUserAgentSpecificMemory` is not there either. The core worker's
    own workers (the verify worker a catch-up starts, js/worker/verifypool.js) are reached the same way,
    one level down: auto-attach asked of the core worker's session, messages wrapped once more."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.workers: list[str] = []
        self.nested: dict[str, str] = {}  # the core worker's workers: session id -> name (or URL)
        self.replies: dict[int, dict[str, Any]] = {}
        self._id = 0
        self.cdp.on("Target.attachedToTarget",
                    lambda e: self.workers.append(e["sessionId"]) if e["targetInfo"]["type"] == "worker" else None)
        self.cdp.on("Target.receivedMessageFromTarget", self._message)
        self.cdp.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False,
                                               "flatten": False})

    def _message(self, event: dict[str, Any]) -> None:
        message = json.loads(event["message"])
        if "id" in message:
            self.replies[message["id"]] = message
        elif message.get("method") == "Target.attachedToTarget":
            info = message["params"]["targetInfo"]
            if info["type"] == "worker":
                self.nested[message["params"]["sessionId"]] = info.get("title") or info.get("url", "")
        elif message.get("method") == "Target.receivedMessageFromTarget":  # from a worker of the worker
            inner = json.loads(message["params"]["message"])
            if "id" in inner:
                self.replies[inner["id"]] = inner

    def _wait(self, reply_id: int, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while reply_id not in self.replies:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer to {what} from the worker")
            self.page.wait_for_timeout(20)
        reply = self.replies.pop(reply_id)
        if "error" in reply:
            raise RuntimeError(f"{what}: {reply['error']}")
        return reply["result"]  # type: ignore[no-any-return]

    def call(self, method: str, params: dict[str, Any] | None = None, nested: str | None = None) -> dict[str, Any]:
        """`method` in the page's one dedicated worker, or (`nested`: a session id) in one of its workers."""
        if len(self.workers) != 1:
            raise RuntimeError(f"expected one dedicated worker on the page, found {len(self.workers)}")
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        asked = self._id
        if nested is not None:
            self._id += 1
            message = {"id": self._id, "method": "Target.sendMessageToTarget",
                       "params": {"sessionId": nested, "message": json.dumps(message)}}
        self.cdp.send("Target.sendMessageToTarget", {"sessionId": self.workers[0], "message": json.dumps(message)})
        if nested is not None:
            self._wait(self._id, f"{method} (sent on)")
        return self._wait(asked, method)

    def js_heap(self, nested: str | None = None) -> dict[str, float]:
        self.call("HeapProfiler.enable", nested=nested)
        self.call("HeapProfiler.collectGarbage", nested=nested)
        usage = self.call("Runtime.getHeapUsage", nested=nested)
        return {"js_used_mib": round(usage["usedSize"] / MIB, 1), "js_total_mib": round(usage["totalSize"] / MIB, 1)}

    def worker_workers(self) -> dict[str, dict[str, float]]:
        """The JavaScript heap of each worker the core worker runs now (by name), after a GC in each. Auto-attach
        also attaches the workers already running, and says so before it answers (one ordered session)."""
        self.call("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": False})
        self.call("Runtime.evaluate", {"expression": "0"})  # one more round trip: every event sent before it is in
        return {name: self.js_heap(session) for session, name in self.nested.items()}


def new_page(tab: Tab) -> tuple[Any, WorkerHeap]:
    page = tab.context.new_page()
    page.set_default_timeout(BOOT_MS)
    return page, WorkerHeap(page)


def reference_worker(tab: Tab) -> dict[str, float]:
    page, heap = new_page(tab)
    try:
        page.goto(f"{tab.origin}/build-info.json")
        out = page.evaluate(REFERENCE_START, REFERENCE_WORKER + REFERENCE_TAIL)
        return {"wasm_heap_mib": round(out["wasmHeapBytes"] / MIB, 1), **heap.js_heap()}
    finally:
        page.close()


def app_worker(tab: Tab, route: str) -> dict[str, Any]:
    """Open `route` in a new page of this profile, in place of its page (so that the new page's worker
    holds the workspace: with another tab open it would be a client of that tab's worker); the
    worker's memory once interactive."""
    tab.page.close()
    page, heap = new_page(tab)
    tab.page = page
    page.goto(f"{tab.origin}/#{route}")
    page.wait_for_function(INTERACTIVE, polling=50)
    out = measure_app(page, heap)
    if out["role"] != "owner":
        raise RuntimeError(f"the measured tab opened the workspace as {out['role']}, not as its owner")
    return out


def measure_app(page: Any, heap: WorkerHeap) -> dict[str, Any]:
    stats = page.evaluate("window.openprod.api.stats()")
    startup = (stats.get("workspace") or {}).get("startup") or {}
    return {"wasm_heap_mib": round(stats["memory"]["wasmHeapBytes"] / MIB, 1), **heap.js_heap(),
            "workers_of_the_worker": heap.worker_workers(),
            "verify_ahead": ((stats.get("workspace") or {}).get("sync") or {}).get("verifyAhead"),
            "workspace": (stats.get("workspace") or {}).get("id"), "role": (stats.get("workspace") or {}).get("role"),
            "snapshot_mib": round((startup.get("snapshotBytes") or 0) / MIB, 1),
            "log_records_replayed": startup.get("replayed")}


def compare(figures: dict[str, float], reference: dict[str, float]) -> dict[str, Any]:
    return {**figures, "wasm_ratio_to_reference": round(figures["wasm_heap_mib"] / reference["wasm_heap_mib"], 2),
            "js_ratio_to_reference": round(figures["js_used_mib"] / reference["js_used_mib"], 2)}


def browser_memory(browser: Any, base: Path, bundles: int) -> dict[str, Any]:
    relay = RelayProcess(base / "relay-browser", extra=("--web", str(ROOT / "build" / "web")))
    a, ids, _authoring = author(base, bundles, max(10, bundles // 10))
    tab = None
    try:
        async def upload() -> None:
            client = RelayClient(relay.url, a.ws)
            await client.publish()
            await client.sync()

        run_async(upload())
        tab = Tab(browser, relay.url, "Bench Memory")
        first_reference = reference_worker(tab)
        small_id = tab.create("Memory small")
        for i in range(20):
            tab.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"Person {i}"})
        small = app_worker(tab, f"/w/{small_id}/t/{CONTACTS}")
        # The 100k-op workspace: joined and caught up in a page of its own, measured once in sync.
        page, heap = new_page(tab)
        tab.page.close()
        tab.page = page
        page.goto(f"{tab.origin}/#/")
        page.wait_for_selector("body[data-ready]")
        ws = str(uuid.UUID(bytes=a.ws.workspace_id))
        tab.api("joinWorkspace", {"invite": f"{relay.url}/#/join/{ws}", "code": ""})
        tab.goto(f"/w/{ws}/sync")
        tab.wait_state("in-sync", timeout_ms=1_800_000)
        assert tab.call("state_hash") == a.ws.state_hash()
        caught_up = measure_app(page, heap)
        tab.api("snapshotNow")
        opened = app_worker(tab, f"/w/{ws}/t/bench.Record")
        last_reference = reference_worker(tab)
    finally:
        if tab is not None:
            tab.close()
        relay.stop()
    reference = {k: round((first_reference[k] + last_reference[k]) / 2, 1) for k in first_reference}
    result = {"bundles": bundles, "ops": a.ws.oplog.size().operations, "records": len(ids),
              "reference_bare_pyodide_worker": reference,
              "reference_first_last": [first_reference, last_reference],
              "small_workspace_opened": compare(small, reference),
              "100k_after_catchup_from_relay": compare(caught_up, reference),
              "100k_opened_from_indexeddb": compare(opened, reference),
              "verify_worker_js_used_mib": {  # the core worker's own workers (the verify worker), after a GC
                  name: round(sum(w["js_used_mib"] for w in figures["workers_of_the_worker"].values()), 1)
                  for name, figures in (("small_workspace_opened", small), ("100k_after_catchup_from_relay", caught_up),
                                        ("100k_opened_from_indexeddb", opened))},
              "load_average": load_average()}
    report("memory_browser_worker", result)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="relay,load,reader,browser",
                        help="comma-separated: relay, load, reader, browser")
    parser.add_argument("--bundles", type=int, default=10_000, help="bundles in the big workspace (~10 ops each)")
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load peers edit")
    parser.add_argument("--reader-seconds", type=float, default=60.0, help="pushing while a member never reads")
    parser.add_argument("--quick", action="store_true", help="1,000 bundles, 10 peers, short phases (not comparable)")
    args = parser.parse_args(argv)
    chosen = set(args.only.split(","))
    if args.quick:
        args.bundles, args.peers, args.seconds, args.reader_seconds = 1_000, 10, 5.0, 15.0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit.strip(),
                      "load_average": [round(x, 2) for x in os.getloadavg()]}))
    with tempfile.TemporaryDirectory(prefix="openprod-memory-bench-") as folder:
        base = Path(folder)
        if "relay" in chosen:
            (base / "relay").mkdir()
            relay_memory(base / "relay", args.bundles)
        if "load" in chosen:
            (base / "load").mkdir()
            load_memory(base / "load", args.peers, args.rate, args.seconds)
        if "reader" in chosen:
            (base / "reader").mkdir()
            reader_memory(base / "reader", args.reader_seconds / 2, args.reader_seconds)
        if "browser" in chosen:
            (base / "browser").mkdir()
            subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            from playwright.sync_api import sync_playwright

            print(json.dumps({"browser": chromium_version()}))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                try:
                    browser_memory(browser, base / "browser", args.bundles)
                finally:
                    browser.close()


if __name__ == "__main__":
    main()
