"""A hand-driven sync peer for hostile tests: sends exactly the frames a test chooses and reads
back what the relay answers, with no session logic of its own to hide misbehaviour."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from openprod import Workspace
from openprod.sync import decode_message_v1, encode_message_v1
from openprod.sync.messages import PROTOCOL_VERSION, Batch, Hello, Message, Proof, Refuse
from openprod.sync.proof import proof_bytes_v1


class RawPeer:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.received: list[Message] = []
        self.relay_hello: Hello | None = None

    @classmethod
    async def open(cls, base: str, workspace: bytes | str) -> RawPeer:
        text = workspace if isinstance(workspace, str) else str(uuid.UUID(bytes=workspace))
        return cls(await connect(f"ws://{base.split('://', 1)[1]}/sync/{text}", max_size=2 ** 22,
                                 ping_interval=None))

    async def read(self, timeout: float = 5) -> Message | None:
        """The next message, or None once the relay has closed the connection."""
        try:
            frame = await asyncio.wait_for(self.conn.recv(), timeout)
        except ConnectionClosed:
            return None
        message = decode_message_v1(frame if isinstance(frame, bytes) else frame.encode())
        self.received.append(message)
        if isinstance(message, Hello):
            self.relay_hello = message
        return message

    async def until(self, kind: type, timeout: float = 10) -> Message:
        while True:
            message = await self.read(timeout)
            if message is None:
                raise AssertionError(f"closed before a {kind.__name__}; got {self.received}")
            if isinstance(message, kind):
                return message

    async def refusal(self) -> Refuse:
        """Read to the end: exactly one refusal, then the relay hangs up."""
        while await self.read() is not None:
            pass
        refusals = [m for m in self.received if isinstance(m, Refuse)]
        assert len(refusals) == 1, self.received
        return refusals[0]

    async def send(self, frame: bytes | str) -> None:
        with contextlib.suppress(ConnectionClosed):  # the relay may already have refused and hung up
            await self.conn.send(frame)

    async def handshake(self, ws: Workspace, *, workspace: bytes | None = None) -> None:
        nonce = bytes(range(16))
        await self.send(encode_message_v1(Hello(version=PROTOCOL_VERSION, workspace=workspace or ws.workspace_id,
                                                actor=ws.actor_id, nonce=nonce)))
        hello = await self.read()
        if not isinstance(hello, Hello):
            return  # refused straight away (unknown workspace)
        signature = ws.env.signer.sign(proof_bytes_v1(workspace=ws.workspace_id, prover=ws.actor_id,
                                                      verifier=hello.actor, verifier_nonce=hello.nonce,
                                                      prover_nonce=nonce))
        await self.send(encode_message_v1(Proof(signature=signature, clock=ws.vector_clock)))

    async def push(self, *wires: bytes, seq: int = 1) -> None:
        await self.send(encode_message_v1(Batch(seq=seq, bundles=tuple(wires), kind="live")))

    async def close(self) -> None:
        await self.conn.close()
