"""Cue numbers: kept as typed, sorted as theatres read them, refused only when clearly not one;
number fields migrate to cue numbers by adopting a newer module version, on every peer alike."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import make_peer, sync
from openprod import SchemaError, ValidationError
from openprod.cues import check_cue, cue_key, cue_sort_key, normalize_cue
from openprod.modules import parse_manifest, union
from openprod.query import run_query
from openprod.starter import starter_manifests

CUE = "lighting.LightingCues"
NUMBER = f"{CUE}.cue_number"

THEATRE_ORDER = ["0.5", "1", "1.5", "2", "10", "10.1", "10.10", "10.25", "10.5", "17", "17A", "17a", "17B",
                 "17Z", "17AA", "17.5", "18", "105", "A", "B", "AA", "LX 1", "LX2", "Q1", "Q1A", "Q17"]


def test_theatre_order() -> None:
    shuffled = THEATRE_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=cue_sort_key) == THEATRE_ORDER
    # numerically equal cues compare equal in queries, and sort shortest first
    assert cue_key("10.1") == cue_key("10.10") == cue_key(10.1)
    assert cue_sort_key("10.1") < cue_sort_key("10.10")
    assert cue_key("17a") == cue_key("17A") and cue_sort_key("17A") < cue_sort_key("17a")


@pytest.mark.parametrize("typed", ["17A", "10.10", "0.5", "17", "17 A", "LX 5", "Q17", "A", "AA", "0.05",
                                   "123456789.123456"])
def test_kept_exactly_as_typed(typed: str) -> None:
    assert normalize_cue(typed, "Cue #") == typed
    assert normalize_cue(f"  {typed} ", "Cue #") == typed  # only surrounding spaces go


@pytest.mark.parametrize(("typed", "reason"), [
    ("Jane Doe", "not a cue number"),
    ("17-18", "digits, one point and letters"),
    ("1.2.3", "more than one point"),
    ("10,5", "use a point, not a comma (10.5)"),
    ("ABCD", "not a cue number"),
    ("17ABCD", "not a cue number"),
    ("", "cannot be empty"),
    ("1" * 21, "too long"),
])
def test_refused_with_the_reason(typed: str, reason: str) -> None:
    assert reason in (check_cue(typed) or "")
    with pytest.raises(ValidationError, match="Cue #"):
        normalize_cue(typed, "Cue #")
    assert cue_key(typed) is None


def test_numbers_given_by_programs_become_their_text() -> None:
    assert normalize_cue(17, "c") == "17" and normalize_cue(10.1, "c") == "10.1" and normalize_cue(11.0, "c") == "11"
    with pytest.raises(ValidationError):
        normalize_cue(True, "c")
    with pytest.raises(ValidationError):
        normalize_cue(-1, "c")


CUES = st.builds(lambda p, n, f, s: f"{p}{n}{f}{s}", st.sampled_from(["", "Q", "LX ", "A"]),
                 st.integers(0, 9999).map(str), st.sampled_from(["", ".0", ".5", ".05", ".10", ".25"]),
                 st.sampled_from(["", "A", "a", "B", "AA", "z"]))


@given(st.lists(CUES, max_size=30))
def test_order_is_total_and_consistent_with_keys(cues: list[str]) -> None:
    ordered = sorted(cues, key=cue_sort_key)
    for a, b in itertools.pairwise(ordered):
        assert cue_key(a) is not None and cue_key(a) <= cue_key(b)  # type: ignore[operator]
        assert cue_sort_key(a) <= cue_sort_key(b)


def test_kept_through_the_workspace_and_sorted_by_a_query(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with ws.transaction() as tx:
        for number in ["17A", "10.10", "10.1", "17", "0.5", "2", "18"]:
            tx.create_record(CUE, {"cue_number": number})
    values = [r.get("cue_number") for r in ws.records.all(CUE)]
    assert sorted(values, key=cue_sort_key) == ["0.5", "2", "10.1", "10.10", "17", "17A", "18"]
    names = lambda q: sorted((ws.records.get(r).get("cue_number") for r in run_query(ws, q)), key=cue_sort_key)  # noqa: E731
    assert names("cue_number > 10 AND cue_number < 18") == ["10.1", "10.10", "17", "17A"]
    assert names('cue_number >= "17A"') == ["17A", "18"]
    assert names("cue_number == 10.1") == ["10.1", "10.10"]
    rid = ws.records.all(CUE)[0].id
    with pytest.raises(ValidationError, match="not a cue number"):
        ws.set_field(rid, NUMBER, "Jane Doe")


def legacy(name: str) -> str:
    """The manifest as it was before cue numbers (cue_number a number, the previous version)."""
    text = starter_manifests()[name]
    old = {"lighting": "1.1.0", "sm": "1.0.0", "sound": "1.0.0"}[name]
    return text.replace('type = "cue"', 'type = "number"').replace(
        f'version = "{parse_manifest(text).version}"', f'version = "{old}"')


def test_widening_is_the_same_in_either_order() -> None:
    old, new = parse_manifest(legacy("lighting")), parse_manifest(starter_manifests()["lighting"])
    a, b = union(old, new), union(new, old)
    assert a.tables[CUE].fields["cue_number"] == b.tables[CUE].fields["cue_number"]
    assert a.tables[CUE].fields["cue_number"].type == "cue"
    assert union(old, old).tables[CUE].fields["cue_number"].type == "number"  # nothing else changes


def test_number_cue_fields_migrate_by_adopting_the_new_version(tmp_path, clock) -> None:
    lx = make_peer("Lighting", str(tmp_path / "lx.db"), clock, seed=1, modules=())
    with lx.ws.transaction(kind="module") as tx:
        tx.adopt_module(legacy("lighting"))
    assert lx.ws.schema.field(NUMBER).type == "number"
    with lx.ws.transaction() as tx:
        q10 = tx.create_record(CUE, {"cue_number": 10.1, "label": "Dawn"})
        q17 = tx.create_record(CUE, {"cue_number": 17, "label": "Noon"})
    with pytest.raises(ValidationError, match="expected a number"):
        lx.ws.set_field(q17, NUMBER, "17A")  # the reason for the migration
    sm = make_peer("Stage Manager", str(tmp_path / "sm.db"), clock, seed=2, workspace_from=lx)
    sync(lx, sm)
    # Concurrently: the stage manager upgrades the module; lighting, not yet upgraded, renumbers a cue.
    with sm.ws.transaction(kind="module") as tx:
        tx.adopt_module(starter_manifests()["lighting"])
    lx.ws.set_field(q10, NUMBER, 11)
    assert sm.ws.schema.field(NUMBER).type == "cue" and lx.ws.schema.field(NUMBER).type == "number"
    sync(lx, sm)
    for peer in (lx, sm):
        assert peer.ws.schema.field(NUMBER).type == "cue"
        # every value kept: written as numbers, read as their cue numbers
        assert peer.ws.records.get(q10).get("cue_number") == 11 and peer.ws.records.get(q17).get("cue_number") == 17
        assert sorted(run_query(peer.ws, "cue_number >= 11")) == sorted([q10, q17])
    assert lx.ws.state_hash() == sm.ws.state_hash()
    lx.ws.set_field(q17, NUMBER, "17A")  # now it keeps what was typed
    sm.ws.set_field(q10, NUMBER, "10.10")
    sync(lx, sm)
    for peer in (lx, sm):
        assert [peer.ws.records.get(q).get("cue_number") for q in (q10, q17)] == ["10.10", "17A"]
        before = peer.ws.state_hash()
        peer.ws.rebuild()
        assert peer.ws.state_hash() == before
    assert lx.ws.state_hash() == sm.ws.state_hash()
    # a third peer receiving everything in one go derives the same
    late = make_peer("Sound", str(tmp_path / "late.db"), clock, seed=3, workspace_from=lx)
    sync(sm, late)
    assert late.ws.state_hash() == lx.ws.state_hash() and late.ws.schema.field(NUMBER).type == "cue"


def test_narrowing_back_to_a_number_is_refused(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with pytest.raises(SchemaError, match="changes the type"), ws.transaction(kind="module") as tx:
        tx.adopt_module(legacy("lighting").replace('version = "1.1.0"', 'version = "1.3.0"'))
