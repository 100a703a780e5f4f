"""Token buckets for join attempts and publishing, per client address and per workspace.

Access keys are short on purpose, so guessing must be slow: each join attempt with a key costs
one token from the caller's bucket; an empty bucket means HTTP 429 with a Retry-After. Failed
attempts also drain the workspace's bucket: once it is empty the workspace is in lockdown, and
an address that already failed there waits, while an address with no failure (the newcomer who
was just told the code) is still heard, so guessers spread over many addresses cannot lock the
right key out. Buckets live in memory: a restart refills them, which costs a guesser nothing it
could not get by waiting.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """`burst` attempts at once, then one more every `every_ms`."""

    burst: int
    every_ms: int


class Buckets:
    def __init__(self, rate: Rate, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._state: dict[object, tuple[float, int]] = {}

    def _level(self, key: object, now_ms: int) -> float:
        tokens, at = self._state.get(key, (float(self.rate.burst), now_ms))
        return min(float(self.rate.burst), tokens + (now_ms - at) / self.rate.every_ms)

    def retry_after_ms(self, key: object, now_ms: int) -> int:
        """0 if an attempt is allowed now, else how long until one is."""
        level = self._level(key, now_ms)
        return 0 if level >= 1 else int((1 - level) * self.rate.every_ms) + 1

    def take(self, key: object, now_ms: int) -> None:
        if len(self._state) >= self.max_keys:
            self._state.clear()  # bounded memory under an address-spraying flood
        self._state[key] = (self._level(key, now_ms) - 1, now_ms)


class Recent:
    """Keys seen within the last `window_ms` (addresses that failed a join, per workspace)."""

    def __init__(self, window_ms: int, max_keys: int = 100_000) -> None:
        self.window_ms = window_ms
        self.max_keys = max_keys
        self._at: dict[object, int] = {}

    def add(self, key: object, now_ms: int) -> None:
        if len(self._at) >= self.max_keys:
            self._at = {k: at for k, at in self._at.items() if now_ms - at < self.window_ms}
            if len(self._at) >= self.max_keys:
                self._at.clear()
        self._at[key] = now_ms

    def seen(self, key: object, now_ms: int) -> bool:
        at = self._at.get(key)
        return at is not None and now_ms - at < self.window_ms
