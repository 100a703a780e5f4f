"""The relay's policy, in process (Starlette TestClient): who may publish, join and manage access
keys, and the refusals a careless or hostile caller gets, each with its stable error code."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from relayproc import env_for
from starlette.testclient import TestClient

from helpers import seeded_identity
from openprod import Workspace, connect
from openprod.starter import starter_manifests
from openprod.sync import RelayRequest
from openprod_server.app import create_app
from openprod_server.client import genesis_wire
from openprod_server.config import RelayConfig
from openprod_server.ratelimit import Rate


@pytest.fixture
def relay_dir(tmp_path: Path) -> Path:
    return tmp_path / "relay"


def app_for(relay_dir: Path, **overrides: Any) -> Any:
    config = RelayConfig(data_dir=relay_dir, web_dir=relay_dir / "no-web", **overrides)
    return create_app(config)


@pytest.fixture
def api(relay_dir: Path) -> Iterator[TestClient]:
    with TestClient(app_for(relay_dir, join_rate_workspace=Rate(burst=4, every_ms=60_000)),
                    client=("10.0.0.1", 4000)) as client:
        yield client


def person(tmp_path: Path, name: str, seed: int, *, owner: bool = False, ws_id: bytes | None = None) -> Workspace:
    conn = connect(str(tmp_path / f"{name}.db"))
    env = env_for(seeded_identity(name, seed))
    if owner:
        ws = Workspace.create(conn, env, "Hamlet")
        ws.adopt_module(starter_manifests()["contacts"])
        return ws
    assert ws_id is not None
    return Workspace.join(conn, env, ws_id)


def signed(ws: Workspace, action: str, args: dict[str, Any] | None = None, *, at: int | None = None,
           nonce: bytes | None = None, signer: Workspace | None = None) -> dict[str, str]:
    request = RelayRequest(action=action, workspace=ws.workspace_id, actor=ws.actor_id,
                           at_ms=at if at is not None else int(time.time() * 1000),
                           nonce=nonce or secrets.token_bytes(16), args=args or {})
    return request.body((signer or ws).env.signer.sign(request.signing_bytes()))


def call(api: TestClient, ws: Workspace, action: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    return api.post(f"/api/{action}", json=signed(ws, action, args, **kw))


def publish(api: TestClient, owner: Workspace, mode: str = "open") -> None:
    response = call(api, owner, "publish", {"genesis": genesis_wire(owner), "join_mode": mode})
    assert response.status_code == 200, response.json()


def test_health_and_the_page_that_says_to_build_the_app(api: TestClient) -> None:
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["workspaces"] == 0 and health["sessions"] == 0
    page = api.get("/")
    assert page.status_code == 200 and "python build.py" in page.text
    assert api.get("/trust/ca.pem").status_code == 404  # no HTTPS, no CA


def test_only_the_owner_can_publish_and_manage_keys(api: TestClient, tmp_path: Path) -> None:
    alice = person(tmp_path, "alice", 1, owner=True)
    mallory = person(tmp_path, "mallory", 2, ws_id=alice.workspace_id)
    # Mallory cannot publish Alice's workspace: the first bundle names Alice as owner.
    response = call(api, mallory, "publish", {"genesis": genesis_wire(alice)})
    assert response.status_code == 422 and response.json()["error"] == "bad_genesis"
    assert api.get("/healthz").json()["workspaces"] == 0
    publish(api, alice, "access_key")
    # The same answer once it is hosted: nobody learns which workspace ids are hosted here.
    assert call(api, mallory, "publish", {"genesis": genesis_wire(alice)}).json()["error"] == "bad_genesis"
    assert call(api, alice, "publish", {"genesis": genesis_wire(alice)}).json()["published"] is False
    for action, args in (("create_key", {}), ("list_keys", {}), ("revoke_key", {"code": "ABCD"}),
                         ("set_join_mode", {"mode": "open"}), ("members", {})):
        response = call(api, mallory, action, args)
        assert (response.status_code, response.json()["error"]) == (403, "not_owner"), action


def test_access_key_lifecycle(api: TestClient, tmp_path: Path, relay_dir: Path) -> None:
    alice = person(tmp_path, "alice", 1, owner=True)
    publish(api, alice, "access_key")
    assert call(api, alice, "create_key", {"length": 4}).json()["error"] == "bad_request"  # too easy to guess
    month = 30 * 86_400_000
    assert "at least 8" in call(api, alice, "create_key", {"length": 6, "expires_in_ms": month}).json()["detail"]
    assert len(call(api, alice, "create_key", {"expires_in_ms": month}).json()["code"]) == 8  # long-lived: longer
    key = call(api, alice, "create_key", {"max_uses": 1, "expires_in_ms": 3_600_000, "length": 6}).json()
    assert len(key["code"]) == 6 and key["max_uses"] == 1
    bob = person(tmp_path, "bob", 2, ws_id=alice.workspace_id)
    carol = person(tmp_path, "carol", 3, ws_id=alice.workspace_id)
    assert call(api, bob, "join").json()["error"] == "invalid_access_key"  # a key is needed
    spoken = " ".join(key["code"].lower())  # "k 7 x 9": read aloud, typed in lower case with spaces
    assert call(api, bob, "join", {"code": spoken}).json() == {
        "workspace": str(__import__("uuid").UUID(bytes=alice.workspace_id)), "joined": True, "via": "access_key"}
    assert call(api, bob, "join", {"code": key["code"]}).json()["via"] == "member"  # idempotent, no second use
    assert call(api, carol, "join", {"code": key["code"]}).json()["error"] == "invalid_access_key"  # used up
    listed = call(api, alice, "list_keys").json()
    used = next(k for k in listed["keys"] if k["code"] == key["code"])
    assert used["uses"] == 1 and used["status"] == "used_up"
    assert [u["actor"] for u in listed["uses"]] == [bob.actor_id.hex()]
    second = call(api, alice, "create_key").json()
    assert call(api, alice, "revoke_key", {"code": second["code"].lower()}).json()["revoked"] is True
    assert call(api, carol, "join", {"code": second["code"]}).json()["error"] == "invalid_access_key"
    members = call(api, alice, "members").json()["members"]
    assert [(m["actor"], m["via"]) for m in members] == [(alice.actor_id.hex(), "owner"), (bob.actor_id.hex(),
                                                                                           "access_key")]
    from openprod_server.registry import Registry

    reasons = [r[0] for r in Registry(str(relay_dir / "relay.db")).conn.execute(
        "SELECT reason FROM join_failures ORDER BY id")]
    assert reasons == ["no_or_bad_code", "used_up", "revoked"]


def test_expired_key_is_refused(api: TestClient, tmp_path: Path) -> None:
    alice = person(tmp_path, "alice", 1, owner=True)
    publish(api, alice, "access_key")
    key = call(api, alice, "create_key", {"expires_in_ms": 1}).json()
    time.sleep(0.01)
    bob = person(tmp_path, "bob", 2, ws_id=alice.workspace_id)
    assert call(api, bob, "join", {"code": key["code"]}).json()["error"] == "invalid_access_key"
    assert call(api, alice, "list_keys").json()["keys"][0]["status"] == "expired"


def test_open_mode_and_join_mode_changes(api: TestClient, tmp_path: Path) -> None:
    alice = person(tmp_path, "alice", 1, owner=True)
    publish(api, alice, "open")
    bob = person(tmp_path, "bob", 2, ws_id=alice.workspace_id)
    assert call(api, bob, "join").json()["via"] == "open"
    assert call(api, alice, "set_join_mode", {"mode": "access_key"}).json()["join_mode"] == "access_key"
    carol = person(tmp_path, "carol", 3, ws_id=alice.workspace_id)
    assert call(api, carol, "join").json()["error"] == "invalid_access_key"
    assert call(api, alice, "set_join_mode", {"mode": "secret"}).json()["error"] == "bad_request"


def test_signed_requests_must_be_genuine_fresh_and_new(api: TestClient, tmp_path: Path) -> None:
    alice = person(tmp_path, "alice", 1, owner=True)
    mallory = person(tmp_path, "mallory", 2, ws_id=alice.workspace_id)
    publish(api, alice)
    forged = signed(alice, "members", signer=mallory)  # claims Alice, signed by Mallory
    assert api.post("/api/members", json=forged).json()["error"] == "bad_signature"
    stale = call(api, alice, "members", at=int(time.time() * 1000) - 10 * 60_000)
    assert (stale.status_code, stale.json()["error"]) == (401, "stale_request")
    body = signed(alice, "members")
    assert api.post("/api/members", json=body).status_code == 200
    assert api.post("/api/members", json=body).json()["error"] == "replayed_request"
    assert api.post("/api/join", json=body).json()["error"] == "malformed"  # signed for another action
    assert api.post("/api/members", content=b"not json").json()["error"] == "malformed"
    assert api.post("/api/members", json={"request": "!!", "signature": "x"}).json()["error"] == "malformed"
    assert api.post("/api/nope", json=body).json()["error"] == "bad_request"


def test_guessers_on_many_addresses_lock_themselves_out_not_the_right_key(relay_dir: Path, tmp_path: Path) -> None:
    app = app_for(relay_dir, join_rate_workspace=Rate(burst=4, every_ms=60_000))
    alice = person(tmp_path, "alice", 1, owner=True)
    codes = []
    with TestClient(app, client=("10.0.0.1", 1)) as owner_api:  # runs the app's lifespan once
        publish(owner_api, alice, "access_key")
        key = call(owner_api, alice, "create_key").json()["code"]
        for i in range(6):
            guesser = person(tmp_path, f"g{i}", 10 + i, ws_id=alice.workspace_id)
            spread = TestClient(app, client=(f"10.9.0.{i}", 1))  # a new address every time
            codes.append(call(spread, guesser, "join", {"code": f"ZZZZZ{i + 2}"}).json()["error"])
            codes.append(call(spread, guesser, "join", {"code": f"ZZZZY{i + 2}"}).json()["error"])
        newcomer = person(tmp_path, "newcomer", 99, ws_id=alice.workspace_id)
        fresh = TestClient(app, client=("10.1.1.1", 1))
        joined = call(fresh, newcomer, "join", {"code": key}).json()
    # Four failures lock the workspace down: from then on an address that has failed waits...
    # (each new address is still heard once, the newcomer's way in).
    assert codes == ["invalid_access_key"] * 4 + ["invalid_access_key", "rate_limited"] * 4
    # ...while the newcomer who was just told the code still gets in.
    assert joined["joined"] is True and joined["via"] == "access_key"


def test_serves_the_built_web_app(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>Openprod</title>")
    (web / "app.js").write_text("console.log('hi')")
    config = RelayConfig(data_dir=tmp_path / "relay", web_dir=web)
    with TestClient(create_app(config)) as client:
        assert "<title>Openprod</title>" in client.get("/").text
        assert client.get("/app.js").text == "console.log('hi')"
        assert client.get("/healthz").json()["status"] == "ok"  # the API wins over the static mount
