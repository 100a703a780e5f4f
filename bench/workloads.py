"""The data of the three peer workloads (shared/bench/peer-workloads.md), generated bit for bit.

Why: a comparison with Yjs and Automerge only means something if our engine does the identical
work. The reference generator published SHA-256 digests of its data; `verify_digests` recomputes
them from our generator and stops the bench if any differs, before a single workload runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

MASK32 = 0xFFFF_FFFF
LETTERS = "abcdefghijklmnopqrstuvwxyz"
TRACE_ALPHABET = LETTERS + "     ,.\n"  # a-z, five spaces, comma, full stop, newline: 34

RECORD_SEED = 1
TRACE_SEED = 3
RECORD_COUNT = 10_000
W2_RECORD_COUNT = 1_000
TRACE_STEPS = 100_000

# Each record's fields in draw order, with the kind of random value drawn for each.
FIELD_KINDS: tuple[tuple[str, str], ...] = (
    ("f0", "str"), ("f1", "int"), ("f2", "bool"), ("f3", "str"), ("f4", "float"),
    ("f5", "bool"), ("f6", "str"), ("f7", "int"), ("f8", "bool"), ("f9", "str"),
)

EXPECTED_DIGESTS: dict[str, str] = {
    "w1_records": "54b289948a19998eff344f115532e9e12f56bffb446283d2988d8ad9abdc87e7",
    "w2_base": "526d8a0e2fb6653472bc8ca49d3afc10b4422199f397e11fa7a5399bf1f457e1",
    "w2_edits": "795711ac0fd583cab448a4221ae4f372d3c40f1793e990efddc225602cfa7155",
    "w3_trace": "4983fb3a55a9e9dcc71c27b40860c56497e8d99677782729244e7b44122507ec",
    "w3_final_text": "7cd5b3cb02cc1e2faf80cd69ff03d4021401594fae67f865f9e04818a5a62efb",
}
# Stated in the workload definition; checked as well, so a near-miss is easier to diagnose.
EXPECTED_TRACE_COUNTS = {"inserts": 79_972, "deletes": 20_028, "final_length": 59_944}

Value = str | int | float | bool
RecordData = tuple[str, dict[str, Value]]  # ("r00042", {"f0": ..., ..., "f9": ...})
FieldEdit = tuple[str, Value]  # ("f0", "A:7")
RecordEdits = tuple[str, tuple[FieldEdit, ...]]  # (record id, field edits in order)
TraceEdit = tuple[int, int, str] | tuple[int, int]  # (pos, 0, char) insert, or (pos, 1) delete one


class Mulberry32:
    """The 32-bit generator the reference used; every step is arithmetic mod 2**32."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & MASK32

    def next_u32(self) -> int:
        self._state = a = (self._state + 0x6D2B79F5) & MASK32
        t = ((a ^ (a >> 15)) * (1 | a)) & MASK32
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & MASK32)) & MASK32) ^ t
        return (t ^ (t >> 14)) & MASK32

    def random(self) -> float:
        return self.next_u32() / 4294967296

    def rand_int(self, n: int) -> int:
        return int(self.random() * n)


def _draw(rng: Mulberry32, kind: str) -> Value:
    if kind == "str":
        length = 3 + rng.rand_int(8)
        return "".join(LETTERS[rng.rand_int(26)] for _ in range(length))
    if kind == "int":
        return rng.rand_int(100_000)
    if kind == "float":
        return rng.rand_int(10_000) + 0.5
    if kind == "bool":
        return rng.random() < 0.5
    raise ValueError(f"unknown field kind {kind!r}")


def generate_records(count: int = RECORD_COUNT) -> list[RecordData]:
    """Records r00000.. from one seed-1 stream, fields drawn in f0..f9 order."""
    rng = Mulberry32(RECORD_SEED)
    return [(f"r{i:05d}", {name: _draw(rng, kind) for name, kind in FIELD_KINDS}) for i in range(count)]


@dataclass(frozen=True)
class W2Edits:
    """The concurrent edits of W2: one bundle per record on each side."""

    a: list[RecordEdits]
    b: list[RecordEdits]


def generate_w2_edits(base: list[RecordData]) -> W2Edits:
    a: list[RecordEdits] = [(rid, (("f0", f"A:{i}"), ("f1", 1_000_000 + i))) for i, (rid, _) in enumerate(base)]
    b: list[RecordEdits] = [(rid, (("f0", f"B:{i}"), ("f7", 2_000_000 + i))) for i, (rid, _) in enumerate(base)]
    return W2Edits(a, b)


def generate_trace(steps: int = TRACE_STEPS) -> list[TraceEdit]:
    """The seed-3 typing trace: cursor movement, then an insert or a backspace, per step."""
    rng = Mulberry32(TRACE_SEED)
    length = cursor = 0
    trace: list[TraceEdit] = []
    for _ in range(steps):
        u_op, u_move, u_amt, u_chr = rng.random(), rng.random(), rng.random(), rng.random()
        if u_move < 0.90:
            pass
        elif u_move < 0.98:
            cursor = min(max(cursor + int(u_amt * 21) - 10, 0), length)
        else:
            cursor = int(u_amt * (length + 1))
        if u_op < 0.8 or length == 0:
            trace.append((cursor, 0, TRACE_ALPHABET[int(u_chr * 34)]))
            cursor += 1
            length += 1
        else:
            position = cursor - 1 if cursor > 0 else 0
            trace.append((position, 1))
            cursor = position
            length -= 1
    return trace


def apply_trace(trace: list[TraceEdit]) -> str:
    """The text after replaying `trace` on an empty string (a plain Python list of characters)."""
    chars: list[str] = []
    for edit in trace:
        if len(edit) == 3:
            chars.insert(edit[0], edit[2])
        else:
            del chars[edit[0]]
    return "".join(chars)


def canonical_json(value: Any) -> bytes:
    """The serialisation behind the published digests (generator-notes.md): JSON.stringify's bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Workloads:
    records: list[RecordData]
    w2_base: list[RecordData]
    w2_edits: W2Edits
    trace: list[TraceEdit]
    final_text: str

    def trace_counts(self) -> dict[str, int]:
        inserts = sum(1 for edit in self.trace if len(edit) == 3)
        return {"inserts": inserts, "deletes": len(self.trace) - inserts, "final_length": len(self.final_text)}


def build_workloads() -> Workloads:
    """All data at full size; quick runs use prefixes of it, so the digests always cover it all."""
    records = generate_records(RECORD_COUNT)
    base = records[:W2_RECORD_COUNT]
    trace = generate_trace(TRACE_STEPS)
    return Workloads(records, base, generate_w2_edits(base), trace, apply_trace(trace))


def compute_digests(work: Workloads) -> dict[str, str]:
    def edits_json(edits: list[RecordEdits]) -> list[Any]:
        return [[rid, [list(pair) for pair in pairs]] for rid, pairs in edits]

    return {
        "w1_records": sha256_hex(canonical_json([list(r) for r in work.records])),
        "w2_base": sha256_hex(canonical_json([list(r) for r in work.w2_base])),
        "w2_edits": sha256_hex(canonical_json({"a": edits_json(work.w2_edits.a), "b": edits_json(work.w2_edits.b)})),
        "w3_trace": sha256_hex(canonical_json([list(edit) for edit in work.trace])),
        "w3_final_text": sha256_hex(work.final_text.encode("utf-8")),
    }


class DigestMismatch(Exception):
    """Our generated data is not the reference workload: every comparison would be meaningless."""


def verify_digests(work: Workloads) -> dict[str, str]:
    """Check all five digests (and the stated trace counts); raise DigestMismatch naming each miss."""
    got = compute_digests(work)
    problems = [f"{name}: expected {want}, generated {got[name]}"
                for name, want in EXPECTED_DIGESTS.items() if got[name] != want]
    counts = work.trace_counts()
    problems += [f"w3 {name}: expected {want}, generated {counts[name]}"
                 for name, want in EXPECTED_TRACE_COUNTS.items() if counts[name] != want]
    if problems:
        raise DigestMismatch("generated workload data differs from the reference:\n  " + "\n  ".join(problems))
    return got
