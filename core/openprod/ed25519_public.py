"""An Ed25519 public key from its 32-byte seed, in plain Python (RFC 8032, sections 5.1.5 and 5.1.2).

Why: WebKit's WebCrypto (WebKitGTK 2.50, what the browser lane runs) refuses to import a PKCS#8
Ed25519 key whose seed starts with a zero byte ("DataError"), so deriving a recovery key's public
half through it failed for 1 seed in 256 and a workspace could not be created there. Deriving it
here needs no import and gives the same key in every engine. Not constant-time: it runs on the
device that holds the seed, once per workspace created or recovered.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
# (X, Y, Z, T) extended coordinates: x = X/Z, y = Y/Z, x*y = T/Z
_BASE = (_BX, _BY, 1, _BX * _BY % P)
_NEUTRAL = (0, 1, 1, 0)

Point = tuple[int, int, int, int]


def _add(p: Point, q: Point) -> Point:
    """RFC 8032's unified addition on the twisted Edwards curve (also right for p == q)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(scalar: int, point: Point) -> Point:
    result = _NEUTRAL
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _encode(point: Point) -> bytes:
    x, y, z, _t = point
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte Ed25519 seed (the same as PyNaCl's and WebCrypto's)."""
    if len(seed) != 32:
        raise ValueError(f"an Ed25519 seed is 32 bytes, not {len(seed)}")
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar = (scalar & ((1 << 254) - 8)) | (1 << 254)  # clamped, as RFC 8032 5.1.5 says
    return _encode(_multiply(scalar, _BASE))
