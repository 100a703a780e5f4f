"""The theatre starter modules: contacts, schedule, scenes, lighting, SM cues, sound.

Kept as manifest text in code (not files) so the core reads nothing from disk, in Pyodide or
on CPython. The app offers them on a new workspace; tests and benchmarks use them as fixtures.
Shared keys (name, email, cue_number, cue_label...) are suggestions until a user confirms them.

Cue numbers are of type "cue" since lighting 1.2.0, sm 1.1.0 and sound 1.1.0 (they were numbers
before): adopting the new version over the old widens the field and keeps every value
(docs/design.md, "Cue numbers").
"""

from __future__ import annotations

CONTACTS = """
[module]
name = "contacts"
version = "1.2.0"
display_name = "Contacts"
description = "Cast, crew and company contact sheet"

[table.Contacts]
display_name = "Contacts"
description = "People and organisations on the production"
compatible_tables = ["schedule.Attendees"]

[table.Contacts.fields.name]
type = "string"
required = true
display_name = "Name"
shared_key = "name"

[table.Contacts.fields.role]
type = "string"
display_name = "Role"

[table.Contacts.fields.department]
type = "string"
display_name = "Department"

[table.Contacts.fields.email]
type = "string"
display_name = "Email"
shared_key = "email"

[table.Contacts.fields.phone]
type = "string"
display_name = "Phone"
shared_key = "phone"

[table.Contacts.fields.pronouns]
type = "string"
display_name = "Pronouns"

[table.Contacts.fields.status]
type = "string"
display_name = "Status"

[table.Contacts.fields.gets_reports]
type = "boolean"
display_name = "Gets reports"
description = "On the distribution list of rehearsal and performance reports"

[table.Contacts.fields.details]
type = "string"
display_name = "Notes"
description = "Shared notes; several people can type at once"
crdt = "text"

[view.ContactSheet]
name = "Contact sheet"
description = "Everyone on the production, by department"
table = "Contacts"
columns = ["name", "role", "pronouns", "phone", "email"]
group_by = "department"
sort = ["name"]
filter = 'NOT status == "archived"'

[view.Distribution]
name = "Report distribution list"
description = "Who receives rehearsal and performance reports"
table = "Contacts"
columns = ["name", "role", "email", "phone"]
group_by = "department"
sort = ["name"]
filter = "gets_reports == true"
"""

SCHEDULE = """
[module]
name = "schedule"
version = "1.1.0"
display_name = "Schedule"
description = "Rehearsals, calls and who is called"

[table.Events]
display_name = "Events"
description = "Rehearsals, fittings, tech and performances"

[table.Events.fields.title]
type = "string"
required = true
display_name = "Title"
shared_key = "name"

[table.Events.fields.starts_at]
type = "timestamp"
display_name = "Starts"

[table.Events.fields.ends_at]
type = "timestamp"
display_name = "Ends"

[table.Events.fields.room]
type = "string"
display_name = "Room"

[table.Events.fields.kind]
type = "string"
display_name = "Kind"
default = "rehearsal"

[table.Attendees]
display_name = "Attendees"
description = "People called to events"
compatible_tables = ["contacts.Contacts"]

[table.Attendees.fields.name]
type = "string"
required = true
display_name = "Name"
shared_key = "name"

[table.Attendees.fields.email]
type = "string"
display_name = "Email"
shared_key = "email"

[table.Attendees.fields.call_time]
type = "timestamp"
display_name = "Call time"

[edge.called_to]
display_name = "Called to"
source_tables = ["Attendees"]
target_tables = ["Events"]

[edge.called_to.properties]
call_time = "timestamp"
note = "string"

# One call time per person per event: the time on their call (the link to the event), or the
# event's start when none is set. (Attendees' own Call time field is not used by the call sheet.)
[view.CallSheet]
name = "Daily call sheet"
description = "The day's events and who is called when"
table = "Events"
expand = "<-called_to"
date_field = "starts_at"
group_by = ["starts_at", "title", "room"]
columns = [
  { path = "<-called_to.call_time | starts_at", label = "Call" },
  { path = "<-called_to.source.name", label = "Name" },
  { path = "<-called_to.note", label = "Note" },
]
sort = ["<-called_to.call_time | starts_at", "<-called_to.source.name"]

[view.Schedule]
name = "Schedule"
description = "Every event in time order"
table = "Events"
columns = ["starts_at", "ends_at", "title", "kind", "room"]
sort = ["starts_at"]
"""

SCENES = """
[module]
name = "scenes"
version = "1.2.0"
display_name = "Scenes"
description = "Scene breakdown: who is in what, and where"

[table.Scenes]
display_name = "Scenes"

[table.Scenes.fields.title]
type = "string"
required = true
display_name = "Title"
shared_key = "name"

[table.Scenes.fields.act]
type = "number"
display_name = "Act"

[table.Scenes.fields.number]
type = "number"
display_name = "Scene"

[table.Scenes.fields.location]
type = "string"
display_name = "Location"

[table.Scenes.fields.duration_min]
type = "number"
display_name = "Duration (min)"

[table.Scenes.fields.synopsis]
type = "string"
display_name = "Synopsis"
crdt = "text"

[edge.appears_in]
display_name = "Appears in"
description = "A performer appears in a scene"
target_tables = ["Scenes"]
source_tables_hint = ["contacts.Contacts"]

[edge.appears_in.properties]
character = "string"
entrance = "string"
has_quick_change = "boolean"

[view.SceneBreakdown]
name = "Scene breakdown"
description = "Every scene in order: where it is, how long, and who is in it"
table = "Scenes"
columns = ["act", "number", "title", "location", "duration_min",
           { path = "<-appears_in.character", label = "Characters" },
           { path = "<-appears_in.source.name", label = "Performers" }]
sort = ["act", "number"]

[view.CharacterChart]
name = "Scene-by-character chart"
description = "Who appears in which scene (French scenes across the top)"
table = "contacts.Contacts"
layout = "chart"
filter = "appears_in exists"
columns = [{ path = "name", label = "Performer" }]
sort = ["name"]

[view.CharacterChart.chart]
edge = "appears_in"
across = "Scenes"
across_sort = ["act", "number"]
across_label = ["act", "number", "title"]
cell = "character"
"""

LIGHTING = """
[module]
name = "lighting"
version = "1.3.0"
display_name = "Lighting"
description = "Lighting cues and cue lists"

[table.LightingCues]
display_name = "Lighting Cues"
compatible_tables = ["sm.SMCues"]

[table.LightingCues.fields.cue_number]
type = "cue"
required = true
display_name = "Cue #"
shared_key = "cue_number"

[table.LightingCues.fields.label]
type = "string"
display_name = "Label"
shared_key = "cue_label"

[table.LightingCues.fields.intensity]
type = "number"
display_name = "Intensity"

[table.LightingCues.fields.fade_time]
type = "number"
display_name = "Fade (s)"

[table.LightingCues.fields.page]
type = "number"
display_name = "Page"
shared_key = "page"

[table.LightingCues.fields.is_called]
type = "boolean"
display_name = "Called"
default = true

[table.LightingCues.fields.description]
type = "string"
display_name = "Description"
description = "What the cue looks like; several people can type at once"
crdt = "text"

[table.CueLists]
display_name = "Cue Lists"

[table.CueLists.fields.name]
type = "string"
required = true
display_name = "Name"
shared_key = "name"

[edge.in_cue_list]
display_name = "In cue list"
ordered = true
source_tables = ["LightingCues"]
target_tables = ["CueLists"]

[edge.in_cue_list.properties]
call_text = "string"
timing_override = "number"

[edge.in_scene]
display_name = "In scene"
description = "The scene a cue happens in"
source_tables = ["LightingCues"]
target_tables_hint = ["scenes.Scenes"]

[view.CueSheet]
name = "Lighting cue sheet"
description = "Every lighting cue in cue-list order"
table = "LightingCues"
columns = ["cue_number", "page", { path = "lighting.in_scene->target.title", label = "Scene" }, "label", "description",
           "fade_time"]
group_by = { path = "in_cue_list->target.name", label = "Cue list" }
sort = ["in_cue_list._position", "cue_number"]
"""

SM = """
[module]
name = "sm"
version = "1.2.0"
display_name = "Stage Management"
description = "The stage manager's calling script: every called cue, all departments"

[table.SMCues]
display_name = "SM Cues"
compatible_tables = ["lighting.LightingCues", "sound.SoundCues"]

[table.SMCues.fields.cue_number]
type = "cue"
display_name = "Cue #"
shared_key = "cue_number"

[table.SMCues.fields.label]
type = "string"
display_name = "Label"
shared_key = "cue_label"

[table.SMCues.fields.department]
type = "string"
display_name = "Department"

[table.SMCues.fields.page]
type = "number"
display_name = "Page"
shared_key = "page"

[table.SMCues.fields.call_text]
type = "string"
display_name = "Call"

[table.SMCues.fields.standby]
type = "string"
display_name = "Standby"

[view.CallingCueSheet]
name = "Calling cue sheet"
description = "Every called cue, by department, in page order"
table = "SMCues"
columns = ["cue_number", "page", "label", "standby", "call_text"]
group_by = "department"
sort = ["page", "cue_number"]
"""

SOUND = """
[module]
name = "sound"
version = "1.2.0"
display_name = "Sound"
description = "Sound cues"

[table.SoundCues]
display_name = "Sound Cues"
compatible_tables = ["sm.SMCues"]

[table.SoundCues.fields.cue_number]
type = "cue"
required = true
display_name = "Cue #"
shared_key = "cue_number"

[table.SoundCues.fields.label]
type = "string"
display_name = "Label"
shared_key = "cue_label"

[table.SoundCues.fields.level_db]
type = "number"
display_name = "Level (dB)"

[table.SoundCues.fields.source]
type = "string"
display_name = "Source"

[table.SoundCues.fields.page]
type = "number"
display_name = "Page"
shared_key = "page"

[table.SoundCues.fields.is_called]
type = "boolean"
display_name = "Called"
default = true

[edge.in_scene]
display_name = "In scene"
description = "The scene a cue happens in"
source_tables = ["SoundCues"]
target_tables_hint = ["scenes.Scenes"]

[view.CueSheet]
name = "Sound cue sheet"
description = "Every sound cue in cue-number order"
table = "SoundCues"
columns = ["cue_number", "page", { path = "sound.in_scene->target.title", label = "Scene" }, "label", "source",
           "level_db"]
sort = ["cue_number"]
"""

STARTER = {
    "contacts": CONTACTS,
    "schedule": SCHEDULE,
    "scenes": SCENES,
    "lighting": LIGHTING,
    "sm": SM,
    "sound": SOUND,
}


def starter_manifests() -> dict[str, str]:
    """Module name -> manifest text, in a sensible adoption order."""
    return dict(STARTER)
