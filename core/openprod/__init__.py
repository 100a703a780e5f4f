"""Openprod core: the signed oplog, its derived state, and the workspace API.

Pure Python with no I/O of its own: storage (a sqlite3 connection), clock, random source and
signer are handed in, so the same package runs on CPython (relay, CLI) and in Pyodide (browser).
"""

from .bundle import Bundle, decode_bundle
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
from .history import Change
from .identity import Identity, Signer, Verifier
from .modules import ModuleDef, Schema, parse_manifest
from .starter import starter_manifests
from .storage import connect
from .transaction import Transaction
from .undo import UndoResult
from .workspace import BundleEvent, Env, IngestResult, Receipt, Record, Workspace

__all__ = [
    "Bundle",
    "BundleEvent",
    "BundleRejected",
    "Change",
    "DecodeError",
    "Env",
    "Identity",
    "IdentityError",
    "IngestResult",
    "LocalError",
    "ModuleDef",
    "NotFoundError",
    "OpenprodError",
    "Receipt",
    "Record",
    "RemoteError",
    "Schema",
    "SchemaError",
    "Signer",
    "SignerError",
    "Transaction",
    "UndoResult",
    "ValidationError",
    "Verifier",
    "Workspace",
    "WorkspaceMismatchError",
    "connect",
    "decode_bundle",
    "parse_manifest",
    "starter_manifests",
]
