"""Real processes on loopback: a relay (`openprod serve`) and two peers (`openprod sync`), each
editing while disconnected, converging to one state hash over a WebSocket and then over a
WebRTC data channel (aiortc on both ends)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from relayproc import FilePeer, RelayProcess, make_file_peer, relay_state

TABLE = "contacts.Contacts"


def edit_offline(peer: FilePeer, tag: str, count: int) -> None:
    ws = peer.open()
    try:
        for i in range(count):
            ws.create_record(TABLE, {"name": f"{tag} {i}", "role": tag})
        first = ws.records.all(TABLE)[0]
        ws.set_field(first.id, f"{TABLE}.role", f"changed by {peer.name} ({tag})")  # concurrent edits: a conflict
    finally:
        ws.conn.close()


def lines(result: object) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
def test_two_peers_edit_offline_and_converge(relay: RelayProcess, tmp_path: Path, transport: str) -> None:
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    ws_id = ws.workspace_id
    ws.conn.close()
    bob = make_file_peer(tmp_path, "Bob", 2, workspace_id=ws_id)
    alice.cli("publish", relay=relay)
    bob.cli("join", "--workspace", str(__import__("uuid").UUID(bytes=ws_id)), relay=relay)
    for peer in (alice, bob):
        peer.cli("sync", "--transport", transport, relay=relay)

    for round_ in ("first", "second"):
        edit_offline(alice, f"A-{round_}", 6)
        edit_offline(bob, f"B-{round_}", 4)
        assert alice.hash_and_count() != bob.hash_and_count()
        reports = [lines(p.cli("sync", "--transport", transport, relay=relay)) for p in (alice, bob, alice)]
        for report in reports:
            done = report[-1]
            assert done["event"] == "done" and done["in_sync"] and done["transport"] == transport
        relay_hash, relay_count = relay_state(relay, relay.workspace_file(alice.open()))
        assert alice.hash_and_count() == bob.hash_and_count() == (relay_hash, relay_count)
        bob_catchup = next(e for e in reports[1] if e["event"] == "CaughtUp")
        assert bob_catchup["received"] == 7, "Bob receives exactly Alice's new bundles: 6 records + 1 edit"
    sessions = [e for e in relay.events() if e.get("event") == "session_closed"]
    assert {e["transport"] for e in sessions} == {transport}
    assert all(e["reason"] == "closed" for e in sessions)
