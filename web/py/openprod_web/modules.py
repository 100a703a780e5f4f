"""Modules the web app offers besides the core's theatre starters.

`reports` holds rehearsal and performance reports, whose notes several people write at once:
its Notes field is collaborative text and its Tags a collaborative list (CRDT fields, merged
character by character and never in conflict). The core's starter modules have no CRDT field yet.
"""

from __future__ import annotations

from openprod import SchemaError, Workspace, parse_manifest, starter_manifests
from openprod.modules import check_compatible

REPORTS = """
[module]
name = "reports"
version = "1.1.0"
display_name = "Reports"
description = "Rehearsal and performance reports, written together"

[table.Reports]
display_name = "Reports"
description = "One report per rehearsal or performance; its notes merge while several people type"

[table.Reports.fields.title]
type = "string"
required = true
display_name = "Title"
shared_key = "name"

[table.Reports.fields.date]
type = "timestamp"
display_name = "Date"

[table.Reports.fields.notes]
type = "string"
crdt = "text"
display_name = "Notes"
description = "Written together: everyone's typing is kept and merged"

[table.Reports.fields.tags]
type = "list"
crdt = "list"
item_type = "string"
display_name = "Tags"
description = "Separate tags with commas"

[table.Reports.fields.kind]
type = "string"
display_name = "Kind"
default = "Rehearsal"
description = "Rehearsal or Performance"

[table.Reports.fields.started_at]
type = "timestamp"
display_name = "Started"

[table.Reports.fields.ended_at]
type = "timestamp"
display_name = "Ended"

[table.Reports.fields.house_count]
type = "number"
display_name = "Audience"

[table.Reports.fields.stage_management]
type = "string"
crdt = "text"
display_name = "Stage management"

[table.Reports.fields.scenic]
type = "string"
crdt = "text"
display_name = "Scenic"

[table.Reports.fields.props]
type = "string"
crdt = "text"
display_name = "Props"

[table.Reports.fields.wardrobe]
type = "string"
crdt = "text"
display_name = "Wardrobe"

[table.Reports.fields.lighting]
type = "string"
crdt = "text"
display_name = "Lighting"

[table.Reports.fields.sound]
type = "string"
crdt = "text"
display_name = "Sound"

[table.Reports.fields.video]
type = "string"
crdt = "text"
display_name = "Video"

# The report templates: each department's section is a text field several people type in at once;
# the distribution list is the contacts marked "Gets reports" (when the Contacts module is there).
[view.RehearsalReport]
name = "Rehearsal report"
description = "One rehearsal: what happened, department by department, and who receives it"
table = "Reports"
layout = "report"
filter = 'kind == "Rehearsal"'
columns = ["date", "started_at", "ended_at", { path = "notes", label = "General" }, "stage_management", "scenic",
           "props", "wardrobe", "lighting", "sound", "video"]
sort = ["date desc"]
distribution = "contacts.Distribution"
new_record = { kind = "Rehearsal", title = "Rehearsal report" }

[view.PerformanceReport]
name = "Performance report"
description = "One performance: times, audience, department notes, and who receives it"
table = "Reports"
layout = "report"
filter = 'kind == "Performance"'
columns = ["date", { path = "started_at", label = "Curtain up" }, { path = "ended_at", label = "Curtain down" },
           "house_count", { path = "notes", label = "General" }, "stage_management", "scenic", "props",
           "wardrobe", "lighting", "sound", "video"]
sort = ["date desc"]
distribution = "contacts.Distribution"
new_record = { kind = "Performance", title = "Performance report" }
"""

FILES = """
[module]
name = "files"
version = "1.0.0"
display_name = "Plots & files"
description = "Lighting plots, ground plans, headshots, photos of the set: kept with the show, readable offline"

[table.Files]
display_name = "Plots & files"
description = "One file per record: a PDF or a photo, with what it is"

[table.Files.fields.title]
type = "string"
required = true
display_name = "Title"
shared_key = "name"

[table.Files.fields.department]
type = "string"
display_name = "Department"

[table.Files.fields.file]
type = "blob"
display_name = "File"
description = "A PDF or a photo (take one with the camera)"

[table.Files.fields.notes]
type = "string"
display_name = "Notes"
"""

WEB_MODULES = {"reports": REPORTS, "files": FILES}


def available_manifests() -> dict[str, str]:
    """Every module a new workspace can start with: the core's starters, then the web app's own."""
    return {**starter_manifests(), **WEB_MODULES}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("-")[0].split("+")[0].split("."))


def module_upgrades(ws: Workspace) -> list[str]:
    """Adopted modules this app ships a newer, compatible version of (e.g. cue numbers that keep
    "17A"): adopting it changes no value, so the app offers it as soon as the workspace opens."""
    shipped = available_manifests()
    out = []
    for name, adopted in ws.schema.modules.items():
        manifest = shipped.get(name)
        if manifest is None:
            continue
        newer = parse_manifest(manifest)
        if _version(newer.version) <= _version(adopted.version):
            continue
        try:
            check_compatible(adopted, newer)
        except SchemaError:
            continue
        out.append(name)
    return sorted(out)
