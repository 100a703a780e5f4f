"""The bench module: one table whose fields f0..f9 carry the workload records, one text field for W3.

Why a module of its own: the workloads define their own ten typed fields, and the bench must
not depend on the starter modules changing shape. The manifest is generated from the workload's
field kinds so the two can never disagree.
"""

from __future__ import annotations

from .workloads import FIELD_KINDS, Value

MODULE = "bench"
TABLE = "bench.Record"
DOC_TABLE = "bench.Doc"
TEXT_FIELD = "bench.Doc.text"  # a collaborative text (CRDT) field, for W3

# Workload value kind -> Openprod field type.
FIELD_TYPES = {"str": "string", "int": "number", "bool": "boolean", "float": "number"}


def field_id(name: str) -> str:
    """'f3' -> 'bench.Record.f3'."""
    return f"{TABLE}.{name}"


FIELD_IDS: dict[str, str] = {name: field_id(name) for name, _ in FIELD_KINDS}


def bench_manifest() -> str:
    """TOML manifest text of the bench module."""
    lines = [
        "[module]",
        f'name = "{MODULE}"',
        'version = "1.0.0"',
        'display_name = "Benchmarks"',
        'description = "Tables used by bench/ only"',
        "",
        f"[table.{TABLE.split('.')[1]}]",
        'display_name = "Workload record"',
    ]
    for name, kind in FIELD_KINDS:
        lines += ["", f"[table.{TABLE.split('.')[1]}.fields.{name}]", f'type = "{FIELD_TYPES[kind]}"']
    doc = DOC_TABLE.split(".")[1]
    lines += ["", f"[table.{doc}]", 'display_name = "Typed document"', "",
              f"[table.{doc}.fields.{TEXT_FIELD.split('.')[2]}]", 'type = "string"', 'crdt = "text"', ""]
    return "\n".join(lines)


def field_values(values: dict[str, Value]) -> dict[str, Value]:
    """Workload field names -> bench field ids."""
    return {FIELD_IDS[name]: value for name, value in values.items()}
