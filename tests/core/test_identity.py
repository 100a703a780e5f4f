"""Identity export/import: the format and its errors."""

from __future__ import annotations

import json

import pytest

from helpers import seeded_identity
from openprod import Identity, IdentityError


def test_round_trip() -> None:
    ident = seeded_identity("Jane Doe", 1)
    again = Identity.from_json(ident.to_json())
    assert again == ident
    assert json.loads(ident.to_json())["actor_id"] == ident.actor_id.hex()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"actor_id": "zz", "private_key": "00"}', "64 lowercase hex"),
        (json.dumps({"actor_id": "0" * 64, "private_key": "0" * 64, "display_name": ""}), "empty"),
        (json.dumps({"format": "other/9", "actor_id": "0" * 64, "private_key": "0" * 64}), "unsupported"),
    ],
)
def test_bad_identity_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        Identity.from_json(text)


def test_display_names_are_cleaned() -> None:
    assert seeded_identity("x", 1).renamed("  Jane   Doe ").display_name == "Jane Doe"
    with pytest.raises(IdentityError):
        seeded_identity("x", 1).renamed("a" * 81)
