"""The hostile load for test_resources.py, run as its own process (at a lower priority) so that it
competes with the relay, not with the test's measurement of an honest member's round trip.

    python loadgen.py PORT WORKSPACE_HEX            # outsiders: silent sockets, never-readers, publishes
    python loadgen.py PORT WORKSPACE_HEX parked     # a member's parked-bundle flood (see parked_flood)

Opens, from many loopback addresses: silent sockets of each kind (HTTP whose headers never end,
sync sockets that never say hello, signalling sockets that never answer the challenge), more
connections from one address than its limit, and a stranger and a member who send without ever
reading; prints `ready` once all of it is in place, then floods publish requests while the
test measures, and prints `done` with when the relay dropped each socket (or that it did not
within the deadline) and how the publish requests were answered.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from rawsocket import frame, sync_handshake, tcp, upgrade

from helpers import seeded_identity
from openprod import Env, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier
from openprod.sync import RelayRequest, encode_message_v1
from openprod.sync.messages import PROTOCOL_VERSION, Hello, Ping

ADDRESSES = 25  # attacker addresses 127.0.3.1 ...
PER_KIND = 8  # silent sockets of each kind per address: 25 x 8 = 200 of each kind
OVER_LIMIT = 60  # connections from 127.0.4.1, past its limit
PUBLISH_ADDRESSES = 5
PUBLISH_EACH = 10
DEADLINE_S = 60.0


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def silent_sockets(port: int, ws_text: str) -> list[tuple[str, socket.socket]]:
    held = []
    for a in range(ADDRESSES):
        source = f"127.0.3.{a + 1}"
        for _ in range(PER_KIND):
            slow = tcp(port, source=source)
            slow.sendall(b"POST /api/join HTTP/1.1\r\nHost: relay\r\nContent-Type: appl")
            held.append(("http", slow))
            sync = tcp(port, source=source)
            upgrade(sync, f"/sync/{ws_text}")
            held.append(("sync", sync))
            signal = tcp(port, source=source)
            upgrade(signal, f"/signal/{ws_text}")
            held.append(("signal", signal))
    return held


def never_readers(port: int, ws_id: bytes) -> list[tuple[str, socket.socket]]:
    ws_text = str(uuid.UUID(bytes=ws_id))
    stranger = tcp(port, source="127.0.5.1", rcvbuf=4096)
    upgrade(stranger, f"/sync/{ws_text}")
    stranger.sendall(frame(encode_message_v1(Hello(version=PROTOCOL_VERSION, workspace=ws_id,
                                                   actor=os.urandom(32), nonce=os.urandom(16)))))
    mallory = seeded_identity("Mallory", 3)
    member = tcp(port, source="127.0.5.2", rcvbuf=4096)
    rest = upgrade(member, f"/sync/{ws_text}")
    assert isinstance(sync_handshake(member, rest, ws_id, mallory.actor_id, NaclSigner(mallory).sign), Hello)
    return [("stranger", stranger), ("member", member)]


def publish_flood(port: int) -> list[int]:
    import http.client

    from openprod_server.client import genesis_wire

    statuses = []
    for a in range(PUBLISH_ADDRESSES):
        for i in range(PUBLISH_EACH):
            identity = seeded_identity(f"Flood{a}-{i}", 1000 + a * 100 + i)
            signer = NaclSigner(identity)
            ws = Workspace.create(connect(":memory:"), Env(signer=signer, verifier=NaclVerifier(),
                                                           display_name=identity.display_name), "Flood")
            request = RelayRequest(action="publish", workspace=ws.workspace_id, actor=identity.actor_id,
                                   at_ms=int(time.time() * 1000), nonce=secrets.token_bytes(16),
                                   args={"genesis": genesis_wire(ws)})
            body = json.dumps(request.body(signer.sign(request.signing_bytes()))).encode()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(f"127.0.6.{a + 1}", 0))
            conn.request("POST", "/api/publish", body=body, headers={"Content-Type": "application/json"})
            statuses.append(conn.getresponse().status)
            conn.close()
    return statuses


# The parked flood: (bundles per author) for each flooding author. The first author goes past its
# own cap (1,000 at the relay's defaults), the last one past the workspace's (10,000 in all).
FLOOD = (1_100, *([900] * 10), 200)
FLOOD_FIELD = "contacts.Contacts"


def flood_chains(ws_id: bytes) -> tuple[list[bytes], list[bytes]]:
    """For each flooding author (a key of their own, as a member can make any number of): a first
    bundle, held back, and a chain after it that can only wait for it. Returns (heads, chains)."""
    from openprod import hlc as hlc_mod
    from openprod import operations as o
    from openprod.bundle import build
    from openprod.ids import IdFactory

    heads, chains = [], []
    ids = IdFactory()
    for k, count in enumerate(FLOOD):
        identity = seeded_identity(f"Flood{k}", 5000 + k)
        signer = NaclSigner(identity)
        device = os.urandom(16)
        writer = identity.actor_id + device
        wall = int(time.time() * 1000) - 60_000
        previous: bytes | None = None
        for i in range(count + 1):
            stamp = hlc_mod.pack(wall, i)
            op = o.make_op(o.CreateEntity, ids.new(), stamp, entity=ids.new(), initial_table=FLOOD_FIELD)
            unsigned = build(workspace=ws_id, bundle_id=ids.new(), actor=identity.actor_id, device=device,
                             kind="edit", clock={writer: previous} if previous else {}, ops=[op])
            wire = unsigned.seal(signer.sign(unsigned.signing_bytes())).wire()
            (heads if previous is None else chains).append(wire)
            previous = stamp
    return heads, chains


async def parked_flood(port: int, ws_id: bytes) -> None:
    """As Mallory (a member): every chain without its first bundle, as fast as the relay takes it
    (so all of it must park or be refused), then, on `release` from stdin, the first bundles."""
    import asyncio

    from rawpeer import RawPeer

    from openprod.sync import decode_message_v1
    from openprod.sync.messages import Ack, Batch, Nack, Proof
    from openprod.sync.proof import proof_bytes_v1

    started = time.monotonic()
    heads, chains = flood_chains(ws_id)
    built_s = time.monotonic() - started
    mallory = seeded_identity("Mallory", 3)
    peer = await RawPeer.open(f"http://127.0.0.1:{port}", ws_id)
    nonce = os.urandom(16)
    await peer.send(encode_message_v1(Hello(version=PROTOCOL_VERSION, workspace=ws_id, actor=mallory.actor_id,
                                            nonce=nonce)))
    hello = await peer.read()
    assert isinstance(hello, Hello), hello
    proof = proof_bytes_v1(workspace=ws_id, prover=mallory.actor_id, verifier=hello.actor,
                           verifier_nonce=hello.nonce, prover_nonce=nonce)
    await peer.send(encode_message_v1(Proof(signature=NaclSigner(mallory).sign(proof), clock={})))
    acked = 0
    nacks: dict[str, int] = {}
    acked_event = asyncio.Event()

    async def reader() -> None:
        nonlocal acked
        async for raw in peer.conn:
            message = decode_message_v1(raw if isinstance(raw, bytes) else raw.encode())
            if isinstance(message, Ack):
                acked = max(acked, message.seq)
                acked_event.set()
            elif isinstance(message, Nack):
                nacks[message.reason] = nacks.get(message.reason, 0) + 1

    reading = asyncio.create_task(reader())
    seq = 0

    async def push(wires: list[bytes]) -> None:
        nonlocal seq
        batch: list[bytes] = []
        for wire in [*wires, b""]:
            if batch and (not wire or sum(map(len, batch)) + len(wire) > 12_000):
                seq += 1
                await peer.send(encode_message_v1(Batch(seq=seq, bundles=tuple(batch), kind="live")))
                batch = []
            if wire:
                batch.append(wire)
        while acked < seq:
            acked_event.clear()
            await asyncio.wait_for(acked_event.wait(), DEADLINE_S)

    emit(event="ready", bundles=len(chains), authors=len(heads), built_s=round(built_s, 2))
    flood_started = time.monotonic()
    await push(chains)
    emit(event="parked", seconds=round(time.monotonic() - flood_started, 2), batches=seq, nacks=dict(nacks))
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() == "release":
        await push(heads)
        emit(event="released", nacks=dict(nacks))
    reading.cancel()
    await peer.close()


def main() -> None:
    port, ws_id = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
    os.nice(10)  # the measurement in the test process comes first
    if sys.argv[3:] == ["parked"]:
        import asyncio

        asyncio.run(parked_flood(port, ws_id))
        return
    ws_text = str(uuid.UUID(bytes=ws_id))
    started = time.monotonic()
    held = silent_sockets(port, ws_text)
    extra = [tcp(port, source="127.0.4.1") for _ in range(OVER_LIMIT)]
    readers = never_readers(port, ws_id)
    emit(event="ready", silent={kind: sum(1 for k, _ in held if k == kind) for kind in ("http", "sync", "signal")},
         over_limit=len(extra), seconds=round(time.monotonic() - started, 2))
    statuses: list[int] = []
    flood = threading.Thread(target=lambda: statuses.extend(publish_flood(port)), daemon=True)
    flood.start()  # while the test measures
    opened = time.monotonic()
    closed_at: dict[int, float] = {}
    watched = {id(s): (kind, s) for kind, s in held + [("over_limit", s) for s in extra]}
    ping = frame(encode_message_v1(Ping(stamp=1))) * 64
    flooding = dict(readers)
    sent = {name: 0 for name in flooding}
    dropped: dict[str, float] = {}
    for _kind, s in readers:
        s.setblocking(False)
    while time.monotonic() - opened < DEADLINE_S and (len(closed_at) < len(watched) or len(dropped) < len(readers)):
        waiting = [s for key, (_k, s) in watched.items() if key not in closed_at]
        writable = [s for name, s in flooding.items() if name not in dropped]
        readable, ready, _ = select.select(waiting, writable, [], 0.05)
        for s in readable:
            try:
                if s.recv(65536):
                    continue
            except (ConnectionResetError, BrokenPipeError):
                pass
            closed_at[id(s)] = time.monotonic() - opened
        for name, s in flooding.items():
            if name in dropped:
                continue
            try:
                if s in ready:
                    sent[name] += s.send(ping)
                elif s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise ConnectionResetError
            except BlockingIOError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                dropped[name] = time.monotonic() - opened
    by_kind: dict[str, list[float]] = {}
    for key, (kind, _s) in watched.items():
        by_kind.setdefault(kind, []).append(closed_at.get(key, -1.0))
    flood.join(DEADLINE_S)
    emit(event="done", closed={k: sum(1 for t in v if t >= 0) for k, v in by_kind.items()},
         publishes={str(s): statuses.count(s) for s in sorted(set(statuses))},
         held={k: len(v) for k, v in by_kind.items()},
         last_closed_s={k: round(max(v), 2) for k, v in by_kind.items()},
         never_readers_dropped_s={k: round(v, 2) for k, v in dropped.items()},
         never_readers_sent_bytes=sent)


if __name__ == "__main__":
    main()
