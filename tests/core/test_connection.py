"""What the core accepts as a database connection, and closing a workspace."""

from __future__ import annotations

import random
import sqlite3

import pytest

from helpers import ManualClock, make_env, seeded_identity
from openprod import LocalError, Workspace, connect, starter_manifests


def _env(clock: ManualClock):  # type: ignore[no-untyped-def]
    return make_env(seeded_identity("Jane", 1), clock, random.Random(1))


def test_a_plain_sqlite3_connection_works(tmp_path, clock) -> None:
    path = str(tmp_path / "show.db")
    env = _env(clock)
    ws = Workspace.create(sqlite3.connect(path), env, "Hamlet")  # Python's default: implicit transactions
    ws.adopt_module(starter_manifests()["contacts"])
    jane = ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    ws.set_field(jane, "contacts.Contacts.phone", "555-0101")
    hashed = ws.state_hash()
    ws.close()
    with Workspace.open(sqlite3.connect(path), env) as again:
        assert again.records.get(jane).values["contacts.Contacts.phone"] == "555-0101"
        assert again.state_hash() == hashed
    with Workspace.open(connect(path), env) as third:  # and the file is what openprod.connect expects
        assert third.state_hash() == hashed


def test_a_connection_inside_a_transaction_is_refused_and_nothing_is_written(tmp_path, clock) -> None:
    conn = sqlite3.connect(str(tmp_path / "busy.db"))
    conn.execute("CREATE TABLE mine (x)")
    conn.execute("INSERT INTO mine VALUES (1)")  # Python opened a transaction for this
    assert conn.in_transaction
    with pytest.raises(LocalError, match=r"openprod\.connect"):
        Workspace.create(conn, _env(clock), "Hamlet")
    conn.rollback()
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["mine"]  # no core table


def test_something_else_than_a_connection_is_refused(clock) -> None:
    with pytest.raises(LocalError, match=r"openprod\.connect"):
        Workspace.create("show.db", _env(clock), "Hamlet")  # type: ignore[arg-type]


def test_a_workspace_can_be_closed(tmp_path, clock) -> None:
    path = str(tmp_path / "show.db")
    with Workspace.create(connect(path), _env(clock), "Hamlet") as ws:
        ws.adopt_module(starter_manifests()["contacts"])
        with pytest.raises(LocalError, match="transaction is still open"), ws.transaction() as tx:
            tx.create_record("contacts.Contacts", {"name": "Half done"})
            ws.close()
    assert ws.closed
    ws.close()  # twice is harmless
    with pytest.raises(sqlite3.ProgrammingError):
        ws.records.all("contacts.Contacts")
    with Workspace.open(connect(path), _env(clock)) as again:
        assert again.records.all("contacts.Contacts") == []  # the half-done transaction never happened
