"""Which Ed25519 signatures every verifier refuses, so that all peers accept the same bundles.

libsodium (PyNaCl, the relay) refuses signatures that WebCrypto implementations and the
pure-Python `ecdsa` package accept: public keys or nonces R of small order (with A = identity,
R = identity, S = 0 a signature verifies for every message), non-canonical keys, and S >= L.
If verifiers disagreed, peers would apply different histories and never converge, so the
WebCrypto and pure backends refuse these before doing the real check.
"""

from __future__ import annotations

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_Y_ORDER_8 = 0x5FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826  # y of an order-8 point
_SMALL_ORDER_Y = frozenset({0, 1, _P - 1, _Y_ORDER_8, _P - _Y_ORDER_8})  # y of all 8 torsion points


def refused_by_libsodium(public_key: bytes, signature: bytes) -> bool:
    """True when libsodium's Ed25519 verify rejects these bytes whatever the message."""
    a_y = int.from_bytes(public_key, "little") & ((1 << 255) - 1)
    r_y = int.from_bytes(signature[:32], "little") & ((1 << 255) - 1)
    return (a_y >= _P or a_y in _SMALL_ORDER_Y or r_y % _P in _SMALL_ORDER_Y
            or int.from_bytes(signature[32:], "little") >= _L)
