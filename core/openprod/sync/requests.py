"""Signed requests to a relay (publish, join, access keys, join mode): built here, checked there.

The relay must know who asks: only the workspace owner may create or revoke access keys, and a
join registers the actor that proves it holds its key. Each request is a canonical-CBOR map
signed by the actor, carrying the time and a random nonce so a captured request cannot be
replayed later. The body sent over HTTP is JSON with two base64 strings, so the web app can post
it with `fetch` and a person can read it in a log. Building lives in the core because the
browser worker signs these with WebCrypto (async): `signing_bytes()` is what gets signed.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from ..encoding import decode, encode
from ..errors import DecodeError
from ..identity import ACTOR_ID_LEN, SIGNATURE_LEN
from ..ids import ID_LEN
from ..wire import WireMap
from .errors import REASON_MALFORMED, PeerError

REQUEST_CONTEXT = b"openprod/relay-request/v1\x00"
REQUEST_NONCE_LEN = 16
ACTIONS = frozenset({"publish", "join", "create_key", "list_keys", "revoke_key", "set_join_mode", "members",
                     "decide_request", "remove_member", "readmit_member", "recover"})


@dataclass(frozen=True, kw_only=True)
class RelayRequest:
    action: str
    workspace: bytes
    actor: bytes
    at_ms: int
    nonce: bytes
    args: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> bytes:
        return encode({"action": self.action, "ws": self.workspace, "actor": self.actor, "at": self.at_ms,
                       "nonce": self.nonce, "args": self.args})

    def signing_bytes(self) -> bytes:
        return REQUEST_CONTEXT + self.payload()

    def body(self, signature: bytes) -> dict[str, str]:
        """The JSON body to POST, once `signing_bytes()` is signed."""
        return {"request": base64.b64encode(self.payload()).decode(),
                "signature": base64.b64encode(signature).decode()}


def decode_request_v1(body: Any) -> tuple[RelayRequest, bytes]:
    """A parsed JSON body -> (request, signature). Raises PeerError(`malformed`); never checks the signature."""

    def bad(detail: str) -> PeerError:
        return PeerError(REASON_MALFORMED, f"relay request: {detail}")

    if not isinstance(body, dict) or not isinstance(body.get("request"), str) or not isinstance(
            body.get("signature"), str):
        raise bad("expected a JSON object with base64 'request' and 'signature'")
    try:
        payload = base64.b64decode(body["request"], validate=True)
        signature = base64.b64decode(body["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise bad("'request' and 'signature' must be base64") from None
    if len(signature) != SIGNATURE_LEN:
        raise bad("signature must be 64 bytes")
    try:
        decoded = decode(payload, what="relay request")
    except DecodeError as exc:
        raise bad(exc.detail) from None
    wire = WireMap(decoded, "relay request", lambda detail: PeerError(REASON_MALFORMED, detail),
                   fields=("action", "ws", "actor", "at", "nonce", "args"))
    request = RelayRequest(action=wire.text("action", ACTIONS), workspace=wire.byte_string("ws", ID_LEN),
                           actor=wire.byte_string("actor", ACTOR_ID_LEN), at_ms=wire.count("at"),
                           nonce=wire.byte_string("nonce", REQUEST_NONCE_LEN), args=wire.text_map("args"))
    return request, signature
