"""Request mode, the owner's roster and member removal (server/openprod_server/relay.py, members.py,
cli_members.py). Open and access-key joins, and expired, used-up and revoked keys, are in test_policy.py.

In process (Starlette TestClient): a request with the requester's name, approved or rejected by the
owner, every refusal with its code and nothing changed, and the audit log. With a real relay process
and the `openprod` command: a removed member's new bundles are refused by the relay, also when another
member carries them, while what they wrote before stays and is still served."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from relayproc import FilePeer, RelayProcess, make_file_peer, relay_state
from starlette.testclient import TestClient
from test_policy import api, call, person, publish, relay_dir  # noqa: F401  (fixtures)

from openprod import Workspace

TABLE = "contacts.Contacts"


def test_request_mode_the_owner_approves_or_rejects_by_name(api: TestClient, tmp_path: Path) -> None:  # noqa: F811
    alice = person(tmp_path, "alice", 1, owner=True)
    publish(api, alice, "request")
    bob = person(tmp_path, "bob", 2, ws_id=alice.workspace_id)
    carol = person(tmp_path, "carol", 3, ws_id=alice.workspace_id)

    refused = call(api, bob, "join")
    assert (refused.status_code, refused.json()["error"]) == (400, "bad_request")
    assert "needs 'name'" in refused.json()["detail"]
    assert call(api, bob, "join", {"name": " \t "}).json()["error"] == "bad_request"
    assert call(api, bob, "join", {"name": "x" * 81}).json()["error"] == "bad_request"
    assert call(api, alice, "members").json()["pending"] == []  # the refusals changed nothing

    asked = call(api, bob, "join", {"name": "Bob  Lighting\u0007"}).json()
    assert asked["pending"] is True and asked["joined"] is False and asked["name"] == "Bob Lighting"
    assert call(api, bob, "join", {"name": "Bob Lighting"}).json()["pending"] is True  # asking twice: one request
    call(api, carol, "join", {"name": "Carol"})
    roster = call(api, alice, "members").json()
    assert [(p["name"], p["status"]) for p in roster["pending"]] == [("Bob Lighting", "pending"), ("Carol", "pending")]
    assert [m["via"] for m in roster["members"]] == ["owner"]

    # only the owner decides, about a pending request, with a yes or a no
    response = call(api, bob, "decide_request", {"actor": bob.actor_id.hex(), "approve": True})
    assert (response.status_code, response.json()["error"]) == (403, "not_owner")
    assert call(api, alice, "decide_request", {"actor": "zz", "approve": True}).json()["error"] == "bad_request"
    assert call(api, alice, "decide_request", {"actor": bob.actor_id.hex(), "approve": "yes"}).json()[
        "error"] == "bad_request"
    stranger = person(tmp_path, "dan", 4, ws_id=alice.workspace_id)
    nobody = call(api, alice, "decide_request", {"actor": stranger.actor_id.hex(), "approve": True}).json()
    assert nobody["error"] == "bad_request" and "no pending request" in nobody["detail"]
    assert len(call(api, alice, "members").json()["pending"]) == 2

    assert call(api, alice, "decide_request", {"actor": bob.actor_id.hex(), "approve": True}).json() == {
        "actor": bob.actor_id.hex(), "status": "approved"}
    assert call(api, bob, "join").json()["via"] == "member"
    assert call(api, alice, "decide_request", {"actor": carol.actor_id.hex(), "approve": False}).json()[
        "status"] == "rejected"
    declined = call(api, carol, "join", {"name": "Carol again"})
    assert (declined.status_code, declined.json()["error"]) == (403, "not_allowed")
    assert "declined" in declined.json()["detail"]
    again = call(api, alice, "decide_request", {"actor": carol.actor_id.hex(), "approve": True}).json()
    assert again["error"] == "bad_request"  # a decided request is not decided twice

    roster = call(api, alice, "members").json()
    assert roster["pending"] == []
    assert [(m["name"], m["via"]) for m in roster["members"]][1:] == [("Bob Lighting", "request")]
    assert [r["name"] for r in roster["rejected"]] == ["Carol"]
    audit = [(a["action"], a["subject"]) for a in roster["audit"]]
    assert audit == [("requested", "Bob Lighting"), ("requested", "Bob Lighting"), ("requested", "Carol"),
                     ("approved", bob.actor_id.hex()), ("rejected", carol.actor_id.hex())]

    # an access key still works in request mode, and key changes are in the audit log too
    key = call(api, alice, "create_key").json()["code"]
    assert call(api, stranger, "join", {"code": key}).json()["via"] == "access_key"
    call(api, alice, "revoke_key", {"code": key})
    call(api, alice, "set_join_mode", {"mode": "open"})
    tail = [(a["action"], a["subject"]) for a in call(api, alice, "members").json()["audit"]][-3:]
    assert tail == [("key_created", key), ("key_revoked", key), ("join_mode", "open")]


def test_removal_refusals_change_nothing(api: TestClient, tmp_path: Path) -> None:  # noqa: F811
    alice = person(tmp_path, "alice", 1, owner=True)
    publish(api, alice, "open")
    bob = person(tmp_path, "bob", 2, ws_id=alice.workspace_id)
    call(api, bob, "join")
    outsider = person(tmp_path, "eve", 5, ws_id=alice.workspace_id)
    assert call(api, bob, "remove_member", {"actor": alice.actor_id.hex()}).json()["error"] == "not_owner"
    assert call(api, alice, "remove_member", {"actor": alice.actor_id.hex()}).json()["error"] == "bad_request"
    assert call(api, alice, "remove_member", {"actor": outsider.actor_id.hex()}).json()["error"] == "bad_request"
    assert call(api, alice, "remove_member", {}).json()["error"] == "bad_request"
    assert len(call(api, alice, "members").json()["members"]) == 2
    assert call(api, alice, "remove_member", {"actor": bob.actor_id.hex()}).json()["removed"] is True
    roster = call(api, alice, "members").json()
    assert [m["via"] for m in roster["members"]] == ["owner"]
    assert [r["actor"] for r in roster["removed"]] == [bob.actor_id.hex()]
    assert roster["audit"][-1]["action"] == "removed" and roster["audit"][-1]["by"] == alice.actor_id.hex()
    # a removed member cannot walk back in through open mode
    back = call(api, bob, "join")
    assert (back.status_code, back.json()["error"]) == (403, "not_allowed") and "removed" in back.json()["detail"]


def test_the_owner_lets_a_removed_member_back_in_and_refusals_change_nothing(api: TestClient,  # noqa: F811
                                                                             tmp_path: Path) -> None:
    alice = person(tmp_path, "alice", 1, owner=True)
    publish(api, alice, "open")
    bob = person(tmp_path, "bob", 2, ws_id=alice.workspace_id)
    carol = person(tmp_path, "carol", 3, ws_id=alice.workspace_id)
    call(api, bob, "join")
    call(api, carol, "join")
    call(api, alice, "remove_member", {"actor": bob.actor_id.hex()})
    before = call(api, alice, "members").json()
    # refusals: not the owner, someone never removed, no actor, a malformed actor
    assert call(api, carol, "readmit_member", {"actor": bob.actor_id.hex()}).json()["error"] == "not_owner"
    not_removed = call(api, alice, "readmit_member", {"actor": carol.actor_id.hex()}).json()
    assert not_removed["error"] == "bad_request" and "was not removed" in not_removed["detail"]
    assert call(api, alice, "readmit_member", {}).json()["error"] == "bad_request"
    assert call(api, alice, "readmit_member", {"actor": "zz"}).json()["error"] == "bad_request"
    assert call(api, alice, "members").json() == before

    back = call(api, alice, "readmit_member", {"actor": bob.actor_id.hex()}).json()
    assert back["readmitted"] is True
    roster = call(api, alice, "members").json()
    assert roster["removed"] == []
    assert {m["actor"]: m["via"] for m in roster["members"]}[bob.actor_id.hex()] == "readmitted"
    assert (roster["audit"][-1]["action"], roster["audit"][-1]["by"], roster["audit"][-1]["subject"]) == (
        "readmitted", alice.actor_id.hex(), bob.actor_id.hex())
    assert call(api, bob, "join").status_code == 200  # the door is open to him again
    again = call(api, alice, "readmit_member", {"actor": bob.actor_id.hex()}).json()
    assert again["error"] == "bad_request"  # once is enough: nothing changes


def _add(peer: FilePeer, name: str) -> None:
    ws = peer.open()
    try:
        ws.create_record(TABLE, {"name": name})
    finally:
        ws.close()


def _names(ws: Workspace) -> list[str]:
    return sorted(str(r.values.get(f"{TABLE}.name")) for r in ws.records.all(TABLE))


def _out(result: object) -> dict[str, object]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined, no-any-return]


def test_a_removed_members_new_bundles_are_refused_and_their_old_ones_stay(relay: RelayProcess,
                                                                          tmp_path: Path) -> None:
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    ws_id = ws.workspace_id
    ws.close()
    ws_text = str(uuid.UUID(bytes=ws_id))
    bob = make_file_peer(tmp_path, "Bob", 2, workspace_id=ws_id)
    carol = make_file_peer(tmp_path, "Carol", 3, workspace_id=ws_id)
    alice.cli("publish", "--join-mode", "request", relay=relay)
    alice.cli("sync", relay=relay)
    pending = _out(bob.cli("join", "--workspace", ws_text, relay=relay))
    assert pending["pending"] is True and pending["name"] == "Bob"
    refused = bob.cli("sync", relay=relay, check=False)
    assert refused.returncode == 1 and "not_joined" in refused.stderr  # asked, not yet let in
    carol.cli("join", "--workspace", ws_text, "--name", "Carol (sound)", relay=relay)
    listed = _out(alice.cli("members", "list", relay=relay))
    assert [p["name"] for p in listed["pending"]] == ["Bob", "Carol (sound)"]  # type: ignore[index]
    alice.cli("members", "approve", "Bob", relay=relay)
    alice.cli("members", "approve", carol.identity.actor_id.hex()[:10], relay=relay)
    wrong = alice.cli("members", "approve", "Nobody", relay=relay, check=False)
    assert wrong.returncode == 1 and wrong.stderr.strip().splitlines() == [
        "Error: no pending request matches 'Nobody'; see `openprod members list`"]

    bob.cli("sync", relay=relay)
    _add(bob, "Before removal")
    for peer in (bob, alice, carol):
        peer.cli("sync", relay=relay)
    roster = _out(alice.cli("members", "list", relay=relay))
    assert sorted(str(m["name"]) for m in roster["members"]) == ["Alice", "Bob", "Carol (sound)"]  # type: ignore[union-attr]

    removed = _out(alice.cli("members", "remove", "Bob", relay=relay))
    assert removed["removed"] is True and removed["name"] == "Bob"

    # Bob, offline, keeps editing; the relay no longer syncs with him
    _add(bob, "After removal")
    refused = bob.cli("sync", relay=relay, check=False)
    assert refused.returncode == 1 and "not_joined" in refused.stderr
    # ...and when Carol, who met Bob on the lighting network, carries his new change, the relay refuses it
    bob_ws, carol_ws = bob.open(), carol.open()
    carol_ws.ingest_many([b.wire for b in bob_ws.oplog.bundles()])
    assert "After removal" in _names(carol_ws)
    bob_ws.close()
    carol_ws.close()
    carried = [json.loads(line) for line in carol.cli("sync", relay=relay, check=False).stdout.splitlines()
               if line.startswith("{")]
    refusals = [r for e in carried if e.get("event") == "done" for r in e["refused_by_peer"]]  # type: ignore[union-attr]
    assert any("removed_member" in str(r) for r in refusals), carried

    # a member who joins later gets Bob's change from before his removal, and not the one after
    dave = make_file_peer(tmp_path, "Dave", 4, workspace_id=ws_id)
    alice.cli("join-mode", "open", relay=relay)
    dave.cli("join", "--workspace", ws_text, relay=relay)
    dave.cli("sync", relay=relay, check=False)
    dave_ws = dave.open()
    assert _names(dave_ws) == ["Before removal"]
    dave_ws.close()
    relay_hash, _count = relay_state(relay, relay.workspace_file(alice.open()))
    assert relay_hash == dave.hash_and_count()[0]
    audit = [a["action"] for a in _out(alice.cli("members", "list", relay=relay))["audit"]]  # type: ignore[union-attr]
    assert audit[-2:] == ["removed", "join_mode"]

    # the owner lets Bob back in: he syncs again, and his change from while he was out is accepted now
    wrong = alice.cli("members", "readmit", "Carol (sound)", relay=relay, check=False)
    assert wrong.returncode == 1 and wrong.stderr.strip().splitlines() == [
        "Error: no removed member matches 'Carol (sound)'; see `openprod members list`"]
    back = _out(alice.cli("members", "readmit", "Bob", relay=relay))
    assert back["readmitted"] is True and back["name"] == "Bob"
    bob.cli("sync", relay=relay)
    dave.cli("sync", relay=relay)
    dave_ws = dave.open()
    assert _names(dave_ws) == ["After removal", "Before removal"]
    dave_ws.close()
    audit = [a["action"] for a in _out(alice.cli("members", "list", relay=relay))["audit"]]  # type: ignore[union-attr]
    assert audit[-1] == "readmitted"


def test_a_relay_db_from_before_request_mode_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    from openprod_server.members import MemberRecords
    from openprod_server.registry import DDL

    path = tmp_path / "relay.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(DDL.replace("('open', 'access_key', 'request')", "('open', 'access_key')"))
    old.execute("INSERT INTO workspaces VALUES (?, ?, 'access_key', 5)", (b"w" * 16, b"o" * 32))
    try:
        old.execute("UPDATE workspaces SET join_mode = 'request'")
        raise AssertionError("the old table should refuse request mode")
    except sqlite3.IntegrityError:
        pass
    MemberRecords(old)
    old.execute("UPDATE workspaces SET join_mode = 'request'")
    assert old.execute("SELECT ws, owner, join_mode, created_at FROM workspaces").fetchall() == [
        (b"w" * 16, b"o" * 32, "request", 5)]
    MemberRecords(old)  # a second start changes nothing
    old.close()
