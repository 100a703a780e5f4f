"""Recovery keys (spec/workspace.md, "Recovery Keys"): what binds a recovery secret to a workspace.

The secret itself never leaves the person who wrote it down: a workspace stores only the public
half of an Ed25519 key pair derived from it (the `recovery_key` setting, signed by the owner in the
founding bundle, so every replica and the relay can check it). Recovering is a signature by that
derived key over (workspace, new owner, next recovery key): it names who becomes owner, so a copy
seen in transit cannot be replayed for someone else, and it names the next key, so the old secret
is dead once it is used. Pure functions here (no I/O, no signing): the caller signs with whatever
signer its runtime has. Words are read here, once for the CLI and the browser, by the word list
the caller hands in (BIP-39's English list, the `mnemonic` package, in both shells).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from .errors import ValidationError

RECOVERY_CONTEXT = b"openprod/recovery/v1\x00"
SECRET_LEN = 16  # 128 bits: twelve words
WORD_COUNT = 12


class WordList(Protocol):
    """What `mnemonic.Mnemonic("english")` offers and the words need."""

    @property
    def wordlist(self) -> Sequence[str]: ...

    def check(self, mnemonic: str) -> bool: ...

    def to_entropy(self, words: str) -> bytes | bytearray: ...


class RecoveryWordsError(ValidationError):
    """Words that are not a recovery secret; the message says what is wrong, in plain words."""


def secret_from(words: str, wordlist: WordList) -> bytes:
    """Typed words -> the secret. Case, extra spaces, commas and numbering ("1. paper") are
    forgiven, as people copy words from paper; anything else is refused with what to check."""
    cleaned = [w for w in (part.strip(".,;:").lower() for part in words.replace(",", " ").split())
               if w and not w.isdigit()]
    if len(cleaned) != WORD_COUNT:
        raise RecoveryWordsError(f"Recovery words are {WORD_COUNT} words; you typed {len(cleaned)}.")
    known = set(wordlist.wordlist)
    unknown = [w for w in cleaned if w not in known]
    if unknown:
        raise RecoveryWordsError(f"{', '.join(repr(w) for w in unknown)} is not one of the recovery words: "
                                 "check the spelling.")
    phrase = " ".join(cleaned)
    if not wordlist.check(phrase):
        raise RecoveryWordsError("These words do not fit together: one is mistyped, or two are swapped.")
    return bytes(wordlist.to_entropy(phrase))


def recovery_seed(workspace_id: bytes, secret: bytes) -> bytes:
    """The 32-byte Ed25519 private key a secret stands for, in this workspace only."""
    if len(secret) != SECRET_LEN:
        raise ValidationError(f"a recovery secret is {SECRET_LEN} bytes, got {len(secret)}")
    return hashlib.sha256(RECOVERY_CONTEXT + b"seed\x00" + workspace_id + secret).digest()


def proof_message(workspace_id: bytes, new_owner: bytes, next_key: bytes) -> bytes:
    """What the recovery key signs to make `new_owner` the owner and `next_key` the next recovery key."""
    if len(new_owner) != 32 or len(next_key) != 32:
        raise ValidationError("a recovery names a 32-byte actor id and a 32-byte next key")
    return RECOVERY_CONTEXT + b"recover\x00" + workspace_id + new_owner + next_key
