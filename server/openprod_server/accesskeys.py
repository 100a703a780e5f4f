"""Access-key codes: short, speakable, case-insensitive (spec/workspace.md, "Join with code K7X9").

The alphabet leaves out characters people confuse when a code is read aloud or copied from a
whiteboard (0/O, 1/I/L), so 31 symbols remain; six of them give about 887 million codes, and
the relay's rate limits make guessing one hopeless within a key's lifetime. Strength grows with
lifetime: a key valid for more than a day needs eight characters (852 billion codes), because a
guesser has thirty times longer to try.
"""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MIN_LENGTH = 6
MAX_LENGTH = 8
DEFAULT_LENGTH = 6
LONG_LIVED_MS = 86_400_000
LONG_LIVED_LENGTH = 8


def required_length(lifetime_ms: int) -> int:
    """The fewest characters a key living this long may have."""
    return LONG_LIVED_LENGTH if lifetime_ms > LONG_LIVED_MS else MIN_LENGTH


def new_code(length: int = DEFAULT_LENGTH) -> str:
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"an access key is {MIN_LENGTH} to {MAX_LENGTH} characters")
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalize(text: str) -> str:
    """What a person typed -> the stored form: upper case, no spaces or dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


def looks_valid(code: str) -> bool:
    # Shorter codes made before the minimum rose still work until they expire.
    return 4 <= len(code) <= MAX_LENGTH and all(ch in ALPHABET for ch in code)


def parse_duration(text: str) -> int:
    """'90s', '30m', '2h', '7d' -> milliseconds (for the CLI)."""
    units = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"expected a duration like 30m, 2h or 7d, got {text!r}")
    return int(text[:-1]) * units[text[-1]]
