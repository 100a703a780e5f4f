"""The append-only oplog: storing bundles and ops, and finding every write to a register.

Each op is indexed by the registers it writes (`registers.touches`: its main register in the op
row, the others in `op_touches`), so history ("who changed this?") and undo guards see defaults,
discards, copies and cascades, not only the op's main subject.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator

from .bundle import Bundle, encode_wire
from .hlc import ZERO
from .ids import to_str
from .operations import ApplyCrdt, SetField
from .registers import touches
from .results import OplogSize, StoredBundle, actor_str

NO_DIGEST = bytes(32)


def header_digest(header_bytes: bytes) -> bytes:
    """A bundle's share of its writer's digest (the XOR of these over its bundles)."""
    return hashlib.sha256(header_bytes).digest()


def xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(32, "big")


OPLOG_INSERT = ("INSERT INTO oplog (seq, op_id, ord, bundle_seq, idx, actor, op_type, target, field, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
TARGET_INSERT = "INSERT INTO bundle_targets (target, bundle_seq) VALUES (?, ?)"
TOUCH_INSERT = "INSERT INTO op_touches (target, field, ord, op_seq) VALUES (?, ?, ?, ?)"


def append(conn: sqlite3.Connection, bundle: Bundle, received_at: int, digest: bytes | None,
           first_seq: int | None = None) -> int:
    """Insert the bundle and its ops (inside the caller's transaction). Returns the bundle seq.

    Its ops get consecutive seqs from `first_seq`, kept in the bundle row: readers find a bundle's
    ops by that range (no index on `oplog.bundle_seq`, one B-tree insert less per op). The records
    its ops are about go in `bundle_targets` once per bundle (not an index entry per op): readers
    of a register's writes go target -> bundles -> their ops (`MAIN_WRITES`).

    `digest` is the writer's digest with this bundle included (the caller keeps them in memory);
    None leaves the vector clock row to the caller (`store_clocks`, once per batch of received
    bundles). `first_seq` is the next free op seq when the caller already knows it (a batch
    counts it instead of asking SQLite for max(seq) per bundle)."""
    header = bundle.header
    if first_seq is None:
        first_seq = next_op_seq(conn)
    cur = conn.execute(
        "INSERT INTO bundles (bundle_id, actor, writer, hlc, kind, header, signature, op_count, first_op, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (header.bundle_id, header.actor, header.writer, header.hlc, header.kind, bundle.header_bytes,
         bundle.signature, len(bundle.ops), first_seq, received_at),
    )
    bundle_seq = cur.lastrowid
    assert bundle_seq is not None
    rows, targets, extras = op_rows(bundle, bundle_seq, first_seq)
    if len(rows) == 1:  # a keystroke: the same insert without executemany's per-call setup
        conn.execute(OPLOG_INSERT, rows[0])
    else:
        conn.executemany(OPLOG_INSERT, rows)
    if len(targets) == 1:
        conn.execute(TARGET_INSERT, (next(iter(targets)), bundle_seq))
    else:
        conn.executemany(TARGET_INSERT, [(target, bundle_seq) for target in targets])
    if extras:
        conn.executemany(TOUCH_INSERT, extras)
    if digest is not None:
        store_clocks(conn, [(header.writer, header.hlc, digest)])
    return bundle_seq


BUNDLE_INSERT = ("INSERT INTO bundles (seq, bundle_id, actor, writer, hlc, kind, header, signature, op_count, first_op,"
                 " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
OpRow = tuple[int, bytes, bytes, int, int, bytes, str, bytes | None, str | None, bytes]


def bundle_row(bundle: Bundle, seq: int, first_seq: int, received_at: int) -> tuple[object, ...]:
    """The `bundles` row of a bundle whose seq the caller chose (`BUNDLE_INSERT`; a batch's rows at once)."""
    header = bundle.header
    return (seq, header.bundle_id, header.actor, header.writer, header.hlc, header.kind, bundle.header_bytes,
            bundle.signature, len(bundle.ops), first_seq, received_at)


def op_rows(bundle: Bundle, bundle_seq: int, first_seq: int
            ) -> tuple[list[OpRow], dict[bytes, None], list[tuple[bytes, str, bytes, int]]]:
    """A stored bundle's `oplog` rows (seqs from `first_seq`), its main targets (once each, in
    order, for `bundle_targets`) and its ops' other registers (`op_touches`)."""
    rows: list[OpRow] = []
    extras: list[tuple[bytes, str, bytes, int]] = []
    targets: dict[bytes, None] = {}
    actor = bundle.header.actor
    seq = first_seq
    for index, (op, raw) in enumerate(zip(bundle.ops, bundle.op_bytes, strict=True)):
        ord_ = op.hlc + op.op_id
        if type(op) is SetField or type(op) is ApplyCrdt:  # most ops by far (a keystroke): one register
            target: bytes | None = op.entity
            field: str | None = op.field
        else:
            main, more = touches(op)
            target, field = main if main else (None, None)
            for t, f in more:
                extras.append((t, f, ord_, seq))
        if target is not None:
            targets[target] = None
        rows.append((seq, op.op_id, ord_, bundle_seq, index, actor, op.TYPE, target, field, raw))
        seq += 1
    return rows, targets, extras


def field_write_rows(bundle: Bundle, bundle_seq: int, first_seq: int,
                     writes: list[tuple[bytes, str, bytes]]) -> tuple[list[OpRow], dict[bytes, None]]:
    """`op_rows` for a bundle whose ops each write one register, given as (record, field, ord) per op
    (a plain run has them already): its `oplog` rows and targets; such ops touch nothing else."""
    actor = bundle.header.actor
    rows: list[OpRow] = [(first_seq + index, op.op_id, ord_, bundle_seq, index, actor, op.TYPE, entity, field, raw)
                         for index, (op, raw, (entity, field, ord_))
                         in enumerate(zip(bundle.ops, bundle.op_bytes, writes, strict=True))]
    return rows, dict.fromkeys(write[0] for write in writes)


def store_clocks(conn: sqlite3.Connection, rows: list[tuple[bytes, bytes, bytes]]) -> None:
    """Move the stored vector clock: (writer, hlc, the writer's digest including that bundle)."""
    conn.executemany(
        "INSERT INTO vector_clock (writer, hlc, digest) VALUES (?, ?, ?) ON CONFLICT (writer) DO UPDATE SET"
        " hlc = max(vector_clock.hlc, excluded.hlc), digest = excluded.digest", rows)


def stored_after(conn: sqlite3.Connection, writer: bytes, hlc: bytes) -> list[tuple[bytes, bytes]]:
    """(hlc, header digest) of `writer`'s stored bundles after `hlc`, in HLC order (the
    `bundles_writer_hlc` index): the local commits its vector clock row does not hold yet."""
    return [(row_hlc, header_digest(header)) for row_hlc, header in conn.execute(
        "SELECT hlc, header FROM bundles WHERE writer = ? AND hlc > ? ORDER BY hlc", (writer, hlc))]


def stored_ids(conn: sqlite3.Connection, bundle_ids: list[bytes]) -> set[bytes]:
    """Which of these bundles are stored already (one query per 500)."""
    found: set[bytes] = set()
    for start in range(0, len(bundle_ids), 500):
        part = bundle_ids[start:start + 500]
        found.update(r[0] for r in conn.execute(
            f"SELECT bundle_id FROM bundles WHERE bundle_id IN ({','.join('?' * len(part))})", part))
    return found


def stored_rows(conn: sqlite3.Connection, bundle_ids: list[bytes]) -> dict[bytes, tuple[bytes, bytes]]:
    """The header and signature of those of these bundles stored already (one query per 500)."""
    found: dict[bytes, tuple[bytes, bytes]] = {}
    for start in range(0, len(bundle_ids), 500):
        part = bundle_ids[start:start + 500]
        found.update((r[0], (r[1], r[2])) for r in conn.execute(
            f"SELECT bundle_id, header, signature FROM bundles WHERE bundle_id IN ({','.join('?' * len(part))})",
            part))
    return found


def next_op_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(seq) FROM oplog").fetchone()
    return (row[0] or 0) + 1


# The ops whose main register is on target `t.target` (an `oplog l` with its `bundles b`): from the
# bundles that wrote the target to their ops by seq range, each op once (its own target's row).
MAIN_WRITES = ("bundle_targets t JOIN bundles b ON b.seq = t.bundle_seq JOIN oplog l"
               " ON l.seq >= b.first_op AND l.seq < b.first_op + b.op_count AND l.target = t.target")


def writes_to(conn: sqlite3.Connection, target: bytes, fields: tuple[str, ...] | list[str],
              after_ord: bytes = b"") -> Iterator[tuple[bytes, bytes, str, bytes, bytes]]:
    """Every op writing (target, any of `fields`) after `after_ord`, in canonical order.

    Yields (ord, writer, op_type, payload, bundle_id); the writer is the author's key || device.
    """
    marks = ",".join("?" * len(fields))
    sql = f"""
        SELECT l.ord, b.writer, l.op_type, l.payload, b.bundle_id FROM {MAIN_WRITES}
        WHERE t.target = ? AND l.field IN ({marks}) AND l.ord > ?
        UNION
        SELECT l.ord, b.writer, l.op_type, l.payload, b.bundle_id FROM op_touches t
        JOIN oplog l ON l.seq = t.op_seq JOIN bundles b ON b.seq = l.bundle_seq
        WHERE t.target = ? AND t.field IN ({marks}) AND t.ord > ?
        ORDER BY 1
    """
    params = [target, *fields, after_ord, target, *fields, after_ord]
    yield from conn.execute(sql, params)


def other_writer_since(conn: sqlite3.Connection, target: bytes, fields: tuple[str, ...] | list[str],
                       since_ord: bytes, me: bytes) -> bytes | None:
    """The writer of the first write to the register after `since_ord` by another writer than `me`
    (another person, or the same person on another device)."""
    for _ord, writer, _type, _payload, _bundle in writes_to(conn, target, fields, since_ord):
        if writer != me:
            return writer
    return None


def other_writer_received_since(conn: sqlite3.Connection, target: bytes, fields: tuple[str, ...] | list[str],
                                bundle_id: bytes, me: bytes) -> bytes | None:
    """The writer of a write to (target, any of `fields`) by another writer than `me`, stored after
    the bundle `bundle_id`, whatever its clock: for collaborative (CRDT) fields, where a concurrent
    edit made before that bundle is merged into the text as much as a later one, so canonical order
    cannot tell "since"."""
    marks = ",".join("?" * len(fields))
    sql = f"""
        SELECT b.writer FROM {MAIN_WRITES}
        WHERE t.target = ? AND l.field IN ({marks}) AND l.seq > ? AND b.writer != ?
        UNION ALL
        SELECT b.writer FROM op_touches t JOIN oplog l ON l.seq = t.op_seq JOIN bundles b ON b.seq = l.bundle_seq
        WHERE t.target = ? AND t.field IN ({marks}) AND l.seq > ? AND b.writer != ?
        LIMIT 1
    """
    row = conn.execute("SELECT first_op + op_count - 1 FROM bundles WHERE bundle_id = ?", (bundle_id,)).fetchone()
    if row is None:
        return None
    row = conn.execute(sql, [target, *fields, row[0], me, target, *fields, row[0], me]).fetchone()
    return None if row is None else bytes(row[0])


# --- reading stored bundles (sync deltas, export, publishing) ------------------------------------

PAGE = 256  # bundles read from SQLite at a time while streaming a catch-up


class StoredWires:
    """Bundle sequence numbers chosen up front (a snapshot), wires read a page at a time."""

    def __init__(self, conn: sqlite3.Connection, seqs: list[int]) -> None:
        self._conn = conn
        self._seqs = seqs
        self.total = len(seqs)

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._seqs), PAGE):
            yield from wires_for(self._conn, self._seqs[start:start + PAGE])


def wires_for(conn: sqlite3.Connection, seqs: list[int]) -> list[bytes]:
    """Exact wire bytes of stored bundles (by local seq), in the order given."""
    if not seqs:
        return []
    marks = ",".join("?" * len(seqs))
    heads = {seq: (header, signature) for seq, header, signature in conn.execute(
        f"SELECT seq, header, signature FROM bundles WHERE seq IN ({marks})", seqs)}
    ops: dict[int, list[bytes]] = {seq: [] for seq in seqs}
    for seq, payload in conn.execute(
            f"SELECT b.seq, l.payload FROM bundles b JOIN oplog l ON l.seq >= b.first_op"
            f" AND l.seq < b.first_op + b.op_count WHERE b.seq IN ({marks}) ORDER BY l.seq", seqs):
        ops[seq].append(payload)
    return [encode_wire(heads[seq][0], heads[seq][1], ops[seq]) for seq in seqs]


def missing_seqs(conn: sqlite3.Connection, mine: dict[bytes, bytes], theirs: dict[bytes, bytes]) -> list[int]:
    """Local seqs of the bundles not covered by `theirs`, in HLC order (a causal order).

    A writer's (one device's) bundles are applied in chain order, so "everything of writer W
    after theirs[W]" is what the peer lacks; one indexed range query per writer that is behind.
    (A forked chain can hide a branch below theirs[W]: the digests in checks find it.)
    """
    found: list[tuple[bytes, bytes, int]] = []
    for writer, hlc in mine.items():
        since = theirs.get(writer, ZERO)
        if since >= hlc:
            continue
        found.extend(conn.execute(
            "SELECT hlc, bundle_id, seq FROM bundles WHERE writer = ? AND hlc > ?", (writer, since)))
    found.sort()
    return [seq for _hlc, _id, seq in found]


def chain_seqs(conn: sqlite3.Connection, writers: list[bytes]) -> list[int]:
    """Every bundle of these writers, in HLC order: what a peer missing part of a forked chain gets."""
    found: list[tuple[bytes, bytes, int]] = []
    for writer in writers:
        found.extend(conn.execute("SELECT hlc, bundle_id, seq FROM bundles WHERE writer = ?", (writer,)))
    found.sort()
    return [seq for _hlc, _id, seq in found]


def genesis_seq(conn: sqlite3.Connection) -> int | None:
    """Local seq of the bundle holding the workspace's first InitWorkspace (None before it is here)."""
    row = conn.execute("SELECT b.seq FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq"
                       " WHERE l.op_type = 'InitWorkspace' ORDER BY l.ord LIMIT 1").fetchone()
    return None if row is None else int(row[0])


def last_seq(conn: sqlite3.Connection) -> int:
    """The local position of the newest stored bundle (0 when none)."""
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM bundles").fetchone()[0])


def count_after(conn: sqlite3.Connection, writer: bytes, hlc: bytes) -> int:
    """How many bundles of `writer` are newer than `hlc`."""
    return int(conn.execute("SELECT count(*) FROM bundles WHERE writer = ? AND hlc > ?", (writer, hlc)).fetchone()[0])


def stored_bundles(conn: sqlite3.Connection) -> Iterator[StoredBundle]:
    """Every stored bundle with its exact signed wire bytes, in a causal order (HLC), a page at a time."""
    rows = conn.execute("SELECT seq, bundle_id, actor, hlc, kind, op_count FROM bundles"
                        " ORDER BY hlc, bundle_id").fetchall()
    for start in range(0, len(rows), PAGE):
        page = rows[start:start + PAGE]
        for (_seq, bundle_id, actor, hlc, kind, count), wire in zip(
                page, wires_for(conn, [r[0] for r in page]), strict=True):
            yield StoredBundle(to_str(bundle_id), actor_str(actor), hlc, kind, count, wire)


def size(conn: sqlite3.Connection) -> OplogSize:
    """How many bundles and operations are stored, and how many received bundles are parked."""
    bundles, ops = conn.execute("SELECT count(*), coalesce(sum(op_count), 0) FROM bundles").fetchone()
    pending = conn.execute("SELECT count(*) FROM pending").fetchone()[0]
    return OplogSize(int(bundles), int(ops), int(pending))
