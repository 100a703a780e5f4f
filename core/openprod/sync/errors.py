"""Why a sync session or a bundle was refused: stable reason codes, and the errors that carry them.

Bundle-level reasons come from the core (`openprod.errors`); the session adds its own for the
handshake and the framing. They travel on the wire in `refuse` and `nack` messages, so a peer
(or a person reading a log) is told exactly why, and tests assert them by name.

Errors are split by who is at fault, like the core: `SyncUsageError` is this process calling
the session wrongly (fail loudly), `PeerError` is the remote side misbehaving (refuse, record,
close cleanly).
"""

from __future__ import annotations

from ..errors import (
    REASON_BAD_SIGNATURE,
    REASON_FUTURE_HLC,
    REASON_MALFORMED,
    REASON_UNSUPPORTED_VERSION,
    REASON_WRONG_WORKSPACE,
    REJECTION_REASONS,
    LocalError,
    OpenprodError,
    RemoteError,
)

# Session-level reasons (a `refuse` message closes the session).
REASON_NOT_JOINED = "not_joined"          # authenticated, but not a member of this workspace here
REASON_OVERSIZE = "oversize"              # a frame above the frame limit, or a message above the message limit
REASON_PROTOCOL = "protocol"              # a well-formed message that is not allowed now
REASON_TIMEOUT = "timeout"                # handshake, pong or acknowledgement never came
REASON_CLOSED = "closed"                  # an orderly goodbye
REASON_TOO_MANY_REJECTIONS = "too_many_rejections"  # a peer that keeps sending bundles we refuse
REASON_UNAVAILABLE = "unavailable"        # this side cannot serve the workspace now (a damaged file, a full disk)

SESSION_REASONS = frozenset({
    REASON_MALFORMED,
    REASON_OVERSIZE,
    REASON_UNSUPPORTED_VERSION,
    REASON_WRONG_WORKSPACE,
    REASON_NOT_JOINED,
    REASON_BAD_SIGNATURE,
    REASON_PROTOCOL,
    REASON_TIMEOUT,
    REASON_CLOSED,
    REASON_TOO_MANY_REJECTIONS,
    REASON_UNAVAILABLE,
})

ALL_REASONS = SESSION_REASONS | REJECTION_REASONS

__all__ = [
    "ALL_REASONS",
    "REASON_BAD_SIGNATURE",
    "REASON_CLOSED",
    "REASON_FUTURE_HLC",
    "REASON_MALFORMED",
    "REASON_NOT_JOINED",
    "REASON_OVERSIZE",
    "REASON_PROTOCOL",
    "REASON_TIMEOUT",
    "REASON_TOO_MANY_REJECTIONS",
    "REASON_UNAVAILABLE",
    "REASON_UNSUPPORTED_VERSION",
    "REASON_WRONG_WORKSPACE",
    "SESSION_REASONS",
    "PeerError",
    "SyncError",
    "SyncUsageError",
]


class SyncError(OpenprodError):
    """Base class for errors raised by the sync layer."""


class SyncUsageError(SyncError, LocalError):
    """This process drove the session wrongly (for example, answered work it was never given)."""


class PeerError(SyncError, RemoteError):
    """The remote side sent something we refuse. `reason` is a stable code from ALL_REASONS."""

    REASONS = ALL_REASONS
