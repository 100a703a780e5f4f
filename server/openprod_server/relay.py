"""The relay as a peer and a gatekeeper: it hosts one replica per workspace (one SQLite file
each), stores and forwards every bundle it receives, and decides who may sync what.

Policy lives here, transports live in `app.py`, `signalling.py` and `rtc.py`:

* a workspace is hosted once its owner publishes it (the relay verifies the owner's signed
  first bundle, so the owner is whoever the canonical state says it is);
* a peer receives a workspace's data only after joining it: open mode, or an access key the
  owner created (each use recorded, attempts rate-limited per client and per workspace);
* requests that change policy are signed by the actor making them and must be fresh and new.
"""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openprod import Env, Identity, Workspace, connect
from openprod.identity import short_actor
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity
from openprod.sync import PeerError, RelayRequest, SyncSession, WorkspaceReplica, decode_request_v1
from openprod.sync.errors import REASON_NOT_JOINED

from . import accesskeys
from .config import RelayConfig
from .errors import HttpError
from .logs import log, now_ms, warn
from .ratelimit import Buckets
from .registry import Registry

JOIN_MODES = ("open", "access_key")
MAX_KEY_LIFETIME_MS = 30 * 86_400_000


def parse_workspace_id(text: str) -> bytes:
    """A workspace id as it appears in URLs: the UUID text form (or 32 hex digits)."""
    try:
        return uuid.UUID(text).bytes
    except ValueError:
        raise HttpError("unknown_workspace", "not a workspace id") from None


def ws_text(ws: bytes) -> str:
    return str(uuid.UUID(bytes=ws))


@dataclass
class Hosted:
    """One workspace this relay serves: its replica and the sessions currently attached."""

    ws: Workspace
    replica: WorkspaceReplica
    sessions: set[SyncSession] = field(default_factory=set)


class Relay:
    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir
        (self.data_dir / "workspaces").mkdir(parents=True, exist_ok=True)
        self.identity = self._load_identity()
        self.registry = Registry(str(self.data_dir / "relay.db"))
        self._hosted: dict[bytes, Hosted] = {}
        self._verifier = NaclVerifier()
        self.client_buckets = Buckets(config.join_rate_client)
        self.workspace_buckets = Buckets(config.join_rate_workspace)
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

    def _env(self) -> Env:
        rng = random.SystemRandom()
        return Env(signer=NaclSigner(self.identity), verifier=NaclVerifier(), display_name="Openprod relay",
                   random_bytes=lambda n: rng.randbytes(n))

    def _path(self, ws: bytes) -> Path:
        return self.data_dir / "workspaces" / f"{ws_text(ws)}.db"

    def close(self) -> None:
        for hosted in self._hosted.values():
            hosted.ws.conn.close()
        self._hosted.clear()
        self.registry.close()

    # --- hosting ------------------------------------------------------------------------------

    def hosted(self, ws: bytes) -> Hosted | None:
        """The replica of a published workspace (opened on first use), or None."""
        found = self._hosted.get(ws)
        if found is not None:
            return found
        if self.registry.workspace(ws) is None:
            return None
        workspace = Workspace.open(connect(str(self._path(ws))), self._env(), ws)
        found = Hosted(workspace, WorkspaceReplica(workspace))
        self._hosted[ws] = found
        return found

    def admission(self, ws: bytes) -> Any:
        """The session's admission check: only members receive anything."""

        def admit(actor: bytes) -> tuple[str, str] | None:
            if self.registry.is_member(ws, actor):
                return None
            warn("sync_refused", ws=ws_text(ws), actor=actor.hex(), reason=REASON_NOT_JOINED)
            return REASON_NOT_JOINED, not_joined_detail(ws, actor)

        return admit

    def stats(self) -> dict[str, int]:
        return {"workspaces": len(self.registry.workspaces()),
                "open_replicas": len(self._hosted),
                "sessions": sum(len(h.sessions) for h in self._hosted.values())}

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
        if not self.registry.first_use_of_nonce(request.nonce, now, window):
            raise HttpError("replayed_request", "this signed request was already used")
        return request

    def _owned(self, request: RelayRequest) -> Hosted:
        found = self.registry.workspace(request.workspace)
        hosted = self.hosted(request.workspace)
        if found is None or hosted is None:
            raise HttpError("unknown_workspace", f"workspace {ws_text(request.workspace)} is not hosted here")
        # The owner recorded at publish time (verified then against the canonical state), not the
        # live canonical value: a member could sync a second InitWorkspace with an older HLC and so
        # become "first" (see the core change request in docs/relay.md).
        if request.actor != found[0]:
            raise HttpError("not_owner", "only the workspace owner can do this")
        return hosted

    # --- actions ------------------------------------------------------------------------------

    def publish(self, request: RelayRequest) -> dict[str, Any]:
        """Host a workspace created elsewhere: its owner sends its first (InitWorkspace) bundle."""
        ws = request.workspace
        mode = request.args.get("join_mode", "open")
        if mode not in JOIN_MODES:
            raise HttpError("bad_request", f"join_mode must be one of {list(JOIN_MODES)}")
        existing = self.registry.workspace(ws)
        if existing is not None:
            if existing[0] != request.actor:
                raise HttpError("already_published", "this workspace is already hosted here by its owner")
            return {"workspace": ws_text(ws), "published": False, "join_mode": existing[1]}
        genesis = request.args.get("genesis")
        if not isinstance(genesis, bytes):
            raise HttpError("bad_request", "publish needs 'genesis': the workspace's first bundle")
        path = self._path(ws)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        workspace = Workspace.join(connect(str(path)), self._env(), ws)
        result = workspace.ingest(genesis, source="publish")
        owner = workspace.settings.owner
        if result.status != "applied" or owner != request.actor:
            workspace.conn.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            why = result.reason or ("the bundle does not make the requester the owner" if result.ok else "")
            raise HttpError("bad_genesis", f"the first bundle was not accepted: {why} {result.detail}".strip())
        self.registry.add_workspace(ws, owner, mode, now_ms())
        self._hosted[ws] = Hosted(workspace, WorkspaceReplica(workspace))
        log("workspace_published", ws=ws_text(ws), owner=owner.hex(), join_mode=mode)
        return {"workspace": ws_text(ws), "published": True, "join_mode": mode}

    def join(self, request: RelayRequest, client: str) -> dict[str, Any]:
        ws = request.workspace
        found = self.registry.workspace(ws)
        if found is None:
            raise HttpError("unknown_workspace", f"workspace {ws_text(ws)} is not hosted here")
        if self.registry.is_member(ws, request.actor):
            return {"workspace": ws_text(ws), "joined": True, "via": "member"}
        _owner, mode = found
        if mode == "open":
            self.registry.add_member(ws, request.actor, "open", now_ms())
            log("joined", ws=ws_text(ws), actor=request.actor.hex(), via="open", client=client)
            return {"workspace": ws_text(ws), "joined": True, "via": "open"}
        now = now_ms()
        wait = max(self.client_buckets.retry_after_ms(client, now),
                   self.workspace_buckets.retry_after_ms(ws, now))
        if wait:
            warn("join_rate_limited", ws=ws_text(ws), actor=request.actor.hex(), client=client, retry_after_ms=wait)
            self.registry.record_failure(ws, request.actor, client, "rate_limited", now)
            raise HttpError("rate_limited", "too many join attempts; wait and try again",
                            retry_after_s=-(-wait // 1000))
        self.client_buckets.take(client, now)
        self.workspace_buckets.take(ws, now)
        code = request.args.get("code")
        problem = None
        if not isinstance(code, str) or not accesskeys.looks_valid(accesskeys.normalize(code)):
            problem = "no_or_bad_code"
        else:
            code = accesskeys.normalize(code)
            key = self.registry.key(ws, code)
            problem = "unknown_code" if key is None else key.problem(now)
            if problem is None and not self.registry.use_key(ws, code, request.actor, client, now):
                problem = "used_up"
        if problem is not None:
            warn("join_failed", ws=ws_text(ws), actor=request.actor.hex(), client=client, reason=problem)
            self.registry.record_failure(ws, request.actor, client, problem, now)
            # One answer for every bad key: telling "expired" from "unknown" would help a guesser.
            raise HttpError("invalid_access_key", "that access key is not valid for this workspace")
        log("joined", ws=ws_text(ws), actor=request.actor.hex(), via="access_key", code=code, client=client)
        return {"workspace": ws_text(ws), "joined": True, "via": "access_key"}

    def create_key(self, request: RelayRequest) -> dict[str, Any]:
        self._owned(request)
        args = request.args
        expires_in = args.get("expires_in_ms", 2 * 3_600_000)
        max_uses = args.get("max_uses")
        length = args.get("length", accesskeys.DEFAULT_LENGTH)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 0 < expires_in <= MAX_KEY_LIFETIME_MS:
            raise HttpError("bad_request", "expires_in_ms must be between 1 ms and 30 days")
        if max_uses is not None and (isinstance(max_uses, bool) or not isinstance(max_uses, int) or max_uses < 1):
            raise HttpError("bad_request", "max_uses must be a positive integer or null")
        if (isinstance(length, bool) or not isinstance(length, int)
                or not accesskeys.MIN_LENGTH <= length <= accesskeys.MAX_LENGTH):
            raise HttpError("bad_request", f"length must be {accesskeys.MIN_LENGTH} to {accesskeys.MAX_LENGTH}")
        now = now_ms()
        while True:
            code = accesskeys.new_code(length)
            if self.registry.add_key(request.workspace, code, request.actor, now, now + expires_in, max_uses):
                break
        log("access_key_created", ws=ws_text(request.workspace), code=code, expires_at=now + expires_in,
            max_uses=max_uses)
        key = self.registry.key(request.workspace, code)
        assert key is not None
        return key.to_json(now)

    def list_keys(self, request: RelayRequest) -> dict[str, Any]:
        self._owned(request)
        now = now_ms()
        return {"keys": [k.to_json(now) for k in self.registry.keys(request.workspace)],
                "uses": self.registry.key_uses(request.workspace)}

    def revoke_key(self, request: RelayRequest) -> dict[str, Any]:
        self._owned(request)
        code = request.args.get("code")
        if not isinstance(code, str):
            raise HttpError("bad_request", "revoke_key needs 'code'")
        code = accesskeys.normalize(code)
        if self.registry.key(request.workspace, code) is None:
            raise HttpError("bad_request", f"no access key {code!r} in this workspace")
        revoked = self.registry.revoke_key(request.workspace, code, now_ms())
        log("access_key_revoked", ws=ws_text(request.workspace), code=code)
        return {"code": code, "revoked": True, "was_active": revoked}

    def set_join_mode(self, request: RelayRequest) -> dict[str, Any]:
        self._owned(request)
        mode = request.args.get("mode")
        if mode not in JOIN_MODES:
            raise HttpError("bad_request", f"mode must be one of {list(JOIN_MODES)}")
        self.registry.set_join_mode(request.workspace, mode)
        log("join_mode_set", ws=ws_text(request.workspace), mode=mode)
        return {"workspace": ws_text(request.workspace), "join_mode": mode}

    def members(self, request: RelayRequest) -> dict[str, Any]:
        self._owned(request)
        return {"members": self.registry.members(request.workspace)}


def not_joined_detail(ws: bytes, actor: bytes) -> str:
    # The same words whether or not the workspace exists here: no probing for workspace ids.
    return (f"actor {short_actor(actor)} has not joined workspace {ws_text(ws)} on this relay; "
            "join it first (open, or with an access key from its owner)")

