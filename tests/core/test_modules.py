"""Module manifests: every mistake is a clear SchemaError; adoption is an operation."""

from __future__ import annotations

import pytest

from helpers import sync
from openprod import SchemaError, ValidationError, parse_manifest

GOOD = """
[module]
name = "props"
version = "1.0.0"

[table.Props]
display_name = "Props"

[table.Props.fields.item]
type = "string"
required = true

[table.Props.fields.notes]
type = "string"
crdt = "text"

[table.Props.fields.count]
type = "number"
default = 1
"""


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[table.X.fields.a]\ntype='string'", r"\[module\] section"),
        ('[module]\nname = "Bad Name"\nversion = "1.0.0"', "lowercase"),
        ('[module]\nname = "core"\nversion = "1.0.0"', "reserved"),
        ('[module]\nname = "m"\nversion = "one"', "semantic"),
        ('[module]\nname = "m"\nversion = "1.0.0"\n[table.T]\n', "at least one field"),
        ('[module]\nname = "m"\nversion = "1.0.0"\n[table.T.fields.a]\ntype = "color"', "type must be one of"),
        ('[module]\nname = "m"\nversion = "1.0.0"\n[table.T.fields.a]\ntype = "number"\ndefault = "x"',
         "default does not fit"),
        ('[module]\nname = "m"\nversion = "1.0.0"\n[table.T.fields.a]\ntype = "number"\ncrdt = "text"',
         "text CRDT field must have type 'string'"),
        ('[module]\nname = "m"\nversion = "1.0.0"\n[table.T.fields.a]\ntype = "string"\n'
         '[edge.e]\nsource_tables = ["contacts.Contacts"]', "only name this module's own tables"),
        ('[module]\nname = "m"\nversion = "1.0.0"\n[table.T.fields.a]\ntype = "string"\nwhat = 1', "unknown keys"),
    ],
)
def test_bad_manifests_are_refused_with_a_reason(manifest: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_manifest(manifest)


def test_adoption_is_an_operation_that_syncs(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    alice.ws.adopt_module(GOOD)
    rid = alice.ws.create_record("props.Props", {"item": "Dagger"})
    assert alice.ws.records.get(rid).get("count") == 1
    sync(alice, bob)
    assert "props.Props" in bob.ws.schema.tables
    assert bob.ws.records.get(rid).get("item") == "Dagger"


def test_set_field_on_a_crdt_field_is_refused(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    ws.adopt_module(GOOD)
    rid = ws.create_record("props.Props", {"item": "Dagger"})
    with pytest.raises(ValidationError, match="CRDT"):
        ws.set_field(rid, "props.Props.notes", "plain text")
    with pytest.raises(ValidationError, match="collaborative"):
        ws.create_record("props.Props", {"item": "Cup", "notes": "x"})


def test_readopting_may_add_but_not_retype(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    ws.adopt_module(GOOD)
    ws.adopt_module(GOOD.replace('version = "1.0.0"', 'version = "1.1.0"') +
                    '\n[table.Props.fields.owner]\ntype = "string"\n')
    assert "props.Props.owner" in ws.schema.fields
    with pytest.raises(SchemaError, match="changes the type"):
        ws.adopt_module(GOOD.replace('version = "1.0.0"', 'version = "2.0.0"').replace(
            '[table.Props.fields.count]\ntype = "number"\ndefault = 1', '[table.Props.fields.count]\ntype = "string"'))


def test_manifests_have_size_depth_and_item_limits() -> None:
    import pytest

    from openprod.errors import SchemaError
    from openprod.modules import MAX_MANIFEST_CHARS, MAX_MANIFEST_ITEMS, manifest_depth, parse_manifest

    head = '[module]\nname = "big"\nversion = "1.0.0"\n'
    with pytest.raises(SchemaError, match="over the limit"):
        parse_manifest(head + "# " + "x" * MAX_MANIFEST_CHARS)
    with pytest.raises(SchemaError, match="levels deep"):
        parse_manifest(head + "[table.T.fields.f]\ntype = \"string\"\nx = " + "[" * 40 + "]" * 40)
    fields = "".join(f'[table.T.fields.f{i}]\ntype = "string"\n' for i in range(MAX_MANIFEST_ITEMS + 1))
    with pytest.raises(SchemaError, match="at most"):
        parse_manifest(head + fields)
    # Brackets inside strings and comments are not nesting.
    assert manifest_depth('a = "[[[[[[" # [[[[[[\nb = \'\'\'{{{{\'\'\'\nc = [[1], [2]]\n') == 2
