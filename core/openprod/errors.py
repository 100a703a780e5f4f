"""Errors, grouped by who is at fault.

Local misuse (a bad write from this process) must fail loudly and change nothing.
Remote misbehaviour (a bad bundle from a peer) must be rejected, recorded and reported
back, while syncing carries on. Keeping the two apart lets callers handle each whole class.
"""

from __future__ import annotations


class OpenprodError(Exception):
    """Base class for every error the core raises on purpose."""


# --- local misuse -------------------------------------------------------------------------


class LocalError(OpenprodError):
    """The caller asked for something invalid; nothing was written."""


class ValidationError(LocalError):
    """A write does not fit the schema or the current state."""


class SchemaError(LocalError):
    """A module manifest or schema reference is invalid."""


class NotFoundError(LocalError):
    """A record, edge, table or field that the caller named does not exist."""


class SignerError(LocalError):
    """The configured signer cannot do what was asked (for example, sign synchronously)."""


class IdentityError(LocalError):
    """An identity file is missing, malformed or unsafe."""


class WorkspaceMismatchError(LocalError):
    """A workspace file belongs to another workspace than the one expected."""


# --- remote misbehaviour ------------------------------------------------------------------

# Reasons a received bundle is refused. Stable strings: they travel on the wire.
REASON_MALFORMED = "malformed"
REASON_BAD_SIGNATURE = "bad_signature"
REASON_BAD_HASH = "bad_hash"
REASON_SCHEMA = "schema"
REASON_WRONG_WORKSPACE = "wrong_workspace"
REASON_FUTURE_HLC = "future_hlc"
REASON_CONFLICTING_DUPLICATE = "conflicting_duplicate"
REASON_UNSUPPORTED_VERSION = "unsupported_version"
REASON_ID_IN_USE = "id_in_use"  # creates a record under a taken id, or reuses a stored op's id
REASON_BACKDATED = "backdated"  # an operation stamped no later than a bundle its clock says it follows
REASON_TOO_MANY_PARKED = "too_many_parked"  # waits for earlier bundles, and the waiting room is full
REASON_REMOVED_MEMBER = "removed_member"  # by an author this receiver no longer takes new bundles from

REJECTION_REASONS = frozenset(
    {
        REASON_MALFORMED,
        REASON_BAD_SIGNATURE,
        REASON_BAD_HASH,
        REASON_SCHEMA,
        REASON_WRONG_WORKSPACE,
        REASON_FUTURE_HLC,
        REASON_CONFLICTING_DUPLICATE,
        REASON_UNSUPPORTED_VERSION,
        REASON_ID_IN_USE,
        REASON_BACKDATED,
        REASON_TOO_MANY_PARKED,
        REASON_REMOVED_MEMBER,
    }
)


class RemoteError(OpenprodError):
    """Data from a peer is invalid: refused (quarantined, nacked or the session closed), never
    raised at the person using this device. Carries a stable `reason` code for the wire; each
    subclass says which codes it may carry in `REASONS`."""

    REASONS: frozenset[str] = REJECTION_REASONS

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class BundleRejected(RemoteError):
    """A received bundle failed verification and was not applied."""


class DecodeError(RemoteError):
    """Bytes are not valid canonical CBOR of the expected shape."""

    def __init__(self, detail: str) -> None:
        super().__init__(REASON_MALFORMED, detail)
