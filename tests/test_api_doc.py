"""docs/api.md stays true: its examples run, its list of public names is `openprod.__all__`, and
every id a public result hands out is a string (one convention for one idea)."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import openprod
from openprod import sync

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"

EXPORTS = {
    "Alternative", "Awareness", "Bundle", "BundleEvent", "BundleRejected", "CallingCue", "CallingPosition",
    "CallingSheet", "Change", "Competitor", "Conflict", "CueList",
    "DecodeError", "Drift", "Edge", "Env", "IdLike", "Identity", "IdentityError", "IngestResult", "LocalError",
    "ModuleDef", "NotFoundError", "OpenprodError", "OplogSize", "OverlayInfo", "ParkingLimits", "PersonChanges",
    "Prepared", "Proposal",
    "Quarantined", "QueryError", "Receipt", "Record", "RemoteError", "Resolution", "Rule", "RuleCycleError",
    "RuleError", "Schema", "SchemaError", "Signer", "SignerError", "StoredBundle", "Transaction", "UndoResult",
    "ValidationError", "Verifier", "ViewDef", "ViewError", "ViewResult",
    "Workspace", "WorkspaceMismatchError", "connect", "decode_bundle",
    "parse_manifest", "starter_manifests",
}

# Results whose fields name records, edges, conflicts, overlays, rules, bundles, ops or people.
RESULTS = [openprod.Record, openprod.Edge, openprod.Receipt, openprod.IngestResult, openprod.BundleEvent,
           openprod.StoredBundle, openprod.Quarantined, openprod.Conflict, openprod.Competitor, openprod.Resolution,
           openprod.Change, openprod.Alternative, openprod.PersonChanges, openprod.Awareness, openprod.OverlayInfo,
           openprod.Drift, openprod.UndoResult, openprod.Proposal, openprod.Rule, openprod.CallingCue,
           openprod.CallingSheet, openprod.CallingPosition, openprod.CueList, sync.BundleRefused,
           sync.PeerRefusedBundle]
ID_FIELDS = re.compile(r"^(id|.*_id|target|source|record|records|actor|other_actor|rule|created_by|chose|supersedes|"
                       r"applied|created)$")
WIRE_FIELDS = {"hlc", "wire", "writer"}  # bytes that travel or sort: the only bytes a result holds


def test_every_example_in_api_md_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", API_MD.read_text(), re.S)
    assert len(blocks) >= 10
    namespace: dict[str, object] = {}
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        for index, block in enumerate(blocks):
            exec(compile(block, f"docs/api.md, python block {index + 1}", "exec"), namespace)
    finally:
        os.chdir(old)


def test_the_public_names_are_exactly_the_documented_ones() -> None:
    assert set(openprod.__all__) == EXPORTS
    text = API_MD.read_text()
    assert [n for n in sorted(EXPORTS) if not re.search(rf"`{n}`", text)] == []
    for name in EXPORTS:
        assert getattr(openprod, name) is not None


def test_every_id_in_a_public_result_is_a_string() -> None:
    offenders = []
    for cls in RESULTS:
        for f in dataclasses.fields(cls):
            kind = str(f.type)
            named_id = ID_FIELDS.match(f.name) and not kind.startswith(("bool", "int"))
            if (named_id and "str" not in kind) or ("bytes" in kind and f.name not in WIRE_FIELDS):
                offenders.append(f"{cls.__name__}.{f.name}: {kind}")
    assert offenders == []
