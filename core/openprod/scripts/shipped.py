"""Scripts shipped with the app (module scripts: read-only, run like any other, staged for review).

Kept as text in code, like the starter modules, so the core reads no files in Pyodide or on CPython.
"""

from __future__ import annotations

RENUMBER_CUES = r"""-- Renumber the cues in a range, in cue order: the first becomes the new start number, then
-- one step up for each next cue. Cues outside the range keep their numbers; if a new number is
-- already used by a cue outside the range, nothing is changed.
--@arg from cue "First cue of the range"
--@arg to cue "Last cue of the range"
--@arg start number "New number of the first cue"
--@arg step number "Step" = 1
--@arg table text "Cue table" = lighting.LightingCues

if not args.table:match("^[%w_]+%.[%w_]+$") then
  error("the cue table is written module.Table, for example lighting.LightingCues", 0)
end
local number_field = args.table .. ".cue_number"
if args.step <= 0 then error("the step must be more than 0", 0) end

local function shown(n)
  if math.type(n) == "integer" or n == math.floor(n) then return string.format("%d", n) end
  return (string.format("%.4f", n):gsub("0+$", ""))
end

local in_range = core.query("table == ? AND " .. number_field .. " >= ? AND " .. number_field ..
  " <= ? ORDER BY cue_number", args.table, args.from, args.to)
if #in_range == 0 then
  ui.toast.warn("No cues between " .. args.from .. " and " .. args.to)
  return
end

local moving, new_numbers = {}, {}
for i, cue in ipairs(in_range) do
  moving[cue.id] = true
  new_numbers[shown(args.start + (i - 1) * args.step)] = cue.cue_number
end
for _, other in ipairs(core.query("table == ?", args.table)) do
  if not moving[other.id] and new_numbers[tostring(other.cue_number)] then
    error("cue " .. other.cue_number .. " is outside the range and already has that number; nothing was changed", 0)
  end
end

ui.progress.start("Renumbering cues " .. args.from .. " to " .. args.to, { total = #in_range })
for i, cue in ipairs(in_range) do
  core.set_field(cue.id, number_field, shown(args.start + (i - 1) * args.step))
  ui.progress.update(i)
end
ui.progress.complete()
ui.toast(#in_range .. " cues renumbered")
"""

IMPORT_CUES_CSV = r"""-- Import cues from a CSV file with a column mapping: each row becomes a new cue. A row that does
-- not fit (a page that is not a number, a missing cue number) stops the import and names its
-- line; nothing is created until every row fits.
--@arg csv csv "CSV file (first row: column names)"
--@arg mapping json "Columns to fields (a JSON object: column name to field name)"
--@arg table text "Cue table" = lighting.LightingCues

local function parse_csv(text)
  local rows, row, cell = {}, {}, {}
  local i, n, quoted, line, row_line = 1, #text, false, 1, 1
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then cell[#cell + 1] = '"'; i = i + 1 else quoted = false end
      else
        if c == "\n" then line = line + 1 end
        cell[#cell + 1] = c
      end
    elseif c == '"' then quoted = true
    elseif c == "," then row[#row + 1] = table.concat(cell); cell = {}
    elseif c == "\n" then
      row[#row + 1] = table.concat(cell); cell = {}
      rows[#rows + 1] = { line = row_line, cells = row }; row = {}
      line = line + 1; row_line = line
    elseif c ~= "\r" then cell[#cell + 1] = c end
    i = i + 1
  end
  if quoted then error("line " .. row_line .. ": a quoted value is never closed", 0) end
  if #cell > 0 or #row > 0 then
    row[#row + 1] = table.concat(cell)
    rows[#rows + 1] = { line = row_line, cells = row }
  end
  return rows
end

local fields = {}
for _, f in ipairs(core.schema.get_fields(args.table)) do fields[f.name] = f end
local rows = parse_csv(args.csv)
if #rows < 2 then error("the file has no rows under its header line", 0) end
local columns = {}
for index, name in ipairs(rows[1].cells) do columns[name] = index end
local plan, unused = {}, {}
for column, field_name in pairs(args.mapping) do
  if not columns[column] then error("column " .. column .. " is not in the file's header line", 0) end
  local f = fields[field_name]
  if not f then error("the table has no field " .. field_name .. " (for column " .. column .. ")", 0) end
  plan[#plan + 1] = { column = column, index = columns[column], field = f }
end
for name in pairs(columns) do if args.mapping[name] == nil then unused[#unused + 1] = name end end
table.sort(plan, function(a, b) return a.index < b.index end)

local function convert(f, text, line)
  if f.type == "number" then
    local n = tonumber(text)
    if not n then error("line " .. line .. ": " .. f.display_name .. " must be a number, not " .. text, 0) end
    return n
  elseif f.type == "boolean" then
    local lower = text:lower()
    if lower == "yes" or lower == "true" or lower == "1" then return true end
    if lower == "no" or lower == "false" or lower == "0" then return false end
    error("line " .. line .. ": " .. f.display_name .. " must be yes or no, not " .. text, 0)
  end
  return text
end

local records, blank = {}, 0
for r = 2, #rows do
  local row = rows[r]
  local values, any = {}, false
  for _, p in ipairs(plan) do
    local text = row.cells[p.index]
    if text and text:match("%S") then
      values[p.field.name] = convert(p.field, text:match("^%s*(.-)%s*$"), row.line)
      any = true
    end
  end
  if any then records[#records + 1] = { line = row.line, values = values }
  elseif table.concat(row.cells):match("%S") == nil then blank = blank + 1
  else error("line " .. row.line .. ": none of the mapped columns has a value", 0) end
end

ui.progress.start("Importing cues", { total = #records })
for i, record in ipairs(records) do
  local ok, err = pcall(core.create_record, args.table, record.values)
  if not ok then error("line " .. record.line .. ": " .. (tostring(err):gsub("^[^:]*:%d+: ", "")), 0) end
  ui.progress.update(i)
end
ui.progress.complete()
if #unused > 0 then table.sort(unused) log.info("columns not imported: " .. table.concat(unused, ", ")) end
local message = #records .. " cues imported"
if blank > 0 then message = message .. " (" .. blank .. " blank lines skipped)" end
ui.toast(message)
"""

FILL_CALL_TIMES = r"""-- Fill in call times for one day: everyone called to an event that day who has no call time gets
-- one, a number of minutes before the event starts. Call times already set are left alone.
-- Days run midnight to midnight in the times as stored (UTC when a time has a Z).
--@arg day date "Day"
--@arg before number "Minutes before the start" = 30

local function days_from_civil(y, m, d)
  y = (m <= 2) and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp + (mp < 10 and 3 or -9)
  return yoe + era * 400 + ((m <= 2) and 1 or 0), m, d
end
local function minutes_before(stamp, minutes)
  local y, mo, d, h, mi, s, zone = stamp:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(Z?)$")
  if not y then error("an event starts at " .. stamp .. ", which is not a time this script reads", 0) end
  local total = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 1440 + tonumber(h) * 60
    + tonumber(mi) - minutes
  local yy, mm, dd = civil_from_days(total // 1440)
  local rest = total % 1440
  return string.format("%04d-%02d-%02dT%02d:%02d:%s%s", yy, mm, dd, rest // 60, rest % 60, s, zone)
end

local y, m, d = args.day:match("^(%d+)-(%d+)-(%d+)$")
local ny, nm, nd = civil_from_days(days_from_civil(tonumber(y), tonumber(m), tonumber(d)) + 1)
local next_day = string.format("%04d-%02d-%02d", ny, nm, nd)
local events = core.query("table == 'schedule.Events' AND starts_at >= ? AND starts_at < ? ORDER BY starts_at",
  args.day .. "T00:00:00Z", next_day .. "T00:00:00Z")
if #events == 0 then
  ui.toast.warn("No events on " .. args.day)
  return
end
ui.progress.start("Filling call times for " .. args.day, { total = #events })
local filled, kept = 0, 0
for i, event in ipairs(events) do
  if event.starts_at then
    local call = minutes_before(event.starts_at, args.before)
    for _, link in ipairs(core.edges_to(event.id, "schedule.called_to")) do
      if link.properties.call_time == nil then
        core.set_edge_property(link.id, "call_time", call)
        filled = filled + 1
      else
        kept = kept + 1
      end
    end
  end
  ui.progress.update(i)
end
ui.progress.complete()
ui.toast(filled .. " call times filled in, " .. kept .. " already set")
"""

SHIPPED: dict[str, str] = {
    "renumber_cues": RENUMBER_CUES,
    "import_cues_csv": IMPORT_CUES_CSV,
    "fill_call_times": FILL_CALL_TIMES,
}

TITLES: dict[str, str] = {
    "renumber_cues": "Renumber cues",
    "import_cues_csv": "Import cues from a CSV file",
    "fill_call_times": "Fill in call times",
}
