"""The hostile load for test_resources.py, run as its own process (at a lower priority) so that it
competes with the relay, not with the test's measurement of an honest member's round trip.

    python loadgen.py PORT WORKSPACE_HEX

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


def main() -> None:
    port, ws_id = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
    os.nice(10)  # the measurement in the test process comes first
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
