// A grid read as a patch on the last one (host.js readRows): Python re-reads only the records written
// since the kept read's mark (openprod_web.session m_rows), and this puts them in the kept rows. The
// page still gets every row, so its sort and filter (ui/grid.js visibleRows) see changed rows move,
// appear and disappear as after a whole read.

/**
 * The rows and flags of `kept` with `patch` applied, as new objects (`kept` may be in the screen
 * copy being written); null when the patch does not fit `kept` (then read everything).
 * @param {{rows: object[], flags: object}} kept a whole read, or an earlier patched one
 * @param {{rows: object[], gone: string[], flags: object, ids: string[] | null, mark: string | null}} patch
 */
export function patchRows(kept, patch) {
  const changed = new Map(patch.rows.map((row) => [row.id, row]));
  let rows;
  if (patch.ids) { // a record may have entered or left the table: the order is the table's
    const byId = new Map(kept.rows.map((row) => [row.id, row]));
    rows = [];
    for (const id of patch.ids) {
      const row = changed.get(id) || byId.get(id);
      if (!row) return null;
      rows.push(row);
    }
  } else {
    const gone = new Set(patch.gone);
    let found = 0;
    rows = [];
    for (const row of kept.rows) {
      if (gone.has(row.id)) continue;
      const now = changed.get(row.id);
      if (now) found += 1;
      rows.push(now || row);
    }
    if (found !== changed.size) return null; // a record in the table that the kept read lacked: where does it go?
  }
  const flags = { ...kept.flags };
  for (const id of changed.keys()) delete flags[id];
  for (const id of patch.gone) delete flags[id];
  Object.assign(flags, patch.flags);
  return { ...kept, rows, flags, mark: patch.mark };
}
