"""Openprod core: the signed oplog, its derived state, and the workspace API.

Pure Python with no I/O of its own: storage (a sqlite3 connection), clock, random source and
signer are handed in, so the same package runs on CPython (relay, CLI) and in Pyodide (browser).
"""

from .awareness import Awareness
from .bundle import Bundle, decode_bundle
from .calling import CallingCue, CallingPosition, CallingSheet, CueList
from .commit import Prepared
from .conflict_report import Resolution
from .conflicts import Competitor, Conflict
from .errors import (
    BundleRejected,
    DecodeError,
    IdentityError,
    LocalError,
    NotFoundError,
    OpenprodError,
    RemoteError,
    SchemaError,
    SignerError,
    ValidationError,
    WorkspaceMismatchError,
)
from .history import Alternative, Change, PersonChanges
from .identity import Identity, Signer, Verifier
from .ids import IdLike
from .modules import ModuleDef, Schema, parse_manifest
from .overlay import Drift, OverlayInfo
from .parked import ParkingLimits
from .query import QueryError
from .results import BundleEvent, Edge, IngestResult, OplogSize, Quarantined, Receipt, Record, StoredBundle
from .rules import Proposal, Rule, RuleCycleError, RuleError
from .starter import starter_manifests
from .storage import connect
from .transaction import Transaction
from .undo import UndoResult
from .view_definitions import ViewDef, ViewError
from .views import ViewResult
from .workspace import Env, Workspace

__all__ = [
    "Alternative",
    "Awareness",
    "Bundle",
    "BundleEvent",
    "BundleRejected",
    "CallingCue",
    "CallingPosition",
    "CallingSheet",
    "Change",
    "Competitor",
    "Conflict",
    "CueList",
    "DecodeError",
    "Drift",
    "Edge",
    "Env",
    "IdLike",
    "Identity",
    "IdentityError",
    "IngestResult",
    "LocalError",
    "ModuleDef",
    "NotFoundError",
    "OpenprodError",
    "OplogSize",
    "OverlayInfo",
    "ParkingLimits",
    "PersonChanges",
    "Prepared",
    "Proposal",
    "Quarantined",
    "QueryError",
    "Receipt",
    "Record",
    "RemoteError",
    "Resolution",
    "Rule",
    "RuleCycleError",
    "RuleError",
    "Schema",
    "SchemaError",
    "Signer",
    "SignerError",
    "StoredBundle",
    "Transaction",
    "UndoResult",
    "ValidationError",
    "Verifier",
    "ViewDef",
    "ViewError",
    "ViewResult",
    "Workspace",
    "WorkspaceMismatchError",
    "connect",
    "decode_bundle",
    "parse_manifest",
    "starter_manifests",
]
