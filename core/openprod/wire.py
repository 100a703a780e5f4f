"""Reading untrusted wire maps: one idiom for every format that crosses a trust boundary.

Every wire format (bundle headers, sync messages, relay requests, backups) is written the same
way, `to_wire()` -> plain data -> `encoding.encode`, and read the same way: `encoding.decode`,
then `WireMap`, which checks each field's type and size and raises the format's own error
(always a `RemoteError` with reason `malformed`) naming the format and the field. One reader
means one set of checks to get right (bools are not integers, sizes are exact, maps are bounded)
and the same sentence for the same mistake wherever it is made. Operations are the one
exception by design: their fields are declared per type in `operations.SPEC` and checked by
the table there, which is the same idea written as data.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NoReturn

from .encoding import check_plain

ErrorFactory = Callable[[str], Exception]


class WireMap:
    """A decoded map from a peer, read field by field; every wrong shape raises `error(detail)`."""

    __slots__ = ("_error", "_wire", "what")

    def __init__(self, wire: Any, what: str, error: ErrorFactory, *, fields: Collection[str] | None = None,
                 optional: Collection[str] = ()) -> None:
        self.what = what
        self._error = error
        if not isinstance(wire, dict):
            self.fail("must be a map")
        self._wire: dict[Any, Any] = wire
        if fields is not None:
            present = set(wire)
            required = set(fields)
            if not required <= present or not present <= required | set(optional):
                names = sorted(required) + [f"{name}?" for name in sorted(optional)]
                self.fail(f"fields must be {', '.join(names)}")

    def fail(self, detail: str) -> NoReturn:
        raise self._error(f"{self.what}: {detail}")

    def has(self, key: str) -> bool:
        return key in self._wire

    def raw(self, key: str) -> Any:
        """A field checked by the caller (a version read loosely, a value with several shapes)."""
        return self._wire.get(key)

    def need(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self._wire.get(key)
        if isinstance(value, bool) and kind is not bool:
            self.fail(f"field {key!r} is missing or of the wrong type")
        if not isinstance(value, kind):
            self.fail(f"field {key!r} is missing or of the wrong type")
        return value

    def byte_string(self, key: str, size: int | None = None) -> bytes:
        value: bytes = self.need(key, bytes)
        if size is not None and len(value) != size:
            self.fail(f"field {key!r} must be {size} bytes, got {len(value)}")
        return value

    def optional_bytes(self, key: str, size: int) -> bytes | None:
        return None if self._wire.get(key) is None else self.byte_string(key, size)

    def count(self, key: str) -> int:
        """A non-negative integer below 2**63 (sequence numbers, sizes, milliseconds)."""
        value: int = self.need(key, int)
        if not 0 <= value < 1 << 63:
            self.fail(f"field {key!r} must be a non-negative integer")
        return value

    def text(self, key: str, choices: Collection[str] | None = None) -> str:
        value: str = self.need(key, str)
        if choices is not None and value not in choices:
            self.fail(f"field {key!r} has an unknown value {value[:40]!r}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._wire.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"field {key!r} must be a boolean")
        return value

    def byte_list(self, key: str, *, size: int | None = None, min_len: int = 0,
                  max_len: int | None = None) -> list[bytes]:
        """A list of byte strings, each `size` bytes (or non-empty when no size is given)."""
        items: list[Any] = self.need(key, list)
        if len(items) < min_len or (max_len is not None and len(items) > max_len):
            bound = f"{min_len}..{max_len}" if max_len is not None else f"at least {min_len}"
            self.fail(f"field {key!r} must list {bound} items")
        for item in items:
            if not isinstance(item, bytes) or (len(item) != size if size is not None else not item):
                shape = f"{size}-byte strings" if size is not None else "non-empty byte strings"
                self.fail(f"field {key!r} must list {shape}")
        return items

    def byte_map(self, key: str, *, key_len: int, value_len: int, max_entries: int,
                 describe: str) -> dict[bytes, bytes]:
        """A bounded map of fixed-size byte keys to fixed-size byte values (vector clocks, digests)."""
        value: dict[Any, Any] = self.need(key, dict)
        if len(value) > max_entries:
            self.fail(f"{describe} has more than {max_entries} entries")
        for k, v in value.items():
            if not (isinstance(k, bytes) and len(k) == key_len and isinstance(v, bytes) and len(v) == value_len):
                self.fail(f"{describe} must map {key_len}-byte keys to {value_len}-byte values")
        return dict(value)

    def text_map(self, key: str) -> dict[str, Any]:
        """A map with text keys and plain-data values (metadata, arguments)."""
        value: dict[Any, Any] = self.need(key, dict)
        if not all(isinstance(k, str) for k in value):
            self.fail(f"field {key!r} must be a map with text keys")
        try:
            check_plain(value)
        except (TypeError, ValueError) as exc:
            self.fail(f"field {key!r}: {exc}")
        return value
