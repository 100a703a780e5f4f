"""Sync in the browser worker: one sans-IO `SyncSession` per link, worked in small slices.

A *link* is one connection to one peer: the relay over a WebSocket, the relay over a WebRTC data
channel (aiortc), or another browser over a WebRTC data channel. The JavaScript side
(worker/sync.js) owns the transports, the timers and the order of things; this object owns the
sessions and does their work against the open workspace:

* `feed(link, frames)` hands received frames to the link's session;
* `await work(budget)` does the sessions' work (sign, verify, ingest) but ingests at most
  `budget` bundles per call, so a long catch-up is cut into short slices and an edit made
  meanwhile waits for one slice at most (ARCHITECTURE §3: editing never waits on sync);
* `output()` hands back the frames to send. The worker calls it only once every bundle stored
  so far is durable in IndexedDB, so an acknowledgement (and a live push of our own bundle)
  never leaves this device before the bundle is safely logged;
* `take_events()` reports what happened (established, progress, caught up, in sync, closed...);
* `hash_step(rows)` reads the state hash a page at a time once the workspace changed, so a
  session's check finds it cached instead of reading a large workspace whole in one call.

Signed requests to the relay (publish, join, access keys) and the signalling room's proof are
signed here too, with the workspace's WebCrypto signer.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from openprod import BundleEvent, Env, Identity, IngestResult, Workspace
from openprod.hlc import ZERO
from openprod.ids import from_str, to_str
from openprod.sync import (
    BlobArrived,
    BlobUnavailable,
    BlobWanted,
    BundleRefused,
    CaughtUp,
    Closed,
    Diverged,
    Established,
    Event,
    IngestBatch,
    InSync,
    PeerRefusedBundle,
    Progress,
    RelayRequest,
    Role,
    SessionConfig,
    SignProof,
    State,
    SyncSession,
    VerifyProof,
    WorkspaceReplica,
)
from openprod.sync.errors import REASON_NOT_JOINED
from openprod.sync.proof import signal_proof_bytes_v1

from . import writes
from .blobs import BlobLinks

__all__ = ["SyncHub", "genesis_wire", "join_request"]

EnvFactory = Callable[[Identity], Any]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    to_bytes = getattr(value, "to_bytes", None)
    if to_bytes is not None:
        return bytes(to_bytes())
    raise TypeError(f"expected bytes, got {type(value).__name__}")


def genesis_wire(ws: Workspace) -> bytes:
    """The bundle holding the workspace's InitWorkspace: publishing sends it (it makes its author the owner)."""
    wire = ws.oplog.genesis_bundle()
    if wire is None:
        raise LookupError("this workspace holds no InitWorkspace bundle yet")
    return wire


async def signed_body(signer: Any, action: str, workspace: bytes, actor: bytes, args: dict[str, Any]) -> str:
    request = RelayRequest(action=action, workspace=workspace, actor=actor, at_ms=now_ms(),
                           nonce=os.urandom(16), args=args)
    signature = await signer.sign_async(request.signing_bytes())
    return json.dumps(request.body(signature))


async def join_request(identity_json: str, workspace_id: str, code: str | None,
                       env_factory: EnvFactory | None = None) -> str:
    """The signed JSON body of a `join` request, for a workspace not stored here yet."""
    from .session import webcrypto_env

    identity = Identity.from_json(identity_json)
    env: Env = await (env_factory or webcrypto_env)(identity)
    args: dict[str, Any] = {"code": code} if code else {}
    args["name"] = identity.display_name  # shown to the owner when the workspace asks people to request
    return await signed_body(env.signer, "join", from_str(workspace_id), identity.actor_id, args)


@dataclass
class Link:
    """One peer connection and the work in progress on it."""

    id: str
    session: SyncSession
    expect: bytes | None
    opened_at: int
    item: IngestBatch | None = None  # an IngestBatch being ingested slice by slice
    results: list[IngestResult] = field(default_factory=list)
    received: int = 0  # bundles ingested from this peer (any kind)
    in_sync: bool = False
    catching_up: tuple[int, int] | None = None  # (received, remaining) while the peer's catch-up runs
    shown: int = 0  # the highest `received` reported in a progress event (the bar never moves back)
    announced: bool = False  # a status has said this link is in sync (`status` counts from the next one on)


def _event_json(link: str, event: Event, names: Callable[[bytes], str]) -> dict[str, Any]:
    if isinstance(event, Established):
        return {"type": "established", "link": link, "peer": event.peer.hex(), "peer_name": names(event.peer)}
    if isinstance(event, Progress):
        return {"type": "progress", "link": link, "received": event.received, "remaining": event.remaining}
    if isinstance(event, CaughtUp):
        return {"type": "caught_up", "link": link, "received": event.received}
    if isinstance(event, InSync):
        return {"type": "in_sync", "link": link, "state_hash": event.state_hash}
    if isinstance(event, Diverged):
        return {"type": "diverged", "link": link, "local": event.local_hash, "peer": event.peer_hash}
    if isinstance(event, (BundleRefused, PeerRefusedBundle)):
        return {"type": "refused", "link": link, "by": "us" if isinstance(event, BundleRefused) else "peer",
                "bundle": event.bundle_id, "reason": event.reason,
                "detail": event.detail}
    assert isinstance(event, Closed)
    return {"type": "closed", "link": link, "reason": event.reason, "detail": event.detail, "by_peer": event.by_peer}


class SyncHub:
    """The sync sessions of one open workspace (see the module docstring). Create with `SyncHub(session)`."""

    def __init__(self, session: Any, config: SessionConfig | None = None,
                 verify_pool: Callable[[bytes, int], Awaitable[Any]] | None = None) -> None:
        self.session = session
        self.ws: Workspace = session.ws
        self.replica = WorkspaceReplica(self.ws)  # shared: one state-hash cache for every link
        # Blobs (feature blobs/1) are spoken only once the worker hands in a blob store (`attach_blobs`).
        # The state hash is read a page per turn (`hash_step`): a check arriving before it is ready waits
        # for it rather than reading a large workspace's whole hash in one turn (hash_in_steps). At the end
        # of a link's first catch-up our check leaves once that hash is read, not `quiet_ms` after the last
        # frame (check_when_caught_up; the worker reads the hash at once then: sync.js `hashDelay`).
        self.config = config or SessionConfig(blobs=False, hash_in_steps=True, check_when_caught_up=True)
        self.links: dict[str, Link] = {}
        self.blobs: BlobLinks | None = None
        self._events: list[dict[str, Any]] = []
        # bundles from peers stored so far: "N changes since you last synced" counts only others'
        # bundles, so it needs counting again only when this moves (never after an edit made here)
        self.arrived = 0
        self._hashing: Generator[None, None, bool] | None = None  # the state hash being read, page by page
        # `verify_pool`: WebCrypto on a worker of its own (verifypool.js): a catch-up's next slice is
        # verified there while this one applies
        self.ahead = writes.VerifyAhead(verify_pool)
        self.ws.listeners.append(self._stored)
        self._profile: Any = None  # cProfile.Profile of `work` (profile_start; bench --join-profile)

    def attach_blobs(self) -> BlobLinks:
        """Speak blobs/1 on links opened from now on; the worker keeps the bytes (openprod_web.blobs)."""
        if self.blobs is None:
            self.blobs = BlobLinks(self.ws)
            self.config = dataclasses.replace(self.config, blobs=True)
        return self.blobs

    def pump_blobs(self) -> None:
        """Send the blob requests that can go now (after pieces were stored or a link opened)."""
        if self.blobs is not None:
            self.blobs.pump({k: v.session for k, v in self.links.items()}, now_ms())

    def detach(self) -> None:
        """Stop listening to the workspace (the hub is being dropped)."""
        if self._stored in self.ws.listeners:
            self.ws.listeners.remove(self._stored)

    def _stored(self, event: BundleEvent) -> None:
        for link in self.links.values():
            link.session.bundle_stored(event)

    # --- links --------------------------------------------------------------------------------

    def open(self, link: str, initiator: bool, expect_actor: str | None = None) -> None:
        """Start a session on a freshly opened transport. `expect_actor`: the actor (hex) the signalling
        room announced for this peer; a peer proving another key is refused."""
        if link in self.links:
            raise ValueError(f"link {link!r} is already open")
        expect = bytes.fromhex(expect_actor) if expect_actor else None

        def admit(actor: bytes) -> tuple[str, str] | None:
            if expect is not None and actor != expect:
                return REASON_NOT_JOINED, "this peer proved another key than the one the signalling room announced"
            return None

        now = now_ms()
        session = SyncSession(self.replica, role=Role.INITIATOR if initiator else Role.ACCEPTOR,
                              nonce=os.urandom(16), now=now, config=self.config,
                              admit=None if initiator else admit)
        self.links[link] = Link(link, session, expect, now)

    def feed(self, link: str, frames: Iterable[Any]) -> None:
        """Frames received on `link`, in order. Frames for a link already gone are dropped."""
        found = self.links.get(link)
        if found is None:
            return
        now = now_ms()
        for frame in frames:
            found.session.receive_frame(_as_bytes(frame), now)

    def lost(self, link: str) -> None:
        """The transport closed under the link: its session ends (half-received messages are dropped)."""
        found = self.links.get(link)
        if found is None:
            return
        found.session.connection_lost(now_ms())
        self._collect(found)
        del self.links[link]

    def close(self, link: str, detail: str = "goodbye") -> None:
        """Close orderly: the goodbye frame comes out of the next `output()`, with the link in its close list."""
        found = self.links.get(link)
        if found is not None:
            found.session.close(now_ms(), detail=detail)

    # --- work ---------------------------------------------------------------------------------

    async def work(self, budget: int = 32) -> bool:
        """Do the sessions' work, ingesting at most `budget` bundles. True if work is left for another call."""
        t0 = time.perf_counter()
        if self._profile is not None:
            self._profile.enable()
        try:
            return await self._work(budget)
        finally:
            if self._profile is not None:
                self._profile.disable()
            self.ahead.ms["work"] += (time.perf_counter() - t0) * 1000

    def profile_start(self) -> None:
        """Profile `work` from now on (cProfile; the bench's --join-profile compares engines function by function)."""
        import cProfile

        self._profile = cProfile.Profile()

    def profile_report(self, limit: int = 40) -> str:
        """JSON: the `limit` functions with the most own time in `work` so far: [name, calls, own ms, cumulative ms]."""
        if self._profile is None:
            return "null"
        import pstats

        stats = pstats.Stats(self._profile).stats  # type: ignore[attr-defined]
        rows = sorted(((f"{path.rsplit('/', 1)[-1]}:{line}:{name}", calls, tt * 1000, ct * 1000)
                       for (path, line, name), (_cc, calls, tt, ct, _callers) in stats.items()),
                      key=lambda r: -r[2])
        return json.dumps([[n, c, round(t, 1), round(ct, 1)] for n, c, t, ct in rows[:limit]])

    async def _work(self, budget: int) -> bool:
        left = size = max(1, int(budget))
        for link in list(self.links.values()):
            session = link.session
            while left > 0:
                if link.item is None:
                    item = session.next_work()
                    if item is None:
                        break
                    if isinstance(item, SignProof):
                        session.proof_signed(await self.ws.env.signer.sign_async(item.message), now_ms())
                        continue
                    if isinstance(item, VerifyProof):
                        ok = await self.ws.env.verifier.verify_async(item.actor, item.message, item.signature)
                        session.proof_verified(ok, now_ms())
                        continue
                    link.item, link.results = item, []
                item = link.item
                start = len(link.results)
                chunk = list(item.wires[start:start + left])
                # this slice's signatures sent to the verify worker (if the last call did not), then the
                # next slice's: they are checked there while this one applies (writes.VerifyAhead)
                self.ahead.prepare(chunk)
                self.ahead.prepare(item.wires[start + len(chunk):start + len(chunk) + size])
                results = await writes.ingest_many(self.ws, chunk, source=f"sync:{link.id}", ahead=self.ahead)
                link.results.extend(results)
                self.arrived += sum(len(r.applied) for r in results)  # stored now (duplicates are not)
                left -= len(chunk)
                if len(link.results) == len(item.wires):
                    link.item = None
                    link.received += len(item.wires)
                    session.batch_ingested(item, link.results, now_ms())
                    link.results = []
                elif link.catching_up is not None:  # the bar moves slice by slice, not once per 512-bundle batch
                    got, remaining = link.catching_up
                    done = len(link.results)
                    link.shown = max(link.shown, got + done)
                    self._events.append({"type": "progress", "link": link.id, "received": got + done,
                                         "remaining": max(0, remaining - done)})
            self._collect(link)
            if left <= 0:
                return True
        return any(link.item is not None for link in self.links.values())

    @property
    def hashing(self) -> bool:
        """A state hash is being read page by page (the worker finishes it before feeding frames)."""
        return self._hashing is not None

    @property
    def wants_hash(self) -> bool:
        """A link is open and the cached state hash is not the current state's (hash_step has work)."""
        return bool(self.links) and not self.replica.hash_is_current()

    def hash_step(self, rows: int = 1000) -> bool:
        """Read one page of `rows` rows of the state hash, ahead of the sessions' checks: a session asks
        for it (a check when quiet, or the peer's check) inside one call, and on a large workspace that
        call would be a long wait for an edit; read here a page per call, between edits, the hash is
        cached when the session asks. True while pages are left; False when the cache holds the current
        state's hash, or no link is open to want it."""
        if self._hashing is None:
            if not self.links or self.replica.hash_is_current():
                return False
            self._hashing = self.replica.state_hash_steps(rows)
        try:
            next(self._hashing)
        except StopIteration as done:
            self._hashing = None
            return not done.value  # the database changed between pages: start again
        return True

    def fire_timers(self) -> int | None:
        """Fire the timers that are due; returns when the next one is due (ms since the epoch), or None."""
        now = now_ms()
        due: list[int] = []
        for link in self.links.values():
            timer = link.session.get_timer()
            if timer is not None and timer <= now:
                link.session.handle_timer(now)
                self._collect(link)
                timer = link.session.get_timer()
            if timer is not None:
                due.append(timer)
        return min(due) if due else None

    def next_timer(self) -> int | None:
        times = [t for link in self.links.values() if (t := link.session.get_timer()) is not None]
        if self.blobs is not None and (t := self.blobs.exchange.next_timer()) is not None:
            times.append(t)  # a silent source's timeout, a missing file's retry
        return min(times) if times else None

    def output(self) -> list[list[Any]]:
        """[[link, [frames...], closed?], ...]: frames to send now. A closed link is forgotten after this
        call: send its last frames (the goodbye), then close the transport."""
        out: list[list[Any]] = []
        for link in list(self.links.values()):
            frames = link.session.data_to_send()
            closed = link.session.state is State.CLOSED
            if frames or closed:
                out.append([link.id, frames, closed])
            if closed:
                self._collect(link)
                del self.links[link.id]
        return out

    def _collect(self, link: Link) -> None:
        names = self.ws.actor_name
        while (event := link.session.next_event()) is not None:
            if self.blobs is not None and self.blobs.on_event(link.id, link.session, event):
                continue
            if isinstance(event, (BlobArrived, BlobUnavailable, BlobWanted)):
                continue  # blobs not attached: this side never agreed blobs/1, so never happens
            if isinstance(event, Progress):
                link.catching_up = (event.received, event.remaining)
                if event.received < link.shown:
                    continue  # a batch inside one already shown further along, slice by slice
                link.shown = event.received
            elif isinstance(event, CaughtUp):
                link.catching_up = None
            elif isinstance(event, InSync):
                link.in_sync = True
            elif isinstance(event, Diverged):
                link.in_sync = False
            self._events.append(_event_json(link.id, event, names))

    def verify_ahead(self) -> str:
        """JSON: bundles decoded ahead, taken by a slice, signatures the verify pool answered, and where the
        slices' time went (VerifyAhead.split: bench.browser_bench --only join prints it)."""
        return json.dumps({**self.ahead.stats(), **self.ahead.split()})

    def take_events(self) -> str:
        """JSON list of what happened since the last call (see `_event_json`)."""
        events, self._events = self._events, []
        return json.dumps(events)

    # --- what the status screen shows -------------------------------------------------------------

    def status(self, shared_hlc: str = "", seen_mark: int = 0, counts: bool = True) -> str:
        """JSON: every link's state, how many of this actor's bundles no peer has confirmed yet, whether
        this person owns the workspace, and (with `counts`) "N changes since you last synced": others'
        bundles stored after `seen_mark`, by person (a scan of those bundles: skipped during a catch-up,
        and in the status that first says a link is in sync).

        `shared_hlc`: the highest HLC of ours a peer confirmed before (hex, kept by the worker across
        sessions); the links' current knowledge is added to it."""
        me = self.ws.writer  # this device's chain: its bundles are what only this device holds
        shared = bytes.fromhex(shared_hlc) if shared_hlc else ZERO
        links = []
        announcing = False
        for link in self.links.values():
            session = link.session
            known = session.peer_clock.get(me, ZERO) if session.state is State.OPEN else ZERO
            shared = max(shared, known)
            in_sync = link.in_sync and session.idle
            announcing = announcing or (in_sync and not link.announced)
            link.announced = link.announced or in_sync
            links.append({
                "link": link.id, "state": session.state.value,
                "peer": session.peer.hex() if session.peer else None,
                "peer_name": self._known_name(session.peer),
                "received": link.received, "in_sync": in_sync, "idle": session.idle,
                "catching_up": list(link.catching_up) if link.catching_up else None,
            })
        unshared = self.ws.oplog.unshared_count(shared)
        since = None
        # the status that first says a link is in sync (a join's end, which the person waits for) is not
        # held up by the count (a 70-135 ms scan at 100k ops): `since` is None, the next status counts
        if counts and not announcing:
            changed = self.ws.history.changes_since(int(seen_mark))
            people = [{"actor": p.actor, "name": p.display_name, "changes": p.bundles, "records": p.records}
                      for p in changed]
            since = {"total": sum(p.bundles for p in changed), "people": people}
        return json.dumps({"links": links, "shared_hlc": shared.hex() if shared != ZERO else "",
                           "unshared": unshared, "mark": self.max_seq(), "owner": self.is_owner(), "since": since})

    def _known_name(self, actor: bytes | None) -> str | None:
        """The display name this actor signed with, or None if none of its changes has arrived yet."""
        if actor is None:
            return None
        return self.ws.signed_name(actor)

    def max_seq(self) -> int:
        """The local position of the newest stored bundle ("seen" marks are taken from it)."""
        return self.ws.history.change_mark()

    def state_hash(self) -> str:
        return self.replica.state_hash()

    def is_owner(self) -> bool:
        return self.ws.settings.owner == self.ws.actor_id

    # --- signed requests and the signalling room's proof ----------------------------------------

    async def relay_request(self, action: str, args_json: str = "") -> str:
        """The signed JSON body of a relay request about this workspace (publish adds the genesis bundle)."""
        args: dict[str, Any] = json.loads(args_json) if args_json else {}
        if action == "publish":
            args["genesis"] = genesis_wire(self.ws)
        return await signed_body(self.ws.env.signer, action, self.ws.workspace_id, self.ws.actor_id, args)

    async def signal_auth(self, nonce_b64: str) -> str:
        """The answer to a signalling room's challenge: {"type": "auth", "actor", "signature"} as JSON."""
        nonce = base64.b64decode(nonce_b64)
        proof = signal_proof_bytes_v1(workspace=self.ws.workspace_id, actor=self.ws.actor_id, nonce=nonce)
        signature = await self.ws.env.signer.sign_async(proof)
        return json.dumps({"type": "auth", "actor": self.ws.actor_id.hex(),
                           "signature": base64.b64encode(signature).decode()})

    def identity_json(self) -> str:
        return json.dumps({"workspace": to_str(self.ws.workspace_id), "actor": self.ws.actor_id.hex()})
