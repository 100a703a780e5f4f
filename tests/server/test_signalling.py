"""WebRTC signalling rooms (in process): only members who prove their key get in, offers and
answers reach the named peer within the room, and nothing crosses to another workspace."""

from __future__ import annotations

import base64
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from test_policy import app_for, call, person, publish

from openprod import Workspace
from openprod.sync.proof import signal_proof_bytes_v1


def enter(stack: ExitStack, api: TestClient, ws: Workspace, *, signer: Workspace | None = None) -> object:
    room = ws.workspace_id
    socket = stack.enter_context(api.websocket_connect(f"/signal/{uuid.UUID(bytes=room)}"))
    challenge = socket.receive_json()
    nonce = base64.b64decode(challenge["nonce"])
    proof = signal_proof_bytes_v1(workspace=room, actor=ws.actor_id, nonce=nonce)
    socket.send_json({"type": "auth", "actor": ws.actor_id.hex(),
                      "signature": base64.b64encode((signer or ws).env.signer.sign(proof)).decode()})
    return socket


def test_rooms_admit_members_and_route_within_the_room(tmp_path: Path) -> None:
    app = app_for(tmp_path / "relay")
    alice = person(tmp_path, "alice", 1, owner=True)
    bob = person(tmp_path, "bob", 2, ws_id=alice.workspace_id)
    mallory = person(tmp_path, "mallory", 3, ws_id=alice.workspace_id)
    with TestClient(app, client=("10.0.0.1", 1)) as api, ExitStack() as stack:
        publish(api, alice, "open")
        assert call(api, bob, "join").status_code == 200
        first = enter(stack, api, alice)
        welcome = first.receive_json()  # type: ignore[attr-defined]
        assert welcome["type"] == "welcome" and welcome["peers"] == [] and welcome["relay"] == "relay"
        second = enter(stack, api, bob)
        welcome_b = second.receive_json()  # type: ignore[attr-defined]
        assert welcome_b["peers"] == [{"id": welcome["id"], "actor": alice.actor_id.hex()}]
        joined = first.receive_json()  # type: ignore[attr-defined]
        assert joined == {"type": "peer-joined", "id": welcome_b["id"], "actor": bob.actor_id.hex()}
        second.send_json({"type": "offer", "to": welcome["id"], "sdp": "v=0 fake"})  # type: ignore[attr-defined]
        offer = first.receive_json()  # type: ignore[attr-defined]
        assert offer == {"type": "offer", "to": welcome["id"], "sdp": "v=0 fake", "from": welcome_b["id"],
                         "actor": bob.actor_id.hex()}
        second.send_json({"type": "shout", "to": "everyone"})  # type: ignore[attr-defined]
        assert second.receive_json()["reason"] == "malformed"  # type: ignore[attr-defined]
        second.send_json({"type": "offer", "to": "nobody", "sdp": "x"})  # type: ignore[attr-defined]
        assert second.receive_json()["reason"] == "unknown_peer"  # type: ignore[attr-defined]
        # Mallory never joined; Bob's key cannot be borrowed.
        outsider = enter(stack, api, mallory)
        assert outsider.receive_json()["reason"] == "not_joined"  # type: ignore[attr-defined]
        impostor = enter(stack, api, bob, signer=mallory)
        assert impostor.receive_json()["reason"] == "bad_signature"  # type: ignore[attr-defined]
        with pytest.raises(WebSocketDisconnect):
            outsider.receive_json()  # type: ignore[attr-defined]
        second.close()  # type: ignore[attr-defined]
        assert first.receive_json() == {"type": "peer-left", "id": welcome_b["id"]}  # type: ignore[attr-defined]
