"""TEST-ONLY: a second person's replica of the open workspace, inside the same worker.

Shipped only in bundles built with `build.py --debug-peer` (the browser tests' bundle); a normal
build contains neither this package nor the worker entry point that calls it. It lets a test make
real concurrent edits without a second browser or any network: the peer has its own Ed25519
identity (WebCrypto in the browser), its own in-memory SQLite replica filled from the open
workspace's own signed bundles, and it writes its own signed bundles. Delivering them to the
session goes through `Session.receive` -> `writes.ingest`, the same path sync will use:
signatures verified, conflicts and drift derived, bundles logged to IndexedDB.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from openprod_web import writes

from openprod import BundleEvent, Env, Identity, Workspace, connect

__all__ = ["DebugPeer"]

EnvFactory = Callable[[Identity], Awaitable[Env]]


class DebugPeer:
    def __init__(self, session: Any, ws: Workspace) -> None:
        self.session = session
        self.ws = ws
        self.outbox: list[bytes] = []
        ws.listeners.append(self._on_bundle)

    def _on_bundle(self, event: BundleEvent) -> None:
        if event.origin == "local":
            self.outbox.append(event.wire)

    @classmethod
    async def create(cls, session: Any, identity_json: str, env_factory: EnvFactory | None = None) -> DebugPeer:
        """A replica of `session`'s workspace for another identity, caught up with it now."""
        from openprod_web.session import webcrypto_env

        identity = Identity.from_json(identity_json)
        env = await (env_factory or webcrypto_env)(identity)
        ws = Workspace.join(connect(":memory:"), env, session.ws.workspace_id)
        peer = cls(session, ws)
        await peer.pull()
        return peer

    async def pull(self) -> int:
        """Receive every bundle the session's workspace holds (duplicates are harmless)."""
        main = self.session.ws
        main.staging.close_views()
        applied = 0
        for wire in [stored.wire for stored in main.oplog.bundles()]:
            result = await writes.ingest(self.ws, wire, source="debug-main")
            applied += result.status == "applied"
        return applied

    async def set_field(self, record: str, field: str, value: Any) -> None:
        """One signed bundle by the peer (the value is given in the field's type; None clears)."""
        async with writes.transaction(self.ws) as tx:
            tx.set_field(record, field, value)

    async def set_text(self, record: str, field: str, text: str) -> None:
        async with writes.transaction(self.ws) as tx:
            tx.set_text(record, field, text)

    def take_outbox(self) -> list[bytes]:
        out, self.outbox = self.outbox, []
        return out

    async def call(self, action: str, args_json: str) -> str:
        """JSON entry point for the worker: pull | set_field | set_text | state."""
        args = json.loads(args_json) if args_json else {}
        if action == "pull":
            return json.dumps({"applied": await self.pull()})
        if action == "set_field":
            await self.set_field(args["record"], args["field"], args.get("value"))
            return json.dumps({"outbox": len(self.outbox)})
        if action == "set_text":
            await self.set_text(args["record"], args["field"], args["text"])
            return json.dumps({"outbox": len(self.outbox)})
        if action == "state":
            return json.dumps({"actor": self.ws.actor_id.hex(), "display_name": self.ws.display_name,
                               "outbox": len(self.outbox), "state_hash": self.ws.state_hash()})
        raise ValueError(f"unknown debug peer action {action!r}")
