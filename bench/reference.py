"""Plain-SQLite references, measured in the same process as the figure they are compared with.

Why: this machine is shared and noisy, so an absolute figure drifts from run to run. Each
benchmark also times the least work plain SQLite must do for the same job on the same kind of
file (opened by `openprod.connect`, so WAL and the same pragmas), and reports the ratio.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cbor2

from openprod import connect, decode_bundle
from openprod import operations as o
from openprod.values import to_sql

FieldRow = tuple[bytes, str, Any, Any, bytes, bytes]  # entity, field, kind, value, ord, actor

_ROWS_DDL = ("CREATE TABLE IF NOT EXISTS ref_fields (entity_id BLOB NOT NULL, field TEXT NOT NULL, kind TEXT,"
             " value, ord BLOB NOT NULL, actor BLOB NOT NULL)")
_ROWS_INSERT = "INSERT INTO ref_fields (entity_id, field, kind, value, ord, actor) VALUES (?, ?, ?, ?, ?, ?)"


def open_reference(path: Path) -> sqlite3.Connection:
    """A fresh reference file with the core's own connection settings."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = connect(str(path))
    conn.execute(_ROWS_DDL)
    return conn


def field_rows(wires: Sequence[bytes]) -> list[FieldRow]:
    """The field writes carried by `wires`, as the rows a storage layer would persist."""
    rows: list[FieldRow] = []
    for wire in wires:
        bundle = decode_bundle(wire)
        for op in bundle.ops:
            if isinstance(op, o.SetField):
                kind, value = to_sql(op.value)
                rows.append((op.entity, op.field, kind, value, op.ord, bundle.actor))
    return rows


def bundle_field_rows(wires: Sequence[bytes]) -> list[list[FieldRow]]:
    """Like `field_rows`, grouped per bundle (one SQLite transaction each)."""
    return [field_rows([wire]) for wire in wires]


def executemany_seconds(path: Path, rows: Sequence[FieldRow]) -> float:
    """One transaction, one executemany of all rows: the fastest way SQLite can take them."""
    conn = open_reference(path)
    gc.collect()
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_ROWS_INSERT, rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def per_bundle_seconds(path: Path, batches: Sequence[Sequence[FieldRow]]) -> float:
    """One transaction per bundle, each an executemany of that bundle's rows."""
    conn = open_reference(path)
    gc.collect()
    start = time.perf_counter()
    for rows in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_ROWS_INSERT, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


class SingleRowCommit:
    """A single-row INSERT and COMMIT, timed one at a time beside the local-commit samples."""

    def __init__(self, path: Path) -> None:
        self.conn = open_reference(path)
        self.n = 0

    def once_ns(self, row: FieldRow) -> int:
        conn = self.conn
        start = time.perf_counter_ns()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_ROWS_INSERT, row)
        conn.execute("COMMIT")
        return time.perf_counter_ns() - start

    def close(self) -> None:
        self.conn.close()


def decode_and_write_seconds(source: sqlite3.Connection, path: Path) -> float:
    """The floor of any rebuild: read every op in canonical order, decode it, write one row per op."""
    conn = open_reference(path)
    gc.collect()
    start = time.perf_counter()
    rows = source.execute("SELECT payload, actor, ord FROM oplog ORDER BY ord").fetchall()
    out = []
    loads = cbor2.loads
    for payload, actor, ord_ in rows:
        op = loads(payload)
        value = op.get("value")
        plain = value if isinstance(value, (str, int, float)) or value is None else None
        out.append((op.get("entity", b""), op["t"], None, plain, ord_, actor))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_ROWS_INSERT, out)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed
