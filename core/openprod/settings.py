"""Workspace settings: synced, last-writer-wins values that change how every peer behaves.

Settings protect everyone (how far ahead a bundle's clock may run, how old counts as stale, how
people join), so only the workspace's owner changes them: every receiver refuses a settings
change from anyone else, and caps the future-clock limit at its own ceiling whatever the owner
set (`Env.max_future_drift_cap_ms`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ValidationError
from .hlc import DEFAULT_MAX_FUTURE_DRIFT_MS, DEFAULT_STALE_THRESHOLD_MS

MAX_FUTURE_DRIFT = "max_future_drift_ms"
STALE_THRESHOLD = "stale_threshold_ms"
JOIN_MODE = "join_mode"
FORKED_FROM = "forked_from"  # "<workspace id> <state hash>" of the workspace this one was forked from
RECOVERY_KEY = "recovery_key"  # the public half of the recovery key pair, 64 hex digits (recovery.py)
MAX_BLOB_BYTES = "max_blob_bytes"
DEFAULT_MAX_BLOB_BYTES = 100 * 2**20
"""Attachments up to 100 MiB by default: a full plot set or a score as one PDF fits."""
BLOB_LIMIT_RANGE = (2**10, 2**31)

CURRENT_OWNER = "current_owner"  # present once a recovery moved ownership from the founder (ownership.py)

JOIN_MODES = ("open", "access_key")

_DAY_MS = 24 * 60 * 60 * 1000
MAX_FUTURE_DRIFT_CAP_MS = 60 * 60 * 1000
"""A receiver's default ceiling on `max_future_drift_ms` (one hour)."""


@dataclass(frozen=True)
class Settings:
    """The values in force. Defaults follow spec/hlc.md and spec/workspace.md."""

    name: str = ""
    owner: bytes | None = None
    max_future_drift_ms: int = DEFAULT_MAX_FUTURE_DRIFT_MS
    stale_threshold_ms: int = DEFAULT_STALE_THRESHOLD_MS
    join_mode: str = "open"
    recovery_key: str = ""
    forked_from: str = ""
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES


def validate_setting(key: str, value: Any) -> None:
    if key == MAX_FUTURE_DRIFT:
        if isinstance(value, bool) or not isinstance(value, int) or not 1_000 <= value <= _DAY_MS:
            raise ValidationError(f"{key} must be whole milliseconds between 1000 and {_DAY_MS}")
    elif key == STALE_THRESHOLD:
        if isinstance(value, bool) or not isinstance(value, int) or not 60_000 <= value <= 3650 * _DAY_MS:
            raise ValidationError(f"{key} must be whole milliseconds between one minute and ten years")
    elif key == JOIN_MODE:
        if value not in JOIN_MODES:
            raise ValidationError(f"{key} must be one of {list(JOIN_MODES)}")
    elif key == FORKED_FROM:
        if not isinstance(value, str) or not 0 < len(value) <= 200:
            raise ValidationError(f"{key} must be text (the original workspace's id and state hash)")
    elif key == RECOVERY_KEY:
        if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValidationError(f"{key} must be a public key as 64 lower-case hex digits")
    elif key == MAX_BLOB_BYTES:
        low, high = BLOB_LIMIT_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(f"{key} must be whole bytes between {low} (1 KiB) and {high} (2 GiB)")
    else:
        raise ValidationError(f"unknown workspace setting {key!r}")


def from_rows(rows: dict[str, Any]) -> Settings:
    return Settings(
        name=rows.get("name", ""),
        owner=rows.get(CURRENT_OWNER, rows.get("owner")),
        max_future_drift_ms=rows.get(MAX_FUTURE_DRIFT, DEFAULT_MAX_FUTURE_DRIFT_MS),
        stale_threshold_ms=rows.get(STALE_THRESHOLD, DEFAULT_STALE_THRESHOLD_MS),
        join_mode=rows.get(JOIN_MODE, "open"),
        recovery_key=rows.get(RECOVERY_KEY, ""),
        forked_from=rows.get(FORKED_FROM, ""),
        max_blob_bytes=rows.get(MAX_BLOB_BYTES, DEFAULT_MAX_BLOB_BYTES),
    )


def check_setter(owner: bytes | None, actor: bytes) -> None:
    """Raise ValidationError unless `actor` is the workspace owner (the only one who changes settings)."""
    if owner is None or actor != owner:
        raise ValidationError("only the workspace owner can change workspace settings")


def workspace_name(name: str) -> str:
    """A workspace's name as founded: spaces collapsed, 1 to 200 characters."""
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > 200:
        raise ValidationError("a workspace name is 1 to 200 characters")
    return cleaned
