"""The Ed25519 public key derived in Python (`openprod.ed25519_public`) is the one signers use.

It replaced WebCrypto's PKCS#8 import, which WebKit refuses for a seed starting with a zero byte."""

from __future__ import annotations

import random

import pytest

from openprod.ed25519_public import public_key
from openprod.signer_pure import public_key_for


def test_rfc_8032_test_vectors() -> None:
    vectors = {  # RFC 8032 section 7.1, tests 1-3: secret key -> public key
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60":
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb":
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7":
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    }
    for secret, public in vectors.items():
        assert public_key(bytes.fromhex(secret)).hex() == public


def test_same_key_as_the_signer_for_seeds_starting_with_zero_and_others() -> None:
    rng = random.Random(7)
    seeds = [bytes(1) + rng.randbytes(31) for _ in range(8)] + [rng.randbytes(32) for _ in range(8)]
    seeds += [bytes(32), b"\xff" * 32]
    for seed in seeds:
        assert public_key(seed) == public_key_for(seed), seed.hex()


def test_a_seed_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        public_key(bytes(31))
