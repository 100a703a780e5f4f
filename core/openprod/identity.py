"""Actor identity: an Ed25519 key pair whose 32-byte public key is the actor id.

The identity itself is plain data; generating keys, signing and verifying belong to a signer
backend (PyNaCl on CPython, WebCrypto under Pyodide) so the core never touches a crypto library
or a file. `to_json`/`from_json` are the export/import format and the identity file's contents.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .errors import IdentityError, ValidationError

ACTOR_ID_LEN = 32
SIGNATURE_LEN = 64
IDENTITY_FORMAT = "openprod-identity/1"
MAX_DISPLAY_NAME = 80
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def clean_display_name(name: str) -> str:
    """Display names are shown beside every change; keep them short and printable."""
    if not isinstance(name, str):
        raise IdentityError("display name must be text")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise IdentityError("display name must not be empty")
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise IdentityError(f"display name is longer than {MAX_DISPLAY_NAME} characters")
    if any(ord(ch) < 32 for ch in cleaned):
        raise IdentityError("display name must not contain control characters")
    return cleaned


def as_actor_id(value: str | bytes, what: str = "actor id") -> bytes:
    """An actor id as handed to the API (64 hex characters, or 32 raw bytes) -> its bytes;
    ValidationError if neither, like a bad record id (`ids.as_id`)."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise ValidationError(f"{what} {value[:80]!r} is not 64 hexadecimal characters") from None
    if not isinstance(value, bytes) or len(value) != ACTOR_ID_LEN:
        raise ValidationError(f"{what} must be {ACTOR_ID_LEN} bytes (64 hexadecimal characters)")
    return value


def short_actor(actor_id: bytes) -> str:
    """How an actor with no known display name is shown: truncated hex."""
    return actor_id.hex()[:8]


@dataclass(frozen=True)
class Identity:
    """A person's key pair and display name. `seed` is the 32-byte Ed25519 private key."""

    actor_id: bytes
    seed: bytes
    display_name: str
    created_at: str

    def __post_init__(self) -> None:
        if len(self.actor_id) != ACTOR_ID_LEN or len(self.seed) != 32:
            raise IdentityError("an identity needs a 32-byte public key and a 32-byte private key")

    def renamed(self, display_name: str) -> Identity:
        return Identity(self.actor_id, self.seed, clean_display_name(display_name), self.created_at)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": IDENTITY_FORMAT,
                "actor_id": self.actor_id.hex(),
                "private_key": self.seed.hex(),
                "display_name": self.display_name,
                "created_at": self.created_at,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Identity:
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            raise IdentityError(f"identity is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise IdentityError("identity must be a JSON object")
        if data.get("format", IDENTITY_FORMAT) != IDENTITY_FORMAT:
            raise IdentityError(f"unsupported identity format {data.get('format')!r}")
        for key in ("actor_id", "private_key"):
            value = data.get(key)
            if not isinstance(value, str) or not _HEX64.match(value):
                raise IdentityError(f"identity field {key!r} must be 64 lowercase hex characters")
        created = data.get("created_at", "")
        if not isinstance(created, str):
            raise IdentityError("identity field 'created_at' must be text")
        return cls(
            actor_id=bytes.fromhex(data["actor_id"]),
            seed=bytes.fromhex(data["private_key"]),
            display_name=clean_display_name(data.get("display_name", "")),
            created_at=created,
        )


@runtime_checkable
class Signer(Protocol):
    """Signs bundles for one actor. `sign` may raise SignerError if the backend is async-only."""

    @property
    def actor_id(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...

    async def sign_async(self, message: bytes) -> bytes: ...


@runtime_checkable
class Verifier(Protocol):
    """Checks Ed25519 signatures; `verify` may raise SignerError if the backend is async-only."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...

    async def verify_async(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...
