"""Recovery words (core/openprod/recovery.py, server/openprod_server/recovery.py, relay.py `recover`).

`openprod init` shows twelve words once and signs the public half of the key they stand for into the
founding bundle; `openprod recover` on another device with another identity makes that identity the
owner on the relay, prints new words and kills the old ones; the workspace id never changes. Bad
words, words of another workspace and used words are refused with one line, and leave no file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from relayproc import RelayProcess, env_for, make_file_peer

from helpers import seeded_identity
from openprod import Identity, ValidationError, Workspace, connect
from openprod.signer_nacl import NaclSigner
from openprod.sync.requests import RelayRequest
from openprod_server.recovery import RecoveryWordsError, new_secret, proof, public_key, secret_from, words_for


def openprod(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "openprod_server.cli", *map(str, args)], capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def identity_file(folder: Path, name: str, seed: int) -> Path:
    path = folder / f"{name.lower()}.json"
    path.write_text(seeded_identity(name, seed).to_json())
    return path


def test_words_round_trip_and_refuse_what_is_not_a_secret() -> None:
    secret = new_secret()
    words = words_for(secret)
    assert len(words.split()) == 12
    assert secret_from(words) == secret
    numbered = " ".join(f"{i}. {w.upper()}," for i, w in enumerate(words.split(), start=1))
    assert secret_from(numbered) == secret  # as written on paper: numbered, in capitals, with commas
    with pytest.raises(RecoveryWordsError, match="12 words; you typed 11"):
        secret_from(" ".join(words.split()[:11]))
    with pytest.raises(RecoveryWordsError, match="'stagemanager' is not one of the recovery words"):
        secret_from(" ".join([*words.split()[:11], "stagemanager"]))
    # a 4-bit checksum: a swap is caught 15 times in 16, so a fixed secret whose swap is caught
    swapped = words_for(bytes(range(16))).split()
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(RecoveryWordsError, match="do not fit together"):
        secret_from(" ".join(swapped))


def test_recovery_moves_ownership_and_kills_the_old_words(relay: RelayProcess, tmp_path: Path) -> None:
    alice_id = identity_file(tmp_path, "Alice", 1)
    show = tmp_path / "show.db"
    made = last_json(openprod("init", "--db", show, "--identity", alice_id, "--name", "Hamlet",
                              "--module", "contacts"))
    words = str(made["recovery_words"])
    assert len(words.split()) == 12 and "not shown again" in str(made["note"])
    ws_text = str(made["workspace"])
    ws_id = uuid.UUID(ws_text).bytes
    ws = Workspace.open(connect(str(show)), env_for(seeded_identity("Alice", 1)))
    assert ws.settings.recovery_key == public_key(ws_id, secret_from(words)).hex()  # only the public half
    assert words.split()[0] not in show.read_bytes().decode("latin-1")
    ws.create_record("contacts.Contacts", {"name": "Jane"})
    ws.close()
    relay_args = ("--relay", relay.url)
    openprod("publish", "--db", show, "--identity", alice_id, "--join-mode", "access_key", *relay_args)
    openprod("sync", "--db", show, "--identity", alice_id, *relay_args)

    zed_id = identity_file(tmp_path, "Zed", 26)
    laptop = tmp_path / "laptop"
    laptop.mkdir()

    def recover(words_given: str, identity: Path = zed_id, db: Path = laptop / "show.db",
                check: bool = True) -> subprocess.CompletedProcess[str]:
        return openprod("recover", "--db", db, "--identity", identity, "--workspace", ws_text, "--words",
                        words_given, *relay_args, check=check)

    # refusals: nothing is created, nothing changes
    assert one_line(recover(" ".join(words.split()[:11]), check=False)) == \
        "Error: Recovery words are 12 words; you typed 11."
    other_words = words_for(new_secret())
    line = one_line(recover(other_words, check=False))
    assert line.startswith("Error: not_allowed: those recovery words do not open this workspace here")
    assert list(laptop.iterdir()) == []
    bad_id = one_line(openprod("recover", "--db", laptop / "x.db", "--identity", zed_id, "--workspace", "nope",
                               "--words", words, *relay_args, check=False))
    assert bad_id == "Error: 'nope' is not a workspace id"
    refused = one_line(openprod("members", "list", "--db", laptop / "show.db", "--identity", zed_id, *relay_args,
                                check=False))
    assert refused.startswith("Error: no workspace file at")

    moved = last_json(recover(words))
    assert moved["owner"] == seeded_identity("Zed", 26).actor_id.hex()
    assert moved["previous_owner"] == seeded_identity("Alice", 1).actor_id.hex()
    assert moved["workspace"] == ws_text  # the workspace id never changes
    new_words = str(moved["recovery_words"])
    assert new_words != words and len(new_words.split()) == 12

    # Zed is the owner now: he manages the workspace on the relay, and syncs its data
    roster = last_json(openprod("members", "list", "--db", laptop / "show.db", "--identity", zed_id, *relay_args))
    assert [(a["action"], a["by"]) for a in roster["audit"]][-1] == (  # type: ignore[index]
        "recovered", seeded_identity("Zed", 26).actor_id.hex())
    openprod("sync", "--db", laptop / "show.db", "--identity", zed_id, *relay_args)
    zed_ws = Workspace.open(connect(str(laptop / "show.db")), env_for(seeded_identity("Zed", 26)))
    assert zed_ws.workspace_id == ws_id and [r.values["contacts.Contacts.name"] for r in
                                             zed_ws.records.all("contacts.Contacts")] == ["Jane"]
    zed_ws.close()
    # ...and Alice is not any more: not on the relay, and not in the workspace (the recovery is in its
    # oplog, so her own copy says Zed owns it once she syncs, and her settings are refused)
    assert one_line(openprod("key", "create", "--db", show, "--identity", alice_id, *relay_args, check=False)) == \
        "Error: not_owner: only the owner of a workspace published on this relay can do this"
    assert moved["in_workspace"] == "written and sent"
    openprod("sync", "--db", show, "--identity", alice_id, *relay_args)
    alice_ws = Workspace.open(connect(str(show)), env_for(seeded_identity("Alice", 1)))
    assert alice_ws.settings.owner == seeded_identity("Zed", 26).actor_id
    assert alice_ws.settings.recovery_key == public_key(ws_id, secret_from(new_words)).hex()
    with pytest.raises(ValidationError, match="only the workspace owner"), alice_ws.transaction() as tx:
        tx.set_setting("max_future_drift_ms", 600_000)
    alice_ws.close()

    # the old words are dead, for anyone; the new ones work once
    yan_id = identity_file(tmp_path, "Yan", 25)
    other = tmp_path / "other"
    other.mkdir()
    assert "not_allowed" in one_line(recover(words, yan_id, other / "show.db", check=False))
    assert list(other.iterdir()) == []
    again = last_json(recover(new_words, yan_id, other / "show.db"))
    assert again["owner"] == seeded_identity("Yan", 25).actor_id.hex()
    assert again["in_workspace"] == "written and sent"
    openprod("sync", "--db", laptop / "show.db", "--identity", zed_id, *relay_args)
    zed_ws = Workspace.open(connect(str(laptop / "show.db")), env_for(seeded_identity("Zed", 26)))
    assert zed_ws.settings.owner == seeded_identity("Yan", 25).actor_id
    zed_ws.close()
    assert "not_allowed" in one_line(recover(new_words, zed_id, check=False))


def test_a_workspace_without_a_recovery_key_cannot_be_taken_over(relay: RelayProcess, tmp_path: Path) -> None:
    """Made through the API without recovery words (as before this existed): recovery is refused."""
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    alice.cli("publish", relay=relay)
    ws = alice.open()
    ws_text = str(uuid.UUID(bytes=ws.workspace_id))
    ws.close()
    zed_id = identity_file(tmp_path, "Zed", 26)
    result = openprod("recover", "--db", tmp_path / "z.db", "--identity", zed_id, "--workspace", ws_text,
                      "--words", words_for(new_secret()), "--relay", relay.url, check=False)
    assert "not_allowed" in one_line(result) and not (tmp_path / "z.db").exists()


def _post_recover(relay: RelayProcess, ws: bytes, who: Identity, args: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
    """One signed `recover` request, as the app and the command send it (a fresh nonce and time each)."""
    request = RelayRequest(action="recover", workspace=ws, actor=who.actor_id, at_ms=int(time.time() * 1000),
                           nonce=os.urandom(16), args=args)
    signature = NaclSigner(who).sign(request.signing_bytes())
    data = json.dumps(request.body(signature)).encode()
    post = urllib.request.Request(f"{relay.url}/api/recover", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(post, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def relay_audit(relay: RelayProcess, ws: bytes) -> list[str]:
    """The actions in the relay's members audit log for `ws` (its relay.db, read from outside)."""
    with sqlite3.connect(f"file:{relay.data / 'relay.db'}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT action FROM member_audit WHERE ws = ? ORDER BY id", (ws,))]


def test_a_recovery_asked_again_after_a_lost_answer_gets_the_same_yes_and_changes_nothing(
        relay: RelayProcess, tmp_path: Path) -> None:
    """The relay accepted a recovery but the answer never arrived: the same request again (same proof,
    same next key, same person) is answered yes again, without a second change; anything else is no."""
    alice_id = identity_file(tmp_path, "Alice", 1)
    show = tmp_path / "show.db"
    made = last_json(openprod("init", "--db", show, "--identity", alice_id, "--name", "Hamlet"))
    words, ws = str(made["recovery_words"]), uuid.UUID(str(made["workspace"])).bytes
    openprod("publish", "--db", show, "--identity", alice_id, "--join-mode", "access_key", "--relay", relay.url)
    zed, mallory = seeded_identity("Zed", 26), seeded_identity("Mallory", 27)
    secret = new_secret()
    next_key = public_key(ws, secret)
    args = {"proof": proof(ws, secret_from(words), zed.actor_id, next_key), "next_key": next_key}

    first = _post_recover(relay, ws, zed, args)
    assert first[0] == 200 and first[1]["owner"] == zed.actor_id.hex() and "repeated" not in first[1], first
    again = _post_recover(relay, ws, zed, args)  # the answer to the first was lost: Zed's device asks again
    assert again[0] == 200 and again[1] == {"workspace": str(made["workspace"]), "owner": zed.actor_id.hex(),
                                            "repeated": True}, again
    # someone else replaying it, or Zed with another next key, is refused: the old words are used up
    assert _post_recover(relay, ws, mallory, args)[1]["error"] == "not_allowed"
    other = public_key(ws, new_secret())
    changed = {"proof": proof(ws, secret_from(words), zed.actor_id, other), "next_key": other}
    assert _post_recover(relay, ws, zed, changed)[1]["error"] == "not_allowed"
    # one recovery in the relay's audit, and the key it set is still the first request's
    audit = [row for row in relay_audit(relay, ws) if row == "recovered"]
    assert audit == ["recovered"], audit
    # the new words still work, once
    final = public_key(ws, new_secret())
    nxt = {"proof": proof(ws, secret, mallory.actor_id, final), "next_key": final}
    assert _post_recover(relay, ws, mallory, nxt)[1]["owner"] == mallory.actor_id.hex()
