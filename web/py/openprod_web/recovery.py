"""Recovery words for a workspace made in the browser: the same words and key as `openprod init`.

BIP-39's English list through the `mnemonic` package (the pinned wheel the CLI uses too, loaded
with the worker's lazy wheels). The secret lives only in this call and in the words handed to the
page once; the workspace holds the public half of the key (`recovery_key`).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from openprod.recovery import SECRET_LEN, recovery_seed


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_LEN)


def words_for(secret: bytes) -> str:
    from mnemonic import Mnemonic

    return str(Mnemonic("english").to_mnemonic(secret))


async def public_key_for(workspace_id: bytes, secret: bytes,
                         public_of: Callable[[bytes], Awaitable[bytes]]) -> bytes:
    return await public_of(recovery_seed(workspace_id, secret))
