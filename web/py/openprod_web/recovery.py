"""Recovery words for a workspace made in the browser: the same words and key as `openprod init`.

BIP-39's English list through the `mnemonic` package (the pinned wheel the CLI uses too, loaded
with the worker's lazy wheels). The secret lives only in this call and in the words handed to the
page once; the workspace holds the public half of the key (`recovery_key`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable

from openprod.recovery import SECRET_LEN, RecoveryWordsError, recovery_seed
from openprod.recovery import secret_from as read_words


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_LEN)


def words_for(secret: bytes) -> str:
    from mnemonic import Mnemonic

    return str(Mnemonic("english").to_mnemonic(secret))


async def public_key_for(workspace_id: bytes, secret: bytes,
                         public_of: Callable[[bytes], Awaitable[bytes]]) -> bytes:
    return await public_of(recovery_seed(workspace_id, secret))


def secret_from(words: str) -> bytes:
    """Typed words -> the secret, by the same rules as `openprod recover` (openprod.recovery)."""
    from mnemonic import Mnemonic

    return read_words(words, Mnemonic("english"))


async def recovery_request(identity_json: str, workspace_id: str, words: str, again_json: str = "") -> str:
    """Everything a recovery from this browser sends, as JSON: the signed `recover` request for the
    relay (`body`), the proof that goes into the workspace afterwards (`recovery_key`, `next_key`,
    `proof`, hex), and the new words (`words`), or `{"error": ...}` for words that are not recovery
    words. The proof is signed with the key the old words stand for (WebCrypto, from its seed); the
    next key is the public half of a new secret, whose words are shown once.

    `again_json`: an earlier answer of this function whose request got no answer from the relay. If
    these words are the same words (same key) and this is the same person, its next key, proof and new
    words are used again, so the relay recognises the same recovery (relay.py `recover`) and the words
    are not used up by a second attempt."""
    from openprod import Identity
    from openprod.ids import from_str
    from openprod.recovery import proof_message
    from openprod.signer_webcrypto import WebCryptoSigner, public_key_of

    from .session import webcrypto_env
    from .sync import signed_body

    try:
        old = secret_from(words)
    except RecoveryWordsError as exc:
        return json.dumps({"error": str(exc)})
    identity = Identity.from_json(identity_json)
    ws = from_str(workspace_id)
    seed = recovery_seed(ws, old)
    old_public = await public_key_of(seed)
    key = await WebCryptoSigner.create(Identity(old_public, seed, "Recovery key", ""))
    again = json.loads(again_json) if again_json else None
    if again and again.get("recovery_key") == old_public.hex() and again.get("actor") == identity.actor_id.hex():
        next_key, proof, new_words = bytes.fromhex(again["next_key"]), bytes.fromhex(again["proof"]), again["words"]
    else:
        secret = new_secret()
        next_key = await public_key_for(ws, secret, public_key_of)
        proof = await key.sign_async(proof_message(ws, identity.actor_id, next_key))
        new_words = words_for(secret)
    env = await webcrypto_env(identity)
    body = await signed_body(env.signer, "recover", ws, identity.actor_id, {"proof": proof, "next_key": next_key})
    return json.dumps({"body": body, "recovery_key": old_public.hex(), "next_key": next_key.hex(),
                       "proof": proof.hex(), "words": new_words, "actor": identity.actor_id.hex()})
