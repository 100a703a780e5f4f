"""Sync: the transport-agnostic protocol every Openprod peer speaks (relay, CLI, browser).

A `SyncSession` is a sans-IO state machine for one peer connection; `pump`/`pump_async` do its
work against a Workspace; `WorkspaceReplica` is what it reads. Frames are canonical CBOR of at
most 16 KiB. See docs/sync.md for the protocol and its guarantees.
"""

from .blob_exchange import FAILED, FETCHING, HERE, MISSING, TOO_LARGE, BlobExchange, BlobStatus
from .blob_messages import BLOBS_FEATURE, MAX_BLOB_WANTS, MAX_PIECE
from .chunks import MAX_FRAME, MAX_MESSAGE, Reassembler, split_v1
from .driver import pump, pump_async
from .errors import ALL_REASONS, SESSION_REASONS, PeerError, SyncError, SyncUsageError
from .events import (
    BlobArrived,
    BlobUnavailable,
    BlobWanted,
    BundleRefused,
    CaughtUp,
    Closed,
    Diverged,
    Established,
    Event,
    IngestBatch,
    InSync,
    PeerRefusedBundle,
    Progress,
    SignProof,
    VerifyProof,
    Work,
)
from .messages import PROTOCOL_VERSION, decode_message_v1, encode_message_v1
from .replica import Replica, WorkspaceReplica, lacks
from .requests import RelayRequest, decode_request_v1
from .session import Role, SessionConfig, State, SyncSession

__all__ = [
    "ALL_REASONS",
    "BLOBS_FEATURE",
    "FAILED",
    "FETCHING",
    "HERE",
    "MAX_BLOB_WANTS",
    "MAX_FRAME",
    "MAX_MESSAGE",
    "MAX_PIECE",
    "MISSING",
    "PROTOCOL_VERSION",
    "SESSION_REASONS",
    "TOO_LARGE",
    "BlobArrived",
    "BlobExchange",
    "BlobStatus",
    "BlobUnavailable",
    "BlobWanted",
    "BundleRefused",
    "CaughtUp",
    "Closed",
    "Diverged",
    "Established",
    "Event",
    "InSync",
    "IngestBatch",
    "PeerError",
    "PeerRefusedBundle",
    "Progress",
    "Reassembler",
    "RelayRequest",
    "Replica",
    "Role",
    "SessionConfig",
    "SignProof",
    "State",
    "SyncError",
    "SyncSession",
    "SyncUsageError",
    "VerifyProof",
    "Work",
    "WorkspaceReplica",
    "decode_message_v1",
    "decode_request_v1",
    "encode_message_v1",
    "lacks",
    "pump",
    "pump_async",
    "split_v1",
]
