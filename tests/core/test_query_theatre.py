"""The query corpus: 100+ hand-written query -> expected-records cases over a theatre workspace.

The fixture is a small production built with the starter modules (contacts, schedule, scenes,
lighting with ordered cue lists, SM cues, sound) plus a props module with CRDT text and list
fields. Every expected result below was worked out by hand from the data in `build_theatre`,
never by running the implementation; each case is checked on the SQL path and on the pure
Python path.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from helpers import START_MS, ManualClock, make_peer
from openprod import Workspace
from openprod.query import compile_query, run_query, run_query_python

PROPS = """
[module]
name = "props"
version = "1.0.0"
display_name = "Props"

[table.Props]
display_name = "Props"

[table.Props.fields.item]
type = "string"
required = true

[table.Props.fields.owner]
type = "string"

[table.Props.fields.notes]
type = "string"
crdt = "text"

[table.Props.fields.tags]
type = "list"
crdt = "list"
item_type = "string"
"""

NOW_MS = START_MS  # 2026-09-21T14:13:20Z: between the tech rehearsal and the fitting


@dataclass
class Theatre:
    ws: Workspace
    ids: dict[str, str] = field(default_factory=dict)  # label -> record id
    edges: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        return {v: k for k, v in self.ids.items()}

    def names(self, ids: list[str]) -> list[str]:
        labels = self.labels
        return [labels[i] for i in ids]


def build_theatre(seed: int = 7) -> Theatre:
    """A fresh workspace holding the fixture production (in memory)."""
    peer = make_peer("Stage Manager", ":memory:", ManualClock(), seed=seed, rng=random.Random(seed))
    ws = peer.ws
    ws.adopt_module(PROPS)
    th = Theatre(ws)
    ids = th.ids
    with ws.transaction(kind="module") as tx:
        tx.link_tables("contacts.Contacts", "schedule.Attendees")
        tx.confirm_field_mapping("contacts.Contacts.name", "schedule.Attendees.name")
        tx.confirm_field_mapping("contacts.Contacts.email", "schedule.Attendees.email")
        tx.link_tables("lighting.LightingCues", "sm.SMCues")
        tx.confirm_field_mapping("lighting.LightingCues.cue_number", "sm.SMCues.cue_number")
        tx.confirm_field_mapping("lighting.LightingCues.label", "sm.SMCues.label")

    C = "contacts.Contacts"
    with ws.transaction() as tx:
        ids["Jane"] = tx.create_record(C, {"name": "Jane Doe", "role": "Stage Manager",
                                           "department": "stage management", "email": "jane@example.org",
                                           "phone": "555-0101", "pronouns": "she/her", "status": "active"})
        ids["John"] = tx.create_record(C, {"name": "John Smith", "role": "Actor", "department": "cast",
                                           "email": "john@example.org", "status": "active"})
        ids["Ana"] = tx.create_record(C, {"name": "Ana García", "role": "Actor", "department": "cast",
                                          "email": "ana@example.com", "phone": "+1-555-0199", "status": "pending"})
        ids["Bob"] = tx.create_record(C, {"name": "Bob Lee", "role": "Lighting Designer", "department": "lighting",
                                          "email": "bob@lights.net", "status": "archived"})
        ids["Chris"] = tx.create_record(C, {"name": "Chris O'Neil", "role": "Sound Engineer",
                                            "department": "sound", "phone": "555-0142", "status": "active"})
        ids["Dana"] = tx.create_record(C, {"name": "Dana Wu", "role": "Actor", "department": "cast",
                                           "email": "dana@example.org", "status": "active"})
        ids["Ghost"] = tx.create_record(C, {"name": "Ghost Person", "department": "cast", "status": "active"})
    ws.delete_record(ids["Ghost"])  # deleted: never appears in any result

    E = "schedule.Events"
    with ws.transaction() as tx:
        ids["Tech"] = tx.create_record(E, {"title": "Tech Rehearsal", "starts_at": "2026-09-20T18:00:00Z",
                                           "ends_at": "2026-09-20T23:00:00Z", "room": "Main Stage",
                                           "kind": "tech"})
        ids["Fitting"] = tx.create_record(E, {"title": "Fitting", "starts_at": "2026-09-22T10:00:00Z",
                                              "room": "Wardrobe", "kind": "fitting"})
        ids["Opening"] = tx.create_record(E, {"title": "Opening Night", "starts_at": "2026-10-01T21:30:00+02:00",
                                              "room": "Main Stage", "kind": "performance"})
        ids["Read"] = tx.create_record(E, {"title": "Read-through", "starts_at": "2026-09-01T10:00:00.500Z",
                                           "room": "Studio B"})
        tx.add_to_table(ids["Dana"], "schedule.Attendees", {"call_time": "2026-09-22T09:30:00Z"})
        ids["Eve"] = tx.create_record("schedule.Attendees", {"name": "Eve Extra", "email": "eve@example.org",
                                                             "call_time": "2026-10-01T18:00:00Z"})
        th.edges["Dana->Fitting"] = tx.create_edge("schedule.called_to", ids["Dana"], ids["Fitting"],
                                                   {"note": "bring shoes", "call_time": "2026-09-22T09:45:00Z"})
        th.edges["Eve->Opening"] = tx.create_edge("schedule.called_to", ids["Eve"], ids["Opening"],
                                                  {"note": "crowd scene"})

    S = "scenes.Scenes"
    with ws.transaction() as tx:
        ids["Prologue"] = tx.create_record(S, {"title": "Prologue", "act": 1, "number": 1,
                                               "location": "Verona street", "duration_min": 5})
        ids["Balcony"] = tx.create_record(S, {"title": "Balcony", "act": 2, "number": 2,
                                              "location": "Capulet garden", "duration_min": 12})
        ids["Tomb"] = tx.create_record(S, {"title": "Tomb", "act": 5, "number": 3, "location": "Capulet tomb",
                                           "duration_min": 8.5})
        tx.create_edge("scenes.appears_in", ids["John"], ids["Balcony"],
                       {"character": "Romeo", "entrance": "SL", "has_quick_change": False})
        tx.create_edge("scenes.appears_in", ids["Ana"], ids["Balcony"], {"character": "Juliet", "entrance": "balcony"})
        tx.create_edge("scenes.appears_in", ids["John"], ids["Tomb"], {"character": "Romeo", "has_quick_change": True})
        tx.create_edge("scenes.appears_in", ids["Ana"], ids["Tomb"], {"character": "Juliet"})
        tx.create_edge("scenes.appears_in", ids["Dana"], ids["Prologue"], {"character": "Chorus"})

    L = "lighting.LightingCues"
    with ws.transaction() as tx:
        ids["Act 1"] = tx.create_record("lighting.CueLists", {"name": "Act 1"})
        ids["Act 2"] = tx.create_record("lighting.CueLists", {"name": "Act 2"})
        ids["LX1"] = tx.create_record(L, {"cue_number": 1, "label": "House to half", "intensity": 50,
                                          "fade_time": 3, "page": 1})
        ids["LX2"] = tx.create_record(L, {"cue_number": 2, "label": "Preset", "intensity": 0, "fade_time": 0,
                                          "page": 1})
        ids["LX11"] = tx.create_record(L, {"cue_number": 11, "label": "Sunrise", "intensity": 80,
                                           "fade_time": 2.5, "page": 12})
        ids["LX11.1"] = tx.create_record(L, {"cue_number": 11.1, "label": "Sunrise follow", "intensity": 85,
                                             "fade_time": 1, "page": 12, "is_called": False})
        ids["LX20"] = tx.create_record(L, {"cue_number": 20, "label": "Blackout", "intensity": 0, "fade_time": 0,
                                           "page": 30})
        e1 = tx.create_ordered_edge("lighting.in_cue_list", ids["LX1"], ids["Act 1"], properties={"call_text": "GO"})
        tx.create_ordered_edge("lighting.in_cue_list", ids["LX2"], ids["Act 1"], before=e1)
        tx.create_ordered_edge("lighting.in_cue_list", ids["LX11"], ids["Act 1"],
                               properties={"call_text": "GO", "timing_override": 4})
        tx.create_ordered_edge("lighting.in_cue_list", ids["LX11.1"], ids["Act 1"])
        tx.create_ordered_edge("lighting.in_cue_list", ids["LX20"], ids["Act 2"],
                               properties={"call_text": "Stand by", "timing_override": 5})
        tx.add_to_table(ids["LX11"], "sm.SMCues", {"department": "lighting", "call_text": "GO"})
        tx.add_to_table(ids["LX20"], "sm.SMCues", {"department": "lighting", "call_text": "Stand by",
                                                  "standby": "warn"})
        ids["Places"] = tx.create_record("sm.SMCues", {"cue_number": 0.5, "label": "Places",
                                                       "department": "stage management",
                                                       "call_text": "Places please"})

    Q = "sound.SoundCues"
    with ws.transaction() as tx:
        ids["SQ1"] = tx.create_record(Q, {"cue_number": 1, "label": "Preshow music", "level_db": -10,
                                          "source": "QLab", "page": 1})
        ids["SQ5"] = tx.create_record(Q, {"cue_number": 5, "label": "Thunder", "level_db": -3.5, "source": "QLab",
                                          "page": 12})
        ids["SQ6"] = tx.create_record(Q, {"cue_number": 6, "label": "Rain loop", "level_db": -20,
                                          "source": "Playback", "is_called": False})
        tx.add_to_table(ids["SQ5"], "sm.SMCues", {"department": "sound", "call_text": "GO"})

    P = "props.Props"
    with ws.transaction() as tx:
        ids["Dagger"] = tx.create_record(P, {"item": "Dagger", "owner": "John Smith"})
        ids["Vial"] = tx.create_record(P, {"item": "Vial", "owner": "Ana García"})
        ids["Letter"] = tx.create_record(P, {"item": "Letter"})
    with ws.transaction() as tx:
        tx.set_text(ids["Dagger"], "props.Props.notes", "Sharp edges: handle with care")
        tx.set_list(ids["Dagger"], "props.Props.tags", ["weapon", "metal"])
        tx.set_text(ids["Vial"], "props.Props.notes", "Breakaway glass")
        tx.set_text(ids["Letter"], "props.Props.notes", "x")
        tx.edit_text(ids["Letter"], "props.Props.notes", [(0, 1, "")])  # emptied again: exists, but ""
    return th


@pytest.fixture(scope="module")
def theatre() -> Theatre:
    return build_theatre()


CONTACTS = {"Jane", "John", "Ana", "Bob", "Chris", "Dana"}
EVENTS = {"Tech", "Fitting", "Opening", "Read"}
SCENES = {"Prologue", "Balcony", "Tomb"}
LX = {"LX1", "LX2", "LX11", "LX11.1", "LX20"}
SOUND = {"SQ1", "SQ5", "SQ6"}
SM = {"LX11", "LX20", "Places", "SQ5"}
PROPS_SET = {"Dagger", "Vial", "Letter"}
EVERYTHING = CONTACTS | EVENTS | {"Eve"} | SCENES | {"Act 1", "Act 2"} | LX | {"Places"} | SOUND | PROPS_SET

# (query, expected labels). Table context only where a case says so (see TABLE_CASES).
CORPUS: list[tuple[str, set[str]]] = [
    # --- table membership ---
    ('table == "contacts.Contacts"', CONTACTS),
    ('table == "contacts"', CONTACTS),
    ('table == "Contacts"', CONTACTS),
    ('table == "Lighting Cues"', LX),
    ('table == "lighting.CueLists"', {"Act 1", "Act 2"}),
    ("table == 'sm.SMCues'", SM),
    ('table == "schedule.Attendees"', {"Dana", "Eve"}),
    ('table == "contacts.Contacts" AND table == "schedule.Attendees"', {"Dana"}),
    ('table == "schedule.Attendees" AND NOT table == "contacts.Contacts"', {"Eve"}),
    ('table == "schedule.Attendees" AND table != "contacts.Contacts"', {"Eve"}),
    ('table == "lighting.LightingCues" AND table == "sm.SMCues"', {"LX11", "LX20"}),
    ('table == "sm.SMCues" AND NOT table == "lighting.LightingCues"', {"Places", "SQ5"}),
    ('table == "sound.SoundCues" OR table == "lighting.CueLists"', SOUND | {"Act 1", "Act 2"}),
    ('table IN ["scenes", "props"]', SCENES | PROPS_SET),
    ('table IN []', set()),
    ('table != "contacts.Contacts"', EVERYTHING - CONTACTS),
    ('table == "no.SuchTable"', set()),
    ('NOT table == "no.SuchTable"', EVERYTHING),
    ("lighting.CueLists exists", {"Act 1", "Act 2"}),
    ("sm.SMCues", SM),
    ("NOT sound.SoundCues exists AND table == 'sm.SMCues'", {"LX11", "LX20", "Places"}),
    # --- equality and inequality on text ---
    ('table == "contacts.Contacts" AND department == "cast"', {"John", "Ana", "Dana"}),
    ('table == "contacts.Contacts" AND department != "cast"', {"Jane", "Bob", "Chris"}),
    ('contacts.Contacts.department == "cast"', {"John", "Ana", "Dana"}),
    ('contacts.department == "lighting"', {"Bob"}),
    ('sm.department == "lighting"', {"LX11", "LX20"}),
    ('sm.SMCues.department == "stage management"', {"Places"}),
    ('role == "Actor"', {"John", "Ana", "Dana"}),
    ("role == 'actor'", set()),  # case-sensitive
    ('status == "active" OR status == "pending"', {"Jane", "John", "Ana", "Chris", "Dana"}),
    ('status != "archived"', {"Jane", "John", "Ana", "Chris", "Dana"}),
    ('email == "jane@example.org"', {"Jane"}),
    ('name == "Jane Doe"', {"Jane"}),
    ('name == "Act 2"', {"Act 2"}),
    ('name == "Balcony"', {"Balcony"}),  # scenes.Scenes.title declares the shared key name
    ('title == "Balcony"', {"Balcony"}),
    ('name == "Ghost Person"', set()),  # deleted
    ('schedule.Attendees.name == "Dana Wu"', {"Dana"}),  # through the confirmed mapping
    ('schedule.Attendees.email == "dana@example.org"', {"Dana"}),
    ('contacts.Contacts.name == "Eve Extra"', set()),  # Eve is not in Contacts
    ('name == "Eve Extra"', {"Eve"}),
    ('pronouns == "she/her"', {"Jane"}),
    ('room == "Main Stage"', {"Tech", "Opening"}),
    ('kind == "rehearsal"', {"Read"}),  # the table default
    ('source == "QLab"', {"SQ1", "SQ5"}),
    ('item == "Dagger"', {"Dagger"}),
    ('owner == "John Smith"', {"Dagger"}),
    # --- numbers ---
    ('cue_number == 11', {"LX11"}),
    ("cue_number == 11.0", {"LX11"}),
    ('cue_number == "11"', {"LX11"}),  # cue numbers compare in cue order, typed as text or number
    ('cue_number == "11.10"', {"LX11.1"}),  # numerically equal: 11.1 and 11.10
    ('cue_number < "11A"', {"LX1", "LX2", "LX11", "Places", "SQ1", "SQ5", "SQ6"}),  # 11 < 11A < 11.1
    ('cue_number > "11"', {"LX11.1", "LX20"}),
    ('cue_number == "Jane"', set()),  # not a cue number: never equal
    ("cue_number == 1", {"LX1", "SQ1"}),
    ("cue_number > 10", {"LX11", "LX11.1", "LX20"}),
    ("cue_number >= 11.1", {"LX11.1", "LX20"}),
    ("cue_number < 1", {"Places"}),
    ("cue_number <= 2", {"LX1", "LX2", "Places", "SQ1"}),
    ("cue_number != 1", {"LX2", "LX11", "LX11.1", "LX20", "Places", "SQ5", "SQ6"}),
    ("sm.SMCues.cue_number == 11", {"LX11"}),  # mapped to the lighting cue number
    ("sm.SMCues.cue_number == 5", set()),  # sound cue numbers are not mapped into SM cues
    ("sm.SMCues.cue_number exists", {"LX11", "LX20", "Places"}),
    ("lighting.cue_number > 2", {"LX11", "LX11.1", "LX20"}),
    ("intensity == 0", {"LX2", "LX20"}),
    ("intensity > 50 AND intensity < 85", {"LX11"}),
    ("fade_time == 2.5", {"LX11"}),
    ("level_db < -5", {"SQ1", "SQ6"}),
    ("level_db >= -3.5", {"SQ5"}),
    ("level_db == -3.5", {"SQ5"}),
    ("act >= 2", {"Balcony", "Tomb"}),
    ("duration_min < 10", {"Prologue", "Tomb"}),
    ("page == 12", {"LX11", "LX11.1", "SQ5"}),
    ("page > 1 AND table == 'sound.SoundCues'", {"SQ5"}),
    # --- booleans and truthiness ---
    ("lighting.is_called == true", {"LX1", "LX2", "LX11", "LX20"}),
    ("lighting.is_called == false", {"LX11.1"}),
    ("lighting.is_called", {"LX1", "LX2", "LX11", "LX20"}),
    ("NOT lighting.is_called AND table == 'lighting.LightingCues'", {"LX11.1"}),
    ("sound.is_called == false", {"SQ6"}),
    ("lighting.is_called == 1", set()),  # a boolean is not the number 1
    ("lighting.is_called > false", set()),  # booleans are not ordered
    ("table == 'lighting.LightingCues' AND intensity", {"LX1", "LX11", "LX11.1"}),
    ("table == 'contacts.Contacts' AND phone", {"Jane", "Ana", "Chris"}),
    ("table == 'contacts.Contacts' AND NOT phone", {"John", "Bob", "Dana"}),
    # --- null and EXISTS ---
    ("phone exists", {"Jane", "Ana", "Chris"}),
    ("phone == null", EVERYTHING - {"Jane", "Ana", "Chris"}),
    ("table == 'contacts.Contacts' AND email == null", {"Chris"}),
    ("table == 'contacts.Contacts' AND email != null", {"Jane", "John", "Ana", "Bob", "Dana"}),
    ("email exists", {"Jane", "John", "Ana", "Bob", "Dana", "Eve"}),
    ("ends_at exists", {"Tech"}),
    ("cue_number < null", set()),
    ("standby exists", {"LX20"}),
    ("call_time exists", {"Dana", "Eve"}),
    # --- IN ---
    ('table == "contacts" AND department IN ["lighting", "sound", "video"]', {"Bob", "Chris"}),
    ('status IN ["active", "pending"]', {"Jane", "John", "Ana", "Chris", "Dana"}),
    ("cue_number IN [1, 20, 99]", {"LX1", "LX20", "SQ1"}),
    ('cue_number IN ["1", 5]', {"LX1", "SQ1", "SQ5"}),
    ("phone IN [null, '555-0101']", EVERYTHING - {"Ana", "Chris"}),
    ("status IN []", set()),
    ("NOT status IN ['active'] AND table == 'contacts.Contacts'", {"Ana", "Bob"}),
    ("lighting.is_called IN [false]", {"LX11.1"}),
    # --- LIKE ---
    ('name LIKE "J%"', {"Jane", "John"}),
    ('email LIKE "%@example.org"', {"Jane", "John", "Dana", "Eve"}),
    ('name LIKE "%a%"', {"Jane", "Ana", "Dana", "Eve", "Tech", "Read", "Balcony"}),  # "Act 1": capital A
    ('name LIKE "j%"', set()),  # case-sensitive
    ('phone LIKE "555-01_1"', {"Jane"}),
    ('phone LIKE "555-01__"', {"Jane", "Chris"}),
    ('label LIKE "Sunrise%"', {"LX11", "LX11.1"}),
    ('label LIKE "Sunrise"', {"LX11"}),
    ('pronouns LIKE "she/%"', {"Jane"}),
    ('pronouns LIKE "she\\/%"', set()),  # a backslash before anything but %, _ or \ is literal
    ('role LIKE "%\\%%"', set()),  # an escaped % is a literal %
    ('cue_number LIKE "1%"', {"LX1", "LX11", "LX11.1", "SQ1"}),  # cue numbers are text
    ('level_db LIKE "-%"', set()),  # LIKE applies to text only
    # --- MATCHES ---
    ('phone MATCHES "^\\+1-\\d{3}-\\d{4}$"', {"Ana"}),
    ('phone MATCHES "555-\\d{4}"', {"Jane", "Chris"}),
    ('phone MATCHES "\\d{3}"', set()),  # anchored: the whole value must match
    ('name MATCHES "(?i)^john.*"', {"John"}),
    ('name MATCHES "[A-D].*"', {"Ana", "Bob", "Chris", "Dana", "Act 1", "Act 2", "Balcony"}),
    ('email MATCHES ".*@example\\.(org|com)"', {"Jane", "John", "Ana", "Dana", "Eve"}),
    ('notes MATCHES "(?i).*CARE"', {"Dagger"}),
    # --- CRDT text and lists ---
    ('notes LIKE "Sharp%"', {"Dagger"}),
    ('notes == "Breakaway glass"', {"Vial"}),
    ("notes exists", {"Dagger", "Vial", "Letter"}),
    ("notes", {"Dagger", "Vial"}),  # the letter's notes are empty text
    ('notes != "x"', {"Dagger", "Vial", "Letter"}),
    ("tags", {"Dagger"}),
    ("tags exists", {"Dagger"}),
    ('tags == "weapon"', set()),  # a list is not text
    # --- timestamps ---
    ('starts_at > "2026-09-21T00:00:00Z"', {"Fitting", "Opening"}),
    ('starts_at == "2026-10-01T19:30:00Z"', {"Opening"}),  # stored from +02:00, compared as instants
    ('starts_at == "2026-10-01T21:30:00+02:00"', {"Opening"}),
    ('starts_at < "2026-09-01T10:00:01Z"', {"Read"}),
    ('starts_at > "2026-09-01T10:00:00Z" AND starts_at < "2026-09-02"', {"Read"}),  # .500 is after :00
    ('starts_at == "not a date"', set()),
    ("starts_at < $now", {"Tech", "Read"}),
    ("starts_at >= $now", {"Fitting", "Opening"}),
    ("call_time < $now", set()),
    ('room < "N"', {"Tech", "Opening"}),  # text compares lexicographically
    ("title < $now", set()),  # $now is a timestamp; title is text
    # --- edges: outgoing, incoming, properties, chains ---
    ('appears_in->target.title == "Balcony"', {"John", "Ana"}),
    ("appears_in->target exists", {"John", "Ana", "Dana"}),
    ("appears_in exists", {"John", "Ana", "Dana"}),
    ("scenes.appears_in->target.act == 5", {"John", "Ana"}),
    ("appears_in->target.act < 2", {"Dana"}),
    ('NOT appears_in->target.title == "Tomb" AND table == "contacts"', {"Jane", "Bob", "Chris", "Dana"}),
    ('appears_in.character == "Juliet"', {"Ana"}),
    ("appears_in.has_quick_change == true", {"John"}),
    ("appears_in.has_quick_change exists", {"John"}),
    ("appears_in.entrance == null", {"John", "Ana", "Dana"}),  # some appearance has no entrance
    ("<-appears_in exists", {"Balcony", "Tomb", "Prologue"}),
    ('<-appears_in.source.name == "Dana Wu"', {"Prologue"}),
    ('<-appears_in.source.department == "cast" AND act > 1', {"Balcony", "Tomb"}),
    ('<-appears_in.character == "Romeo"', {"Balcony", "Tomb"}),
    ('<-scenes.appears_in.character LIKE "J%"', {"Balcony", "Tomb"}),
    ('in_cue_list->target.name == "Act 1"', {"LX1", "LX2", "LX11", "LX11.1"}),
    ('in_cue_list.call_text == "GO"', {"LX1", "LX11"}),
    ("in_cue_list.timing_override > 4", {"LX20"}),
    ("<-in_cue_list.source.intensity == 0", {"Act 1", "Act 2"}),
    ("<-in_cue_list.source.is_called == false", {"Act 1"}),
    ('called_to->target.room == "Main Stage"', {"Eve"}),
    ('called_to.note LIKE "%shoes"', {"Dana"}),
    ('called_to.call_time == "2026-09-22T09:45:00Z"', {"Dana"}),
    ('called_to->target.<-called_to.source.name == "Dana Wu"', {"Dana"}),
    ('appears_in->target.<-appears_in.source.name == "Ana García"', {"John", "Ana"}),  # scene partners
    ('<-called_to.source.email LIKE "%@example.org"', {"Fitting", "Opening"}),
    ('appears_in->target.title == "Nowhere"', set()),
    ("worn_by exists", set()),  # no such edge type: false
    # --- references ---
    ("created_by == $actor", EVERYTHING),
    ('created_by != $literal("00")', EVERYTHING),
    ('name == $literal("Jane Doe")', {"Jane"}),
    # --- precedence and grouping ---
    ('table == "contacts" AND department == "cast" OR table == "scenes"', {"John", "Ana", "Dana"} | SCENES),
    ('table == "contacts" AND (department == "sound" OR department == "lighting")', {"Bob", "Chris"}),
    ('NOT (table == "contacts" OR table == "schedule.Events") AND name LIKE "%e%"', {"Eve", "Prologue"}),
    ('NOT NOT table == "scenes"', SCENES),
    ('table == "scenes" and NOT act == 2 or item == "Vial"', {"Prologue", "Tomb", "Vial"}),
    ('(((table == "scenes")))', SCENES),
]

# Queries run with a table context (the `table=` argument, as a grid's filter bar would).
TABLE_CASES: list[tuple[str, str, set[str]]] = [
    ("contacts.Contacts", 'department == "cast"', {"John", "Ana", "Dana"}),
    ("sm.SMCues", 'department == "lighting"', {"LX11", "LX20"}),
    ("sm.SMCues", "cue_number > 1", {"LX11", "LX20"}),  # sm cue numbers (mapped from lighting)
    ("lighting.LightingCues", "is_called", {"LX1", "LX2", "LX11", "LX20"}),
    ("sound.SoundCues", "NOT is_called", {"SQ6"}),
    ("schedule.Attendees", "name exists", {"Dana", "Eve"}),
    ("contacts.Contacts", "NOT email exists", {"Chris"}),
    ("Scenes", 'title LIKE "%o%"', {"Prologue", "Balcony", "Tomb"}),
    ("schedule.Events", "table == 'contacts.Contacts'", set()),
]


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) + len(TABLE_CASES) >= 100


@pytest.mark.parametrize(("query", "expected"), CORPUS, ids=[q for q, _ in CORPUS])
def test_corpus(theatre: Theatre, query: str, expected: set[str]) -> None:
    compiled = compile_query(query, theatre.ws.schema)
    got = run_query(theatre.ws, compiled, now_ms=NOW_MS)
    assert set(theatre.names(got)) == expected
    assert len(got) == len(set(got))  # each record once, however many edges match
    assert run_query_python(theatre.ws, compiled, now_ms=NOW_MS) == got


@pytest.mark.parametrize(("table", "query", "expected"), TABLE_CASES, ids=[f"{t}: {q}" for t, q, _ in TABLE_CASES])
def test_corpus_in_a_table(theatre: Theatre, table: str, query: str, expected: set[str]) -> None:
    got = run_query(theatre.ws, query, table=table, now_ms=NOW_MS)
    assert set(theatre.names(got)) == expected
    assert run_query_python(theatre.ws, query, table=table, now_ms=NOW_MS) == got


def test_results_come_in_creation_order(theatre: Theatre) -> None:
    got = theatre.names(run_query(theatre.ws, 'table == "contacts" OR table == "scenes"'))
    assert got == ["Jane", "John", "Ana", "Bob", "Chris", "Dana", "Prologue", "Balcony", "Tomb"]
    cues = theatre.names(run_query(theatre.ws, "cue_number exists"))
    assert cues == ["LX1", "LX2", "LX11", "LX11.1", "LX20", "Places", "SQ1", "SQ5", "SQ6"]
