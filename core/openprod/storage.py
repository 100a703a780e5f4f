"""SQLite layout: the oplog (source of truth), derived canonical state, and local-only tables.

The connection is handed in: a WAL file on the relay and the CLI, `:memory:` in the browser
(persisted by the shell through IndexedDB). Only SQL that SQLite 3.39 (Pyodide's) understands.

Derived state is a set of last-writer-wins registers keyed by what they describe, each holding
the canonical order key `ord` = HLC || op_id of its winning op. Applying an op is an upsert that
only wins if its `ord` is greater, so the state does not depend on arrival order and a rebuild
from the oplog reproduces it exactly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import LocalError, NotFoundError, WorkspaceMismatchError
from .ids import to_str
from .parked import DDL as PARKED_DDL
from .parked import renew_table as renew_parked

SCHEMA_VERSION = 4  # bump when derived tables change: opening an older file rebuilds them

BUNDLE_TARGETS_DDL = """
CREATE TABLE IF NOT EXISTS bundle_targets (
    target BLOB NOT NULL,
    bundle_seq INTEGER NOT NULL REFERENCES bundles (seq),
    PRIMARY KEY (target, bundle_seq)
) WITHOUT ROWID;
"""

CANONICAL_DDL = """
CREATE TABLE IF NOT EXISTS bundles (
    seq INTEGER PRIMARY KEY,              -- reception order (local)
    bundle_id BLOB NOT NULL UNIQUE CHECK (length(bundle_id) = 16),
    actor BLOB NOT NULL CHECK (length(actor) = 32),
    writer BLOB NOT NULL CHECK (length(writer) = 48),  -- actor || device: one chain per device
    hlc BLOB NOT NULL CHECK (length(hlc) = 12),
    kind TEXT NOT NULL,
    header BLOB NOT NULL,                 -- exact signed header bytes
    signature BLOB NOT NULL CHECK (length(signature) = 64),
    op_count INTEGER NOT NULL,
    first_op INTEGER NOT NULL,            -- oplog seq of its first op: its ops are seqs first_op .. + op_count - 1
    received_at INTEGER NOT NULL          -- local wall ms, informational
);
CREATE INDEX IF NOT EXISTS bundles_writer_hlc ON bundles (writer, hlc);

CREATE TABLE IF NOT EXISTS oplog (
    seq INTEGER PRIMARY KEY,              -- reception order (local)
    op_id BLOB NOT NULL UNIQUE CHECK (length(op_id) = 16),
    ord BLOB NOT NULL,                    -- hlc || op_id: canonical order
    bundle_seq INTEGER NOT NULL REFERENCES bundles (seq),
    idx INTEGER NOT NULL,                 -- position in its bundle
    actor BLOB NOT NULL,
    op_type TEXT NOT NULL,
    target BLOB,                          -- entity or edge the op is about
    field TEXT,                           -- field id or edge property, when there is one
    payload BLOB NOT NULL                 -- exact op bytes (hashed in the signed header)
);

-- The records (or edges) each bundle's ops are about, once per bundle: readers go from a target to
-- the bundles that wrote it, then to their ops by the seq range (`bundles.first_op`). One row per
-- bundle and target instead of an index entry per op (a 10-field edit of one record: 1 insert, not 10).
""" + BUNDLE_TARGETS_DDL + """
-- Registers an op writes besides its main one (table defaults, discarded values, copies on
-- unlink, cascaded edges), so history and undo guards find every write to a register.
CREATE TABLE IF NOT EXISTS op_touches (
    target BLOB NOT NULL,
    field TEXT NOT NULL,
    ord BLOB NOT NULL,
    op_seq INTEGER NOT NULL REFERENCES oplog (seq)
);
CREATE INDEX IF NOT EXISTS op_touches_target ON op_touches (target, field, ord);

CREATE TABLE IF NOT EXISTS entities (
    entity_id BLOB PRIMARY KEY,
    created_ord BLOB,                     -- NULL until its CreateEntity is known
    created_by BLOB,
    initial_table TEXT,
    life_ord BLOB NOT NULL,
    alive INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS fields (
    entity_id BLOB NOT NULL,
    field TEXT NOT NULL,
    kind TEXT,                            -- s, n, b, l; NULL = cleared (tombstone)
    value,
    ord BLOB NOT NULL,
    actor BLOB NOT NULL,
    PRIMARY KEY (entity_id, field)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fields_field_value ON fields (field, value);

CREATE TABLE IF NOT EXISTS facets (
    entity_id BLOB NOT NULL,
    facet TEXT NOT NULL,
    attached INTEGER NOT NULL,
    ord BLOB NOT NULL,
    actor BLOB NOT NULL,
    source TEXT NOT NULL,                 -- user, rule, import, script, link, undo
    PRIMARY KEY (entity_id, facet)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facets_facet ON facets (facet, attached);

CREATE TABLE IF NOT EXISTS edges (
    edge_id BLOB PRIMARY KEY,
    edge_type TEXT,
    source BLOB,
    target BLOB,
    created_ord BLOB,
    created_by BLOB,
    life_ord BLOB NOT NULL,
    alive INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_source ON edges (source, edge_type);
CREATE INDEX IF NOT EXISTS edges_target ON edges (target, edge_type);

CREATE TABLE IF NOT EXISTS edge_props (
    edge_id BLOB NOT NULL,
    key TEXT NOT NULL,                    -- '_position' for ordered edges
    kind TEXT,
    value,
    ord BLOB NOT NULL,
    actor BLOB NOT NULL,
    PRIMARY KEY (edge_id, key)
) WITHOUT ROWID;

-- Every adoption is kept: a module's schema is the union of its adopted versions, so the
-- schema only grows and a bundle valid for its author stays valid for every receiver.
CREATE TABLE IF NOT EXISTS modules (
    module TEXT NOT NULL,
    ord BLOB NOT NULL,
    version TEXT NOT NULL,
    manifest TEXT NOT NULL,
    actor BLOB NOT NULL,
    PRIMARY KEY (module, ord)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS table_links (
    table_a TEXT NOT NULL,
    table_b TEXT NOT NULL,
    linked INTEGER NOT NULL,
    ord BLOB NOT NULL,
    actor BLOB NOT NULL,
    PRIMARY KEY (table_a, table_b),
    CHECK (table_a < table_b)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS field_mappings (
    field_a TEXT NOT NULL,
    field_b TEXT NOT NULL,
    shared_key TEXT,
    status TEXT NOT NULL,                 -- suggested, confirmed, removed
    ord BLOB NOT NULL,
    actor BLOB NOT NULL,
    PRIMARY KEY (field_a, field_b),
    CHECK (field_a < field_b)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value BLOB,                           -- canonical CBOR
    ord BLOB NOT NULL,
    actor BLOB NOT NULL
) WITHOUT ROWID;

-- The ops ownership is derived from (founding, settings, recoveries), in canonical order: ownership.py.
CREATE TABLE IF NOT EXISTS ownership_events (
    ord BLOB PRIMARY KEY,
    kind TEXT NOT NULL,                   -- init, setting, recover
    actor BLOB NOT NULL,
    key BLOB,                             -- setting: its name (text); recover: the recovery key used
    value BLOB                            -- setting: its value (CBOR); recover: the next recovery key
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS actors (
    actor BLOB PRIMARY KEY,
    display_name TEXT NOT NULL,
    ord BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rules (
    rule_id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    definition BLOB NOT NULL,             -- canonical CBOR
    ord BLOB NOT NULL,
    actor BLOB NOT NULL
) WITHOUT ROWID;

-- Saved views (views.py): one row per view, last writer wins on the whole definition.
CREATE TABLE IF NOT EXISTS views (
    view_id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    definition BLOB NOT NULL,             -- canonical CBOR
    ord BLOB NOT NULL,
    actor BLOB NOT NULL
) WITHOUT ROWID;

-- Calling positions (calling.py): the cue last called in each cue list, last writer wins.
-- A pointer shared while a show is called, kept apart from the records so it never conflicts.
CREATE TABLE IF NOT EXISTS calling_positions (
    cue_list BLOB PRIMARY KEY,
    cue BLOB,                             -- NULL: the list is not started
    ord BLOB NOT NULL,
    actor BLOB NOT NULL
) WITHOUT ROWID;

-- Conflict state (derived): the branch tips of every semantic field or edge property that has
-- been written, and every resolution with whether it was accepted.
CREATE TABLE IF NOT EXISTS field_tips (
    target BLOB NOT NULL,                 -- entity or edge
    key TEXT NOT NULL,                    -- semantic field (smallest mapped field id) or property
    op_id BLOB NOT NULL,
    ord BLOB NOT NULL,
    writer BLOB NOT NULL,                 -- actor || device of the write's bundle
    clock BLOB NOT NULL,                  -- CBOR vector clock of the write's bundle
    field TEXT NOT NULL,                  -- the field (or property) actually written
    kind TEXT,
    value,
    origin BLOB NOT NULL,                 -- the record the write named (differs after a merge)
    PRIMARY KEY (target, key, op_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS resolutions (
    op_id BLOB PRIMARY KEY,
    conflict_id BLOB NOT NULL,            -- the conflict settled (its id for its whole life)
    state BLOB NOT NULL,                  -- the exact tips it settled: one accepted per state
    target BLOB NOT NULL,
    key TEXT NOT NULL,
    field TEXT NOT NULL,
    ord BLOB NOT NULL,
    actor BLOB NOT NULL,
    accepted INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resolutions_conflict ON resolutions (conflict_id);
CREATE INDEX IF NOT EXISTS resolutions_state ON resolutions (state);

-- A reopened conflict's field shows its last resolution: the register that wins last-writer-wins
-- holds that value; its own content is kept here to put back when the conflict closes.
CREATE TABLE IF NOT EXISTS held_registers (
    target BLOB NOT NULL,
    key TEXT NOT NULL,
    field TEXT NOT NULL,                  -- the register (field or edge property) holding the value
    ord BLOB NOT NULL,
    kind TEXT,
    value,
    actor BLOB NOT NULL,
    PRIMARY KEY (target, key)
) WITHOUT ROWID;

-- Identity repair (derived). Merges join records into one class; the smallest id survives and
-- every other id in the class redirects to it (so partitions merging the same records, or
-- chains of merges, agree). A split records a merge exception so rules never re-merge.
CREATE TABLE IF NOT EXISTS merges (
    a BLOB NOT NULL,
    b BLOB NOT NULL,
    op_id BLOB NOT NULL,
    ord BLOB NOT NULL,
    actor BLOB NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS merge_exceptions (
    a BLOB NOT NULL,
    b BLOB NOT NULL,
    op_id BLOB NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS vector_clock (
    writer BLOB PRIMARY KEY,              -- actor || device
    hlc BLOB NOT NULL,                    -- HLC of the latest bundle applied from this writer
    digest BLOB NOT NULL                  -- XOR of the SHA-256 of its bundles' headers: which set it holds
) WITHOUT ROWID;
"""

LOCAL_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    bundle_id BLOB,
    actor BLOB,
    source TEXT,                          -- who sent it, when known (peer id, address)
    data BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS stale_flags (
    bundle_id BLOB PRIMARY KEY,
    hlc BLOB NOT NULL,
    age_ms INTEGER NOT NULL,
    threshold_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'unreviewed',
    flagged_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Staging overlays (local-only, never synced). Ops are unsigned and carry orders above every
-- canonical op; base_* is the canonical value a field had when first staged (for drift).
CREATE TABLE IF NOT EXISTS overlays (
    overlay_id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    source TEXT NOT NULL,                 -- user or script
    script TEXT,
    status TEXT NOT NULL,                 -- active, stashed, pending
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS overlay_ops (
    overlay_id BLOB NOT NULL REFERENCES overlays (overlay_id),
    seq INTEGER NOT NULL,
    batch INTEGER NOT NULL,               -- one staged transaction (the unit of overlay undo)
    op_type TEXT NOT NULL,
    payload BLOB NOT NULL,
    target BLOB,
    field TEXT,                           -- the field or edge property written, if one
    base_kind TEXT,
    base_value,
    base_ord BLOB,
    ack_ord BLOB,                         -- canonical write acknowledged with Keep Mine
    PRIMARY KEY (overlay_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS overlay_ops_field ON overlay_ops (overlay_id, target, field);
CREATE INDEX IF NOT EXISTS overlay_ops_seq ON overlay_ops (seq);  -- max(seq) for each staged op's order

-- Rule suggestions a person dismissed on this device (proposals themselves are derived).
CREATE TABLE IF NOT EXISTS dismissed_proposals (
    proposal_id TEXT PRIMARY KEY,
    rule_id BLOB NOT NULL,
    dismissed_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Field mapping suggestions a person turned down on this device (mappings.py).
CREATE TABLE IF NOT EXISTS dismissed_mappings (
    field_a TEXT NOT NULL,
    field_b TEXT NOT NULL,
    dismissed_at INTEGER NOT NULL,
    PRIMARY KEY (field_a, field_b)
) WITHOUT ROWID;

-- Received bundles waiting for earlier ones: see parked.py.
"""

# Tables rebuilt from the oplog. Order matters only for readability.
DERIVED_TABLES = (
    "entities",
    "fields",
    "facets",
    "edges",
    "edge_props",
    "modules",
    "table_links",
    "field_mappings",
    "settings",
    "ownership_events",
    "actors",
    "rules",
    "views",
    "calling_positions",
    "field_tips",
    "resolutions",
    "held_registers",
    "merges",
    "merge_exceptions",
    "vector_clock",
)


def connect(path: str) -> sqlite3.Connection:
    """Open a workspace database the way the core expects (autocommit; explicit BEGIN)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    configure(conn, on_disk=path != ":memory:" and not path.startswith("file::memory:"))
    return conn


_USE_CONNECT = "open the database with openprod.connect(path) instead"


def adopt(conn: sqlite3.Connection) -> None:
    """Make a connection someone else opened behave like one from `connect`, or refuse it.

    The core runs its own BEGIN/COMMIT, so Python's implicit transactions must be off. A plain
    `sqlite3.connect(path)` (legacy transaction control, nothing open yet) is switched to
    autocommit and configured; a connection that manages transactions itself is refused.
    """
    if not isinstance(conn, sqlite3.Connection):
        raise LocalError(f"expected a sqlite3 connection, got {type(conn).__name__}; {_USE_CONNECT}")
    autocommit = getattr(conn, "autocommit", None)  # Python 3.12+: True, False or legacy (-1)
    if autocommit is False:
        raise LocalError(f"this connection was opened with autocommit=False (Python opens transactions "
                         f"itself, the core needs to); {_USE_CONNECT}")
    if conn.in_transaction:
        raise LocalError(f"this connection is inside an open transaction; commit it first, or {_USE_CONNECT}")
    conn.isolation_level = None
    files = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
    configure(conn, on_disk=bool(files and files[0]))


def configure(conn: sqlite3.Connection, *, on_disk: bool) -> None:
    conn.isolation_level = None
    if on_disk:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -32000")
    # Each received bundle applies inside a savepoint, whose sub-journal copies every page the
    # bundle changes first (tens for a catch-up bundle). By default it spills past 64 KiB to a temp
    # file, page by page (~47 writes per catch-up bundle, 10-18 % of applying: docs/benchmarks.md,
    # Session 8); in memory it is a memcpy, freed at each RELEASE. Transient tables a query builds
    # stay in memory too (the core makes no temp tables).
    conn.execute("PRAGMA temp_store = MEMORY")


def install(conn: sqlite3.Connection) -> bool:
    """Create the tables; returns True if derived state came from an older layout and must be
    rebuilt from the oplog (derived tables are dropped and recreated, the oplog is untouched)."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")
    stored = get_meta(conn, "schema_version")
    stale = stored is not None and stored != SCHEMA_VERSION
    if stale:
        for table in DERIVED_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        _add_writers(conn)
    _add_first_op(conn)
    _add_bundle_targets(conn)
    renew_parked(conn)
    conn.executescript(CANONICAL_DDL + LOCAL_DDL + PARKED_DDL)
    set_meta(conn, "schema_version", SCHEMA_VERSION)
    return stale


def held_workspace(conn: sqlite3.Connection, workspace_id: bytes | None) -> tuple[bytes, bool]:
    """The workspace this file holds, after installing the tables (an empty file is claimed for
    `workspace_id`), and whether derived state must be rebuilt (see `install`)."""
    adopt(conn)
    stale = install(conn)
    stored = get_meta(conn, "workspace_id")
    existing = stored if isinstance(stored, bytes) else None
    if existing is not None and workspace_id is not None and existing != workspace_id:
        raise WorkspaceMismatchError(f"this file holds workspace {to_str(existing)}, not {to_str(workspace_id)}")
    if existing is None:
        if workspace_id is None:
            raise NotFoundError("this file holds no workspace; create or join one")
        set_meta(conn, "workspace_id", workspace_id)
        existing = workspace_id
    return existing, stale


def claim_empty(conn: sqlite3.Connection) -> None:
    """Install the tables in a database that must not hold a workspace yet (one being founded)."""
    adopt(conn)
    install(conn)
    if get_meta(conn, "workspace_id") is not None:
        raise LocalError("this database already holds a workspace")


def _add_writers(conn: sqlite3.Connection) -> None:
    """Files from before per-device chains hold only v1 bundles: their writer is device zero."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(bundles)")}
    if not columns or "writer" in columns:
        return
    conn.execute("DROP INDEX IF EXISTS bundles_actor_hlc")
    conn.execute("ALTER TABLE bundles ADD COLUMN writer BLOB NOT NULL DEFAULT x''")
    conn.execute("UPDATE bundles SET writer = CAST(actor || zeroblob(16) AS BLOB)")


@contextmanager
def _migration(conn: sqlite3.Connection) -> Iterator[None]:
    """One move of an older file's layout: all of it or none (a failure leaves the file as it was)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _add_first_op(conn: sqlite3.Connection) -> None:
    """Files from before `bundles.first_op` found a bundle's ops through an index on
    `oplog.bundle_seq` (one more B-tree insert per stored op). A bundle's ops were always stored
    with consecutive seqs (one `append`, inside one transaction), so the range replaces the index;
    a file where that does not hold is refused unchanged rather than read wrongly."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(bundles)")}
    if not columns or "first_op" in columns:
        return
    with _migration(conn):
        broken = conn.execute(
            "SELECT b.seq FROM bundles b LEFT JOIN (SELECT bundle_seq, min(seq) AS lo, max(seq) AS hi, count(*) AS n"
            " FROM oplog GROUP BY bundle_seq) l ON l.bundle_seq = b.seq"
            " WHERE coalesce(l.n, 0) != b.op_count OR (l.n > 0 AND l.hi - l.lo + 1 != l.n) LIMIT 1").fetchone()
        if broken is not None:
            raise LocalError(f"this file's oplog is damaged: the operations of stored bundle {broken[0]} are not "
                             f"stored together (or not all there); restore it from a backup or re-join the workspace")
        conn.execute("ALTER TABLE bundles ADD COLUMN first_op INTEGER NOT NULL DEFAULT 0")
        # A bundle without ops gets the next seq after the ops stored before it (an empty range either way).
        conn.execute("UPDATE bundles SET first_op = coalesce("
                     "(SELECT min(seq) FROM oplog WHERE bundle_seq = bundles.seq),"
                     " (SELECT coalesce(max(seq), 0) + 1 FROM oplog WHERE bundle_seq < bundles.seq))")
        conn.execute("DROP INDEX IF EXISTS oplog_bundle")


def _add_bundle_targets(conn: sqlite3.Connection) -> None:
    """Files from before `bundle_targets` found the ops about a record through an index on
    `oplog (target, field, ord)`, one entry per op. Once, at open: the table is filled from the
    stored ops and the index dropped, in one transaction (after `_add_first_op`, whose ranges
    the readers use)."""
    tables = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('oplog', 'bundle_targets')")}
    if "oplog" not in tables or "bundle_targets" in tables:
        return
    with _migration(conn):
        conn.execute(BUNDLE_TARGETS_DDL)
        conn.execute("INSERT INTO bundle_targets (target, bundle_seq)"
                     " SELECT DISTINCT target, bundle_seq FROM oplog WHERE target IS NOT NULL")
        conn.execute("DROP INDEX IF EXISTS oplog_target")


def get_meta(conn: sqlite3.Connection, key: str) -> object | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(conn: sqlite3.Connection, key: str, value: object) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
