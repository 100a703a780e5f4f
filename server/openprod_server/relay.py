"""The relay as a peer and a gatekeeper: it hosts one replica per workspace (one SQLite file
each), stores and forwards every bundle it receives, and decides who may sync what.

Policy lives here, transports live in `app.py`, `signalling.py` and `rtc.py`:

* a workspace is hosted once its owner publishes it (the relay verifies the owner's signed
  first bundle, so the owner is whoever the canonical state says it is); publishing is
  rate-limited, and can be limited to approved identities;
* a peer receives a workspace's data only after joining it: open mode, or an access key the
  owner created (each use recorded, attempts rate-limited per client and per workspace);
* a workspace file is opened only for an admitted member, closed again when idle, checked for
  damage when the relay starts and whenever SQLite reports an error; a damaged one is marked
  unavailable (with the reason, in /healthz and the log) while the others go on;
* requests that change policy are signed by the actor making them and must be fresh and new;
* whether a workspace is hosted here cannot be probed: a stranger gets the same answers for a
  hosted workspace as for an unknown one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openprod import Env, Identity, Workspace, connect
from openprod.identity import short_actor
from openprod.recovery import proof_message
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity
from openprod.sync import BlobExchange, PeerError, RelayRequest, WorkspaceReplica, decode_request_v1
from openprod.sync.errors import REASON_NOT_JOINED, REASON_UNAVAILABLE

from . import accesskeys
from .blobstore import DiskBlobStore
from .config import RelayConfig
from .errors import HttpError
from .guard import address_key
from .logs import error, log, now_ms, warn
from .members import MemberRecords, clean_name
from .ratelimit import Buckets, Recent
from .registry import Registry, integrity_problem

if TYPE_CHECKING:
    from .runner import SessionRunner

JOIN_MODES = ("open", "access_key", "request")
MAX_KEY_LIFETIME_MS = 30 * 86_400_000
RECOVERY = "see docs/relay.md, 'Damaged files'"


def parse_workspace_id(text: str) -> bytes:
    """A workspace id as it appears in URLs: the UUID text form (or 32 hex digits)."""
    try:
        return uuid.UUID(text).bytes
    except ValueError:
        raise HttpError("unknown_workspace", "not a workspace id") from None


def ws_text(ws: bytes) -> str:
    return str(uuid.UUID(bytes=ws))


class Unavailable(Exception):
    """A hosted workspace the relay cannot serve now (its file is damaged, or SQLite failed)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class Hosted:
    """One open workspace file and the sessions currently attached to it."""

    ws: Workspace
    replica: WorkspaceReplica
    runners: set[SessionRunner] = field(default_factory=set)
    last_used: int = 0
    blobs: BlobExchange | None = None  # attachments: served to and fetched from the sessions above
    blobs_stale: bool = True  # bundles arrived since the referenced blobs were last listed


class GateReplica:
    """The relay's side of a sync session before the peer is admitted: it can say hello (the
    workspace id from the URL, the relay's actor) and nothing else. Admission points it at the
    workspace's replica; until then no file is opened, for a member or for a stranger."""

    def __init__(self, workspace_id: bytes, actor_id: bytes) -> None:
        self._workspace_id = workspace_id
        self._actor_id = actor_id
        self.target: WorkspaceReplica | None = None

    @property
    def workspace_id(self) -> bytes:
        return self._workspace_id

    @property
    def actor_id(self) -> bytes:
        return self._actor_id

    def _open(self) -> WorkspaceReplica:
        if self.target is None:
            raise RuntimeError("the workspace is read only after the peer is admitted")
        return self.target

    def vector_clock(self) -> dict[bytes, bytes]:
        return self._open().vector_clock()

    def digests(self) -> dict[bytes, bytes]:
        return self._open().digests()

    def delta(self, peer_clock: dict[bytes, bytes]) -> Any:
        return self._open().delta(peer_clock)

    def chains(self, writers: list[bytes]) -> Any:
        return self._open().chains(writers)

    def state_hash(self) -> str:
        return self._open().state_hash()


def limit_sqlite_memory(mib: int) -> int:
    """Bound the memory SQLite takes in this process, all connections together: past it, SQLite reuses
    the pages it caches rather than allocate more (it never fails for it). A soft heap limit is one
    per process, so the relay sets it once; returns the limit in bytes as SQLite now holds it."""
    if mib <= 0:
        raise ValueError(f"SQLite's memory limit must be a positive number of MiB, not {mib}")
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute(f"PRAGMA soft_heap_limit = {int(mib) * 1024 * 1024}")
        return int(probe.execute("PRAGMA soft_heap_limit").fetchone()[0])
    finally:
        probe.close()


class Relay:
    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        limit_sqlite_memory(config.sqlite_memory_mib)
        self.data_dir = config.data_dir
        (self.data_dir / "workspaces").mkdir(parents=True, exist_ok=True)
        self.identity = self._load_identity()
        self.registry = Registry(str(self.data_dir / "relay.db"), max_failures=config.max_failures_kept)
        self.registry_problem: str | None = None
        self.member_records = MemberRecords(self.registry.conn)
        self._hosted: dict[bytes, Hosted] = {}
        self.unavailable: dict[bytes, tuple[str, int]] = {}  # ws -> (reason, since)
        self._verifier = NaclVerifier()
        self.client_buckets = Buckets(config.join_rate_client)
        self.workspace_buckets = Buckets(config.join_rate_workspace)
        self.failed_recently = Recent(config.join_lockout_ms)
        self.publish_client = Buckets(config.publish_rate_client)
        self.publish_all = Buckets(config.publish_rate_all)
        self.started_at = now_ms()

    def _load_identity(self) -> Identity:
        path = self.data_dir / "relay-identity.json"
        if path.exists():
            return Identity.from_json(path.read_text())
        identity = generate_identity("Openprod relay")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(identity.to_json())
        return identity

    def env(self) -> Env:
        rng = random.SystemRandom()
        return Env(signer=NaclSigner(self.identity), verifier=NaclVerifier(), display_name="Openprod relay",
                   random_bytes=lambda n: rng.randbytes(n), max_future_drift_cap_ms=self.config.max_future_drift_cap_ms,
                   parking=self.config.parking)

    def _path(self, ws: bytes) -> Path:
        return self.data_dir / "workspaces" / f"{ws_text(ws)}.db"

    def close(self) -> None:
        for hosted in self._hosted.values():
            hosted.ws.conn.close()
        self._hosted.clear()
        self.registry.close()

    # --- the relay's own records ----------------------------------------------------------------

    def records(self, fn: Callable[[], Any]) -> Any:
        """Run a registry call; a damaged relay.db answers 503 (and /healthz says why), never a traceback."""
        try:
            return fn()
        except sqlite3.DatabaseError as exc:
            if self.registry_problem is None:
                self.registry_problem = str(exc)
                error("registry_damaged", path=self.registry.path, problem=str(exc), recovery=RECOVERY)
            raise HttpError("unavailable", f"the relay's own records are damaged ({exc}); its operator must "
                                           f"restore them ({RECOVERY})") from None

    # --- hosting --------------------------------------------------------------------------------

    def is_hosted(self, ws: bytes) -> bool:
        return self.records(lambda: self.registry.workspace(ws)) is not None

    def check_files(self) -> None:
        """At start: every hosted workspace's file is checked; a damaged one is marked unavailable, a
        missing one is started empty (members' next syncs fill it again: rebuilt from peers)."""
        for ws in self.registry.workspaces():
            path = self._path(ws)
            if not path.exists():
                warn("workspace_rebuilding", ws=ws_text(ws), path=str(path),
                     detail="the file is missing; an empty replica is started and members' next syncs refill it")
                empty = Workspace.join(connect(str(path)), self.env(), ws)
                empty.conn.close()
                continue
            problem = self._file_problem(path)
            if problem is not None:
                self.mark_unavailable(ws, f"the workspace file is damaged: {problem}")

    @staticmethod
    def _file_problem(path: Path) -> str | None:
        try:
            conn = sqlite3.connect(str(path))
        except sqlite3.DatabaseError as exc:
            return str(exc)
        try:
            return integrity_problem(conn)
        finally:
            conn.close()

    def mark_unavailable(self, ws: bytes, reason: str) -> None:
        """Stop serving one workspace: its sessions end with the reason, its file is closed."""
        if ws not in self.unavailable:
            self.unavailable[ws] = (reason, now_ms())
            error("workspace_unavailable", ws=ws_text(ws), reason=reason, path=str(self._path(ws)),
                  recovery=RECOVERY)
        hosted = self._hosted.pop(ws, None)
        if hosted is not None:
            for runner in list(hosted.runners):
                runner.close(REASON_UNAVAILABLE, self.unavailable_detail(ws))
            with contextlib.suppress(sqlite3.Error):  # a damaged file may refuse even this
                hosted.ws.conn.close()

    def unavailable_detail(self, ws: bytes) -> str:
        reason = self.unavailable.get(ws, ("unknown", 0))[0]
        return (f"workspace {ws_text(ws)} is unavailable on this relay: {reason}. Your own copy is safe and "
                "keeps working; the relay's operator must restore or rebuild it")

    def storage_failed(self, ws: bytes, exc: Exception) -> tuple[str, str]:
        """Serving `ws` failed (SQLite, or a bug): mark it unavailable if the file is damaged. Returns
        the refusal (reason, detail) for the session that hit the error."""
        if not isinstance(exc, sqlite3.Error):
            error("session_failed", ws=ws_text(ws), error=f"{type(exc).__name__}: {exc}")
            return REASON_UNAVAILABLE, "the relay failed while serving this session; try again later"
        problem = self._file_problem(self._path(ws))
        if problem is not None or "malformed" in str(exc) or "not a database" in str(exc):
            self.mark_unavailable(ws, f"the workspace file is damaged: {problem or exc}")
            return REASON_UNAVAILABLE, self.unavailable_detail(ws)
        error("storage_error", ws=ws_text(ws), error=str(exc))
        return REASON_UNAVAILABLE, f"the relay could not store this now ({exc}); try again later"

    def open_hosted(self, ws: bytes) -> Hosted:
        """The replica of a published workspace, opened if needed. Raises Unavailable."""
        if ws in self.unavailable:
            raise Unavailable(self.unavailable_detail(ws))
        found = self._hosted.get(ws)
        if found is None:
            self._make_room()
            path = self._path(ws)
            problem = self._file_problem(path)
            if problem is not None:
                self.mark_unavailable(ws, f"the workspace file is damaged: {problem}")
                raise Unavailable(self.unavailable_detail(ws))
            try:
                workspace = Workspace.open(connect(str(path)), self.env(), ws)
            except Exception as exc:  # a file SQLite or the core cannot read is unusable
                self.mark_unavailable(ws, f"the workspace file cannot be opened: {exc}")
                raise Unavailable(self.unavailable_detail(ws)) from None
            found = Hosted(workspace, WorkspaceReplica(workspace))
            self._hosted[ws] = found
            self._refuse_removed(ws)
            log("workspace_opened", ws=ws_text(ws), open=len(self._hosted))
        found.last_used = now_ms()
        return found

    def _make_room(self) -> None:
        idle = sorted((h.last_used, ws) for ws, h in self._hosted.items() if not h.runners)
        while len(self._hosted) >= self.config.max_open_workspaces and idle:
            self._close_file(idle.pop(0)[1], "too many open")

    def _close_file(self, ws: bytes, why: str) -> None:
        hosted = self._hosted.pop(ws)
        hosted.ws.conn.close()
        log("workspace_closed", ws=ws_text(ws), why=why, open=len(self._hosted))

    def sweep(self) -> None:
        """Close the files of workspaces nobody has used for `idle_close_s`."""
        cutoff = now_ms() - int(self.config.idle_close_s * 1000)
        for ws, hosted in list(self._hosted.items()):
            if not hosted.runners and hosted.last_used < cutoff:
                self._close_file(ws, "idle")

    def attach(self, ws: bytes, runner: SessionRunner) -> Workspace:
        hosted = self.open_hosted(ws)
        hosted.runners.add(runner)
        return hosted.ws

    def detach(self, ws: bytes, runner: SessionRunner) -> None:
        hosted = self._hosted.get(ws)
        if hosted is not None:
            hosted.runners.discard(runner)
            hosted.last_used = now_ms()

    # --- attachments (blobs) ------------------------------------------------------------------

    def blob_folder(self, ws: bytes) -> Path:
        """The workspace's blob folder, next to its file (see blobstore.py)."""
        return self._path(ws).with_suffix(".blobs")

    def _exchange(self, ws: bytes, hosted: Hosted) -> BlobExchange:
        if hosted.blobs is None:
            workspace = hosted.ws
            hosted.blobs = BlobExchange(DiskBlobStore(self.blob_folder(ws)),
                                        max_bytes=lambda: workspace.settings.max_blob_bytes)
            workspace.listeners.append(lambda _event: self._blobs_stale(ws))
        return hosted.blobs

    def _blobs_stale(self, ws: bytes) -> None:
        hosted = self._hosted.get(ws)
        if hosted is not None and not hosted.blobs_stale:
            hosted.blobs_stale = True
            with contextlib.suppress(RuntimeError):  # no running loop: the next event or sweep does it
                asyncio.get_running_loop().call_soon(self.pump_blobs, ws)

    def blob_event(self, ws: bytes, runner: SessionRunner, event: Any) -> None:
        """A session event on a hosted workspace: blob requests are served, pieces stored, and
        the relay (an always-on peer) fetches every attachment the workspace references."""
        hosted = self._hosted.get(ws)
        if hosted is None:
            return
        self._exchange(ws, hosted).on_event(runner.session, event)
        self.pump_blobs(ws)

    def pump_blobs(self, ws: bytes) -> None:
        hosted = self._hosted.get(ws)
        if hosted is None or not hosted.runners:
            return
        exchange = self._exchange(ws, hosted)
        try:
            if hosted.blobs_stale:
                hosted.blobs_stale = False
                for ref in hosted.ws.attachments.referenced_blobs().values():
                    exchange.want(ref)
            exchange.pump([r.session for r in hosted.runners], now_ms())
        except (OSError, sqlite3.Error) as exc:  # a full disk: say so, keep syncing bundles
            error("blobs_failed", ws=ws_text(ws), detail=str(exc))
        for runner in hosted.runners:
            runner.wake()

    def pump_all_blobs(self) -> None:
        """Retry missing blobs on an interval (the sweeper calls this)."""
        for ws in list(self._hosted):
            self.pump_blobs(ws)

    def admission(self, ws: bytes, gate: GateReplica) -> Any:
        """The session's admission check: only members receive anything, and only then is the file opened."""

        def admit(actor: bytes) -> tuple[str, str] | None:
            try:
                member = self.registry.is_member(ws, actor)
            except sqlite3.DatabaseError as exc:
                self.registry_problem = self.registry_problem or str(exc)
                error("registry_damaged", path=self.registry.path, problem=str(exc), recovery=RECOVERY)
                return REASON_UNAVAILABLE, "the relay's own records are damaged; its operator must restore them"
            if not member:
                warn("sync_refused", ws=ws_text(ws), actor=actor.hex(), reason=REASON_NOT_JOINED)
                return REASON_NOT_JOINED, not_joined_detail(ws, actor)
            try:
                gate.target = self.open_hosted(ws).replica
            except Unavailable as exc:
                return REASON_UNAVAILABLE, exc.detail
            return None

        return admit

    def stats(self) -> dict[str, int]:
        workspaces = self.records(lambda: len(self.registry.workspaces())) if self.registry_problem is None else 0
        return {"workspaces": workspaces,
                "open_replicas": len(self._hosted),
                "sessions": sum(len(h.runners) for h in self._hosted.values())}

    def health(self) -> dict[str, Any]:
        problems = [{"workspace": ws_text(ws), "reason": reason, "since": since}
                    for ws, (reason, since) in sorted(self.unavailable.items())]
        status = "ok" if not problems and self.registry_problem is None else "degraded"
        out: dict[str, Any] = {"status": status, "unavailable": problems}
        if self.registry_problem is not None:
            out["registry"] = f"damaged: {self.registry_problem}"
        return out

    # --- signed requests ----------------------------------------------------------------------

    def verify_request(self, body: Any, action: str) -> RelayRequest:
        try:
            request, signature = decode_request_v1(body)
        except PeerError as exc:
            raise HttpError("malformed", exc.detail) from None
        if request.action != action:
            raise HttpError("malformed", f"this endpoint takes {action!r} requests, got {request.action!r}")
        if not self._verifier.verify(request.actor, request.signing_bytes(), signature):
            raise HttpError("bad_signature",
                            f"request signature does not verify for actor {short_actor(request.actor)}")
        now = now_ms()
        window = self.config.request_window_ms
        if abs(now - request.at_ms) > window:
            raise HttpError("stale_request", f"request time is {abs(now - request.at_ms)} ms away from the relay's "
                                             f"clock (max {window} ms); check the device clock")
        if not self.records(lambda: self.registry.first_use_of_nonce(request.nonce, now, window)):
            raise HttpError("replayed_request", "this signed request was already used")
        return request

    def _owned(self, request: RelayRequest) -> Hosted:
        found = self.records(lambda: self.registry.workspace(request.workspace))
        # The same answer whether the workspace is not hosted here or belongs to someone else.
        # The owner recorded at publish time (verified then against the canonical state) decides.
        if found is None or request.actor != found[0]:
            raise HttpError("not_owner", "only the owner of a workspace published on this relay can do this")
        try:
            return self.open_hosted(request.workspace)
        except Unavailable as exc:
            raise HttpError("unavailable", exc.detail) from None

    @staticmethod
    def _wait(*waits: int) -> None:
        wait = max(waits)
        if wait:
            raise HttpError("rate_limited", "too many attempts; wait and try again", retry_after_s=-(-wait // 1000))

    # --- actions ------------------------------------------------------------------------------

    def publish(self, request: RelayRequest, client: str) -> dict[str, Any]:
        """Host a workspace created elsewhere: its owner sends its first (InitWorkspace) bundle."""
        ws = request.workspace
        now = now_ms()
        key = address_key(client)
        try:
            self._wait(self.publish_client.retry_after_ms(key, now), self.publish_all.retry_after_ms("all", now))
        except HttpError:
            warn("publish_rate_limited", client=client, actor=request.actor.hex())
            raise
        self.publish_client.take(key, now)
        self.publish_all.take("all", now)
        if self.config.publishers is not None and request.actor not in self.config.publishers:
            warn("publish_refused", client=client, actor=request.actor.hex(), reason="not_allowed")
            raise HttpError("not_allowed", "this relay hosts workspaces only for identities its operator approved")
        mode = request.args.get("join_mode", "open")
        if mode not in JOIN_MODES:
            raise HttpError("bad_request", f"join_mode must be one of {list(JOIN_MODES)}")
        genesis = request.args.get("genesis")
        if not isinstance(genesis, bytes):
            raise HttpError("bad_request", "publish needs 'genesis': the workspace's first bundle")
        # Checked in memory first: nothing is written, and the answer to a non-owner is the same
        # whether or not the workspace is hosted here (its id commits to its owner's key).
        probe = Workspace.join(connect(":memory:"), self.env(), ws)
        try:
            result = probe.ingest(genesis, source="publish")
            owner = probe.settings.owner
        finally:
            probe.conn.close()
        if result.status != "applied" or owner != request.actor:
            why = result.reason or ("the bundle does not make the requester the owner" if result.ok else "")
            raise HttpError("bad_genesis", f"the first bundle was not accepted: {why} {result.detail}".strip())
        existing = self.records(lambda: self.registry.workspace(ws))
        if existing is not None:
            return {"workspace": ws_text(ws), "published": False, "join_mode": existing[1]}
        path = self._path(ws)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        self._make_room()
        workspace = Workspace.join(connect(str(path)), self.env(), ws)
        workspace.ingest(genesis, source="publish")
        self.records(lambda: self.registry.add_workspace(ws, request.actor, mode, now))
        self.unavailable.pop(ws, None)
        self._hosted[ws] = Hosted(workspace, WorkspaceReplica(workspace), last_used=now)
        log("workspace_published", ws=ws_text(ws), owner=request.actor.hex(), join_mode=mode, client=client)
        return {"workspace": ws_text(ws), "published": True, "join_mode": mode}

    def join(self, request: RelayRequest, client: str) -> dict[str, Any]:
        ws = request.workspace
        found = self.records(lambda: self.registry.workspace(ws))
        if found is not None and self.records(lambda: self.registry.is_member(ws, request.actor)):
            return {"workspace": ws_text(ws), "joined": True, "via": "member"}
        if found is not None and self.records(lambda: self.member_records.is_removed(ws, request.actor)):
            warn("join_refused", ws=ws_text(ws), actor=request.actor.hex(), reason="removed")
            raise HttpError("not_allowed", "the owner removed you from this workspace; ask them if this is a mistake")
        if found is not None and found[1] == "request" and request.args.get("code") is None:
            return self.request_to_join(request, client)
        if found is not None and found[1] == "open":
            self.records(lambda: self.registry.add_member(ws, request.actor, "open", now_ms()))
            log("joined", ws=ws_text(ws), actor=request.actor.hex(), via="open", client=client)
            return {"workspace": ws_text(ws), "joined": True, "via": "open"}
        # An access key is needed, or the workspace is not hosted here: both get the same treatment
        # and the same answers, so nobody can probe which workspace ids are hosted.
        now = now_ms()
        key = address_key(client)
        lockdown = self.workspace_buckets.retry_after_ms(ws, now)
        try:
            self._wait(self.client_buckets.retry_after_ms(key, now),
                       lockdown if self.failed_recently.seen((ws, key), now) else 0)
        except HttpError:
            warn("join_rate_limited", ws=ws_text(ws), actor=request.actor.hex(), client=client,
                 lockdown=bool(lockdown))
            raise
        self.client_buckets.take(key, now)
        code = request.args.get("code")
        problem = None
        if not isinstance(code, str) or not accesskeys.looks_valid(accesskeys.normalize(code)):
            problem = "no_or_bad_code"
        elif found is None:
            problem = "unknown_workspace"
        else:
            code = accesskeys.normalize(code)
            access = self.records(lambda: self.registry.key(ws, code))
            problem = "unknown_code" if access is None else access.problem(now)
            if problem is None and not self.records(lambda: self.registry.use_key(ws, code, request.actor, client,
                                                                                   now)):
                problem = "used_up"
        if problem is not None:
            self.workspace_buckets.take(ws, now)
            self.failed_recently.add((ws, key), now)
            warn("join_failed", ws=ws_text(ws), actor=request.actor.hex(), client=client, reason=problem)
            if found is not None:
                self.records(lambda: self.registry.record_failure(ws, request.actor, client, problem, now))
            # One answer for every bad key: telling "expired" from "unknown" would help a guesser.
            if not isinstance(code, str):
                raise HttpError("invalid_access_key", "joining this workspace here needs an access key from its "
                                                      "owner (or the workspace is not on this relay)")
            raise HttpError("invalid_access_key", "that access key is not valid for this workspace")
        log("joined", ws=ws_text(ws), actor=request.actor.hex(), via="access_key", code=code, client=client)
        return {"workspace": ws_text(ws), "joined": True, "via": "access_key"}

    def create_key(self, request: RelayRequest, client: str) -> dict[str, Any]:
        self._owned(request)
        args = request.args
        expires_in = args.get("expires_in_ms", 2 * 3_600_000)
        max_uses = args.get("max_uses")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 0 < expires_in <= MAX_KEY_LIFETIME_MS:
            raise HttpError("bad_request", "expires_in_ms must be between 1 ms and 30 days")
        needed = accesskeys.required_length(expires_in)
        length = args.get("length")
        if length is None:
            length = max(accesskeys.DEFAULT_LENGTH, needed)
        if max_uses is not None and (isinstance(max_uses, bool) or not isinstance(max_uses, int) or max_uses < 1):
            raise HttpError("bad_request", "max_uses must be a positive integer or null")
        if (isinstance(length, bool) or not isinstance(length, int)
                or not accesskeys.MIN_LENGTH <= length <= accesskeys.MAX_LENGTH):
            raise HttpError("bad_request", f"length must be {accesskeys.MIN_LENGTH} to {accesskeys.MAX_LENGTH}")
        if length < needed:
            raise HttpError("bad_request", f"a key valid for more than a day needs at least {needed} characters "
                                           "(a guesser has longer to try); choose a longer one or a shorter lifetime")
        now = now_ms()
        def add(code: str) -> bool:
            return self.registry.add_key(request.workspace, code, request.actor, now, now + expires_in, max_uses)

        while True:
            code = accesskeys.new_code(length)
            if self.records(lambda: add(code)):  # noqa: B023 - called at once, inside the loop
                break
        log("access_key_created", ws=ws_text(request.workspace), code=code, expires_at=now + expires_in,
            max_uses=max_uses)
        self.records(lambda: self.member_records.audit(request.workspace, now, request.actor, "key_created", code))
        key = self.records(lambda: self.registry.key(request.workspace, code))
        assert key is not None
        result: dict[str, Any] = key.to_json(now)
        return result

    def list_keys(self, request: RelayRequest, client: str) -> dict[str, Any]:
        self._owned(request)
        now = now_ms()
        return {"keys": [k.to_json(now) for k in self.records(lambda: self.registry.keys(request.workspace))],
                "uses": self.records(lambda: self.registry.key_uses(request.workspace))}

    def revoke_key(self, request: RelayRequest, client: str) -> dict[str, Any]:
        self._owned(request)
        code = request.args.get("code")
        if not isinstance(code, str):
            raise HttpError("bad_request", "revoke_key needs 'code'")
        code = accesskeys.normalize(code)
        if self.records(lambda: self.registry.key(request.workspace, code)) is None:
            raise HttpError("bad_request", f"no access key {code!r} in this workspace")
        revoked = self.records(lambda: self.registry.revoke_key(request.workspace, code, now_ms()))
        log("access_key_revoked", ws=ws_text(request.workspace), code=code)
        self.records(lambda: self.member_records.audit(request.workspace, now_ms(), request.actor, "key_revoked",
                                                       code))
        return {"code": code, "revoked": True, "was_active": revoked}

    def set_join_mode(self, request: RelayRequest, client: str) -> dict[str, Any]:
        self._owned(request)
        mode = request.args.get("mode")
        if mode not in JOIN_MODES:
            raise HttpError("bad_request", f"mode must be one of {list(JOIN_MODES)}")
        self.records(lambda: self.registry.set_join_mode(request.workspace, mode))
        self.records(lambda: self.member_records.audit(request.workspace, now_ms(), request.actor, "join_mode",
                                                       str(mode)))
        log("join_mode_set", ws=ws_text(request.workspace), mode=mode)
        return {"workspace": ws_text(request.workspace), "join_mode": mode}

    def members(self, request: RelayRequest, client: str) -> dict[str, Any]:
        """The roster for the owner: members with their names, pending requests, who was removed, the audit log."""
        hosted = self._owned(request)
        ws = request.workspace
        asked = {r.actor: r for r in self.records(lambda: self.member_records.requests(ws))}

        def name(actor: bytes) -> str:
            signed = hosted.ws.signed_name(actor)
            if signed:
                return signed
            return asked[actor].name if actor in asked else hosted.ws.actor_name(actor)

        members = [{**m, "name": name(bytes.fromhex(str(m["actor"])))}
                   for m in self.records(lambda: self.registry.members(ws))]
        removed = [{"actor": a.hex(), "name": name(a), "removed_at": at, "removed_by": by.hex()}
                   for a, (at, by) in sorted(self.records(lambda: self.member_records.removed(ws)).items(),
                                             key=lambda kv: kv[1][0])]
        return {"members": members, "pending": [r.to_json() for r in asked.values() if r.status == "pending"],
                "rejected": [r.to_json() for r in asked.values() if r.status == "rejected"], "removed": removed,
                "audit": self.records(lambda: self.member_records.audit_log(ws))}

    def handlers(self) -> dict[str, Callable[[RelayRequest, str], dict[str, Any]]]:
        return {"publish": self.publish, "join": self.join, "create_key": self.create_key,
                "list_keys": self.list_keys, "revoke_key": self.revoke_key, "set_join_mode": self.set_join_mode,
                "members": self.members, "decide_request": self.decide_request, "remove_member": self.remove_member,
                "readmit_member": self.readmit_member, "recover": self.recover}

    def recover(self, request: RelayRequest, client: str) -> dict[str, Any]:
        """Make the requester the owner, with a proof signed by the workspace's current recovery key
        (openprod.recovery); the proof names the next key, so the used secret is dead afterwards."""
        ws = request.workspace
        now = now_ms()
        key = address_key(client)
        self._wait(self.client_buckets.retry_after_ms(key, now))
        self.client_buckets.take(key, now)
        proof, next_key = request.args.get("proof"), request.args.get("next_key")
        if not isinstance(proof, bytes) or len(proof) != 64 or not isinstance(next_key, bytes) or len(next_key) != 32:
            raise HttpError("bad_request", "recover needs 'proof' (64 bytes) and 'next_key' (32 bytes)")
        refused = HttpError("not_allowed", "those recovery words do not open this workspace here (wrong words, "
                                           "words already used, or the workspace is not on this relay)")
        found = self.records(lambda: self.registry.workspace(ws))
        if found is None:
            raise refused
        try:
            hosted = self.open_hosted(ws)
        except Unavailable as exc:
            raise HttpError("unavailable", exc.detail) from None
        last = self.records(lambda: self.member_records.last_recovery(ws))
        if last == (next_key, request.actor) and found[0] == request.actor:
            # The same person asking again for the recovery this relay already made (its answer was lost):
            # the same answer, nothing changes. Only they can sign as themselves, and only their device
            # knows the fresh next key it chose, so a replay by anyone else cannot reach this.
            log("workspace_recovery_repeated", ws=ws_text(ws), owner=request.actor.hex(), client=client)
            return {"workspace": ws_text(ws), "owner": request.actor.hex(), "repeated": True}
        current = last[0] if last is not None else None
        if current is None and len(hosted.ws.settings.recovery_key) == 64:
            current = bytes.fromhex(hosted.ws.settings.recovery_key)
        if current is None or not self._verifier.verify(current, proof_message(ws, request.actor, next_key), proof):
            warn("recovery_refused", ws=ws_text(ws), actor=request.actor.hex(), client=client)
            raise refused
        previous = found[0]
        self.records(lambda: self.member_records.recover(ws, request.actor, next_key, now))
        log("workspace_recovered", ws=ws_text(ws), owner=request.actor.hex(), previous_owner=previous.hex(),
            client=client)
        return {"workspace": ws_text(ws), "owner": request.actor.hex(), "previous_owner": previous.hex()}

    # --- request mode and removal (members.py keeps the records) --------------------------------

    def request_to_join(self, request: RelayRequest, client: str) -> dict[str, Any]:
        """Request mode: record (or find) this person's request, with the name they gave, for the owner."""
        ws = request.workspace
        asked = self.records(lambda: self.member_records.request(ws, request.actor))
        if asked is not None and asked.status == "rejected":
            raise HttpError("not_allowed", "the owner declined your request to join this workspace")
        name = clean_name(request.args.get("name"))
        if name is None:
            raise HttpError("bad_request", "a request to join needs 'name': your name as the owner will see it "
                                           "(1 to 80 characters)")
        now = now_ms()
        key = address_key(client)
        if asked is None:
            try:
                self._wait(self.client_buckets.retry_after_ms(key, now))
            except HttpError:
                warn("join_rate_limited", ws=ws_text(ws), actor=request.actor.hex(), client=client, lockdown=False)
                raise
            self.client_buckets.take(key, now)
        self.records(lambda: self.member_records.add_request(ws, request.actor, name, client, now))
        log("join_requested", ws=ws_text(ws), actor=request.actor.hex(), name=name, client=client)
        return {"workspace": ws_text(ws), "joined": False, "pending": True, "name": name}

    def _actor_arg(self, request: RelayRequest) -> bytes:
        text = request.args.get("actor")
        try:
            actor = bytes.fromhex(text) if isinstance(text, str) else b""
        except ValueError:
            actor = b""
        if len(actor) != 32:
            raise HttpError("bad_request", "'actor' must be an actor id (64 hex digits)")
        return actor

    def decide_request(self, request: RelayRequest, client: str) -> dict[str, Any]:
        self._owned(request)
        actor = self._actor_arg(request)
        approve = request.args.get("approve")
        if not isinstance(approve, bool):
            raise HttpError("bad_request", "'approve' must be true or false")
        done = self.records(lambda: self.member_records.decide(request.workspace, actor, request.actor, approve,
                                                               now_ms()))
        if not done:
            raise HttpError("bad_request", f"no pending request to join from {short_actor(actor)}")
        log("join_request_decided", ws=ws_text(request.workspace), actor=actor.hex(), approved=approve)
        return {"actor": actor.hex(), "status": "approved" if approve else "rejected"}

    def remove_member(self, request: RelayRequest, client: str) -> dict[str, Any]:
        """Take a member off: refused at the door from now on, and their bundles not stored yet are
        refused from anyone; what they wrote before stays valid and is still served."""
        hosted = self._owned(request)
        actor = self._actor_arg(request)
        if actor == request.actor:
            raise HttpError("bad_request", "the owner cannot remove themselves")
        if not self.records(lambda: self.member_records.remove(request.workspace, actor, request.actor, now_ms())):
            raise HttpError("bad_request", f"{short_actor(actor)} is not a member of this workspace here")
        self._refuse_removed(request.workspace)
        for runner in list(hosted.runners):
            if runner.session.peer == actor:
                runner.close(REASON_NOT_JOINED, "the owner removed you from this workspace")
        log("member_removed", ws=ws_text(request.workspace), actor=actor.hex())
        return {"actor": actor.hex(), "removed": True, "name": hosted.ws.actor_name(actor)}

    def readmit_member(self, request: RelayRequest, client: str) -> dict[str, Any]:
        """Let a removed member back in: a member again, and their new changes accepted from anyone."""
        hosted = self._owned(request)
        actor = self._actor_arg(request)
        if not self.records(lambda: self.member_records.readmit(request.workspace, actor, request.actor, now_ms())):
            raise HttpError("bad_request", f"{short_actor(actor)} was not removed from this workspace here")
        self._refuse_removed(request.workspace)
        log("member_readmitted", ws=ws_text(request.workspace), actor=actor.hex())
        return {"actor": actor.hex(), "readmitted": True, "name": hosted.ws.actor_name(actor)}

    def _refuse_removed(self, ws: bytes) -> None:
        hosted = self._hosted.get(ws)
        if hosted is not None:
            removed = self.records(lambda: self.member_records.removed(ws))
            hosted.ws.refuse_authors({actor: f"{short_actor(actor)} was removed from this workspace by its owner; "
                                             "changes they make after that are not accepted here"
                                      for actor in removed})


def not_joined_detail(ws: bytes, actor: bytes) -> str:
    # The same words whether or not the workspace exists here: no probing for workspace ids.
    return (f"actor {short_actor(actor)} has not joined workspace {ws_text(ws)} on this relay; "
            "join it first (open, or with an access key from its owner)")
