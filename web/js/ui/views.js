// Documents and views: the page that shows a view as paper (grouped tables, or a chart), with its day
// (the call sheet), Print, Export CSV / Excel, and the builder that makes or changes a view without
// writing a query (the query text is shown beside it, for those who do).
import { confirmDialog, openDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';
import { formatDateTime, plural } from './format.js';
import { cellText, downloadFile, keepsTogether, longDay, setPageFurniture, today } from './paper.js';

const offsetMinutes = () => -new Date().getTimezoneOffset();

/** A query error from the worker: "what is wrong (line 1, column 12)" then the line and a caret. */
export function queryErrorBlock(err) {
  const [first, ...rest] = String(err.message || err).split('\n');
  return h('div', { class: 'query-error', role: 'alert' },
    h('p', {}, first.replace(/^(.*) \(line (\d+), column (\d+)\)$/, 'Line $2, column $3: $1')),
    rest.length ? h('pre', {}, rest.join('\n')) : null);
}

function groupHeading(result, values, timeOnly) {
  return values.map((v, i) => cellText(result.group_columns[i], v, { timeOnly }))
    .filter(Boolean).join(' · ');
}

function chartLabel(parts) {
  const numbers = parts.filter((p) => typeof p === 'number');
  const words = parts.filter((p) => typeof p === 'string' && p);
  return [numbers.join('.'), ...words].filter(Boolean).join(' ');
}

function cellNode(column, value, timeOnly) {
  const classes = [`type-${column.type}`];
  if (keepsTogether(column)) classes.push('keep');
  return h('td', { class: classes.join(' ') }, cellText(column, value, { timeOnly }));
}

/** The document itself: what prints. */
export function renderPaper(result, { show, day, staged, who }) {
  const definition = result.view.definition;
  const timeOnly = Boolean(definition.date_field && day);
  const headers = h('tr', {}, result.columns.map((c) => h('th', { scope: 'col', class: keepsTogether(c) ? 'keep' : '' }, c.label)),
    result.chart_columns.map((c) => h('th', { scope: 'col', class: 'chart-col' }, h('span', {}, chartLabel(c.label)))));
  const printed = formatDateTime(new Date());
  const meta = [show, day ? longDay(day) : null, plural(result.count, 'row'), `as of ${printed}`, who ? `by ${who}` : null]
    .filter(Boolean).join(' · ');
  const groups = result.groups.filter((g) => g.rows.length || g.values.length);
  const width = result.columns.length + result.chart_columns.length;
  // On paper a group's heading is also the first row of its table's head, so a group that runs onto
  // the next page says again what it is (thead repeats on every page; the h2 shows on screen).
  const head = (heading) => h('thead', {},
    heading ? h('tr', { class: 'group-row' }, h('th', { colspan: width, scope: 'colgroup' }, heading)) : null,
    headers.cloneNode(true));
  return h('article', { class: `document layout-${definition.layout || 'table'}`, dataset: { view: result.view.id } },
    h('header', { class: 'doc-header' },
      h('h1', {}, result.view.name),
      h('p', { class: 'doc-meta' }, meta),
      staged ? h('p', { class: 'doc-staged' }, 'Shows changes waiting for review that are not saved yet.') : null),
    result.warnings.length ? h('ul', { class: 'doc-warnings no-print' }, result.warnings.map((w) => h('li', {}, w))) : null,
    result.count === 0 ? h('p', { class: 'doc-empty' }, day ? `Nothing on ${longDay(day)}.` : 'Nothing to show: no record matches.') : null,
    groups.map((group) => {
      const heading = group.values.length
        ? groupHeading(result, group.values, timeOnly) || `No ${result.group_columns[0].label.toLowerCase()}` : null;
      const rows = group.rows.map((row) => h('tr', { dataset: { id: row.id } }, row.cells.map((value, i) => (
        i < result.columns.length ? cellNode(result.columns[i], value, timeOnly)
          : h('td', { class: 'chart-cell' }, value === null ? '' : String(value))))));
      return h('section', { class: 'doc-group' },
        heading ? h('h2', {}, heading) : null,
        h('table', { class: 'doc-table' }, head(heading), h('tbody', {}, rows)));
    }));
}

/** A report (layout "report"): one record, its facts on top, each department's section, the distribution list. */
export function renderReport(result, row, { show, distribution, who }) {
  const facts = [];
  const sections = [];
  result.columns.forEach((column, i) => {
    const value = row ? row.cells[i] : null;
    if (column.section) sections.push([column, value]);
    else facts.push([column, value]);
  });
  const printed = formatDateTime(new Date());
  const people = distribution ? distribution.groups.flatMap((g) => g.rows) : [];
  const column = (label) => (distribution ? distribution.columns.findIndex((c) => c.label === label) : -1);
  const [nameAt, emailAt] = [column('Name'), column('Email')];
  return h('article', { class: 'document layout-report', dataset: { view: result.view.id } },
    h('header', { class: 'doc-header' },
      h('h1', {}, row ? row.title || result.view.name : result.view.name),
      h('p', { class: 'doc-meta' }, [show, result.view.name, `as of ${printed}`, who ? `by ${who}` : null].filter(Boolean).join(' · '))),
    row ? [
      h('dl', { class: 'report-facts' }, facts.filter(([, v]) => v !== null && v !== undefined && v !== '')
        .map(([c, v]) => [h('dt', {}, c.label), h('dd', { class: keepsTogether(c) ? 'keep' : '' }, cellText(c, v))])),
      sections.map(([c, v]) => h('section', { class: 'report-section' },
        h('h2', {}, c.label),
        v ? String(v).split(/\n{2,}/).map((para) => h('p', {}, para)) : h('p', { class: 'report-none' }, 'No notes.'))),
    ] : h('p', { class: 'doc-empty' }, 'No report yet: start one with the button above.'),
    h('section', { class: 'report-section report-distribution' },
      h('h2', {}, 'Distribution'),
      people.length ? h('ul', {}, people.map((p) => h('li', {},
        nameAt >= 0 ? cellText(distribution.columns[nameAt], p.cells[nameAt]) : '',
        emailAt >= 0 && p.cells[emailAt] ? ` <${p.cells[emailAt]}>` : '')))
        : h('p', { class: 'report-none' }, distribution
          ? 'Nobody yet: in Contacts, tick “Gets reports” for each person who should receive reports.'
          : 'No distribution list: add the Contacts module to keep one.')));
}

/** The screen: actions (day, edit, print, export), then the paper. */
export async function renderDocument({ main, app, viewId }) {
  const state = app.docState(viewId);
  const known = (app.ws.views || []).find((v) => v.id === viewId);
  if (known && known.definition.date_field && !state.day) state.day = today();
  let result = null;
  let error = null;
  let shownDay = null; // the day `result` is for: the heading, the rows and the input always agree

  const args = () => ({ view: viewId, day: state.day, offset: offsetMinutes() });
  async function load() {
    try {
      const asked = args();
      result = await app.read('view_run', asked);
      shownDay = asked.day || null;
      error = null;
    } catch (err) {
      result = null;
      error = err;
    }
  }

  let distribution = null;
  async function loadDistribution() {
    const id = result && result.view.definition.distribution;
    distribution = null;
    if (!id || !(app.ws.views || []).some((v) => v.id === id)) return;
    distribution = await app.read('view_run', { view: id }).catch(() => null);
  }

  async function newReport() {
    const definition = result.view.definition;
    const values = {};
    for (const [name, value] of Object.entries(definition.new_record || {})) values[`${definition.table}.${name}`] = value;
    const day = today();
    const title = `${values[`${definition.table}.title`] || result.view.name} ${day}`;
    values[`${definition.table}.title`] = title;
    values[`${definition.table}.date`] = new Date().toISOString();
    try {
      const created = await app.write('create_record', { table: definition.table, values });
      state.record = created.id;
      app.navigate(`/w/${app.ws.id}/t/${definition.table}/r/${created.id}`);
    } catch (err) {
      app.notify(`No report started: ${err.message}`);
    }
  }

  async function exportAs(format) {
    try {
      const file = await app.read('view_export', { ...args(), format });
      downloadFile(file);
      app.notify(`Exported ${file.filename}.`);
    } catch (err) {
      app.notify(`Not exported: ${err.message}`);
    }
  }

  async function chooseDay(event) {
    const day = event.target.value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || day === state.day) return; // a whole date, once
    state.day = day;
    await load();
    draw();
  }

  function draw() {
    if (!result) {
      mount(main, h('h1', {}, 'This view cannot be shown'), error ? queryErrorBlock(error) : null,
        h('p', {}, 'Edit the view to fix it, or choose another document.'),
        h('button', { type: 'button', onclick: () => openViewBuilder({ app, viewId }) }, 'Edit view…'));
      return;
    }
    const definition = result.view.definition;
    const dayId = uid('doc-day');
    if (definition.date_field && !shownDay) { // first visit: today
      state.day = today();
      load().then(draw);
      return;
    }
    const dated = definition.date_field ? shownDay : null;
    setPageFurniture({ show: app.workspaceName(), title: result.view.name, right: dated ? longDay(dated) : '' });
    const saved = !result.view.module && viewId !== 'draft';
    const report = definition.layout === 'report';
    const reportRows = report ? result.groups.flatMap((g) => g.rows) : [];
    const chosen = report ? (reportRows.find((r) => r.id === state.record) || reportRows[0] || null) : null;
    const reportId = uid('doc-report');
    mount(main,
      h('div', { class: 'doc-actions no-print', role: 'toolbar', 'aria-label': `${result.view.name} actions` },
        definition.date_field ? h('span', { class: 'doc-day' },
          h('label', { for: dayId }, 'Day'),
          h('input', { id: dayId, type: 'date', value: dated, onchange: chooseDay, oninput: chooseDay })) : null,
        report && reportRows.length ? h('span', { class: 'doc-day' },
          h('label', { for: reportId }, 'Report'),
          h('select', {
            id: reportId, onchange: (event) => { state.record = event.target.value; draw(); },
          }, reportRows.map((r) => h('option', { value: r.id, selected: chosen && r.id === chosen.id }, r.title)))) : null,
        report ? h('button', { type: 'button', onclick: newReport }, `New ${result.view.name.toLowerCase()}`) : null,
        report && chosen ? h('a', { class: 'button', href: `#/w/${app.ws.id}/t/${definition.table}/r/${chosen.id}` }, 'Write in this report') : null,
        h('button', { type: 'button', class: 'primary', onclick: () => window.print() }, 'Print'),
        h('button', { type: 'button', onclick: () => exportAs('csv') }, 'Export CSV'),
        h('button', { type: 'button', onclick: () => exportAs('xlsx') }, 'Export Excel'),
        h('button', { type: 'button', onclick: () => openViewBuilder({ app, viewId, result }) }, result.view.module ? 'Change a copy…' : 'Edit view…'),
        saved ? h('button', {
          type: 'button', class: 'danger-button', onclick: async () => {
            const sure = await confirmDialog({ title: 'Delete this view?', message: `“${result.view.name}” will be removed for everyone in the workspace. The records it shows are not touched.`, confirm: 'Delete view', danger: true });
            if (!sure) return;
            try {
              await app.write('view_delete', { view: viewId });
              await app.refreshViews();
              app.navigate(`/w/${app.ws.id}`);
            } catch (err) {
              app.notify(`Not deleted: ${err.message}`);
            }
          },
        }, 'Delete view') : null),
      result.view.definition.description ? h('p', { class: 'doc-description no-print' }, result.view.definition.description) : null,
      report ? renderReport(result, chosen, { show: app.workspaceName(), distribution, who: app.displayName() })
        : renderPaper(result, {
          show: app.workspaceName(), day: dated, staged: Boolean(app.wsStatus && app.wsStatus.overlay), who: app.displayName(),
        }));
  }

  await load();
  await loadDistribution();
  draw();
  return {
    async refresh() {
      await load();
      await loadDistribution();
      draw();
    },
    focus() { main.querySelector('.doc-actions button, .doc-actions input')?.focus(); },
    onStatus() {},
  };
}

// --- the builder --------------------------------------------------------------------------------

const OPERATORS = [
  ['==', 'is'], ['!=', 'is not'], ['contains', 'contains'], ['starts', 'starts with'],
  ['>', 'is more than'], ['<', 'is less than'], ['on', 'is on the day'], ['exists', 'has a value'], ['empty', 'is empty'],
];

function literal(field, raw) {
  const text = String(raw ?? '').trim();
  if (field.type === 'number' && text !== '' && !Number.isNaN(Number(text))) return String(Number(text));
  if (field.type === 'boolean') return /^(yes|true|y|1)$/i.test(text) ? 'true' : 'false';
  if (field.type === 'timestamp' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(text)) {
    return JSON.stringify(new Date(text).toISOString());
  }
  return text.includes('"') ? `'${text.replace(/'/g, '')}'` : `"${text}"`;
}

function likeText(text) {
  return String(text).replace(/[\\%_]/g, (c) => `\\${c}`).replace(/"/g, '');
}

/** One condition of the builder -> query text. */
export function conditionText(field, op, value) {
  const path = field.path;
  switch (op) {
    case 'exists': return `${path} exists`;
    case 'empty': return `NOT ${path} exists`;
    case 'contains': return `${path} LIKE "%${likeText(value)}%"`;
    case 'starts': return `${path} LIKE "${likeText(value)}%"`;
    case '!=': return `NOT ${path} == ${literal(field, value)}`;
    case 'on': {
      const day = String(value || '').slice(0, 10);
      const [y, m, d] = day.split('-').map(Number);
      const start = new Date(y, m - 1, d);
      const end = new Date(y, m - 1, d + 1);
      return `${path} >= "${start.toISOString()}" AND ${path} < "${end.toISOString()}"`;
    }
    default: return `${path} ${op} ${literal(field, value)}`;
  }
}

/**
 * Make a new view (`table`) or change one (`viewId`; a module's view is saved as a copy). Columns, sort,
 * grouping and conditions are chosen from lists; the filter's query text is shown and can be typed.
 */
export async function openViewBuilder({ app, viewId = null, result = null, table = null, columns = null }) {
  const tables = app.ws.info.tables;
  let definition;
  let name;
  if (viewId) {
    const current = result || await app.read('view_run', { view: viewId });
    definition = { ...current.view.definition };
    name = current.view.module ? `${current.view.name} (my copy)` : current.view.name;
  } else {
    const tid = table || tables[0].id;
    definition = { table: tid, columns: (columns || []).map((path) => ({ path, label: '' })), sort: [], group_by: [], filter: '' };
    name = '';
  }
  const saveId = viewId && !viewId.includes('.') && viewId !== 'draft' ? viewId : null;
  const extra = Object.fromEntries(['expand', 'date_field', 'layout', 'chart', 'description']
    .filter((k) => definition[k] !== undefined).map((k) => [k, definition[k]]));
  let fields = await app.read('view_fields', { table: definition.table });
  const starter = () => fields.filter((f) => f.group === fields[0].group && f.type !== 'list').slice(0, 3).map((f) => f.path);
  if (!definition.columns.length) definition.columns = starter().map((path) => ({ path, label: '' }));
  let conditions = [];
  let handWritten = Boolean(definition.filter);

  openDialog({
    title: viewId ? (saveId ? 'Edit view' : 'Save a copy of this view') : 'New view',
    className: 'view-builder',
    body: (_dialog, close) => {
      const nameId = uid('vb-name');
      const tableId = uid('vb-table');
      const queryId = uid('vb-query');
      const nameInput = h('input', { id: nameId, type: 'text', value: name, required: true, autocomplete: 'off' });
      const tableSelect = h('select', { id: tableId, disabled: Boolean(viewId) },
        tables.map((t) => h('option', { value: t.id, selected: t.id === definition.table }, t.display_name)));
      const columnsBox = h('fieldset', { class: 'vb-columns' });
      const sortBox = h('div', { class: 'vb-sort' });
      const groupBox = h('div', { class: 'vb-group' });
      const conditionsBox = h('div', { class: 'vb-conditions' });
      const queryText = h('textarea', { id: queryId, rows: 2, spellcheck: false, value: definition.filter || '' });
      const message = h('div', { class: 'vb-message', 'aria-live': 'polite' });
      const chosen = new Set(definition.columns.map((c) => c.path));
      const labels = Object.fromEntries(definition.columns.filter((c) => c.label).map((c) => [c.path, c.label]));

      const fieldOptions = (selected, blank) => [
        blank ? h('option', { value: '' }, blank) : null,
        ...[...new Set(fields.map((f) => f.group))].map((group) => h('optgroup', { label: group },
          fields.filter((f) => f.group === group).map((f) => h('option', { value: f.path, selected: f.path === selected }, f.label)))),
      ];
      const byPath = (path) => fields.find((f) => f.path === path);

      function drawColumns() {
        const own = fields.filter((f) => f.group === fields[0].group || chosen.has(f.path));
        const more = fields.filter((f) => !own.includes(f));
        const moreId = uid('vb-more');
        const moreSelect = h('select', { id: moreId }, h('option', { value: '' }, 'Add a column from a linked record…'),
          ...[...new Set(more.map((f) => f.group))].map((group) => h('optgroup', { label: group },
            more.filter((f) => f.group === group).map((f) => h('option', { value: f.path }, f.label)))));
        moreSelect.addEventListener('change', () => {
          if (moreSelect.value) chosen.add(moreSelect.value);
          drawColumns();
        });
        mount(columnsBox, h('legend', {}, 'Columns'),
          h('div', { class: 'vb-checks' }, own.map((f) => {
            const id = uid('vb-col');
            return h('span', { class: 'vb-check' },
              h('input', {
                id, type: 'checkbox', checked: chosen.has(f.path), onchange: (event) => {
                  if (event.target.checked) chosen.add(f.path); else chosen.delete(f.path);
                },
              }), h('label', { for: id }, f.label));
          })),
          more.length ? h('span', {}, h('label', { for: moreId, class: 'visually-hidden' }, 'Add a column from a linked record'), moreSelect) : null);
      }

      function drawSortAndGroup() {
        const sort = definition.sort[0] || { path: '', descending: false };
        const sortId = uid('vb-sort');
        const dirId = uid('vb-dir');
        const groupId = uid('vb-groupby');
        const sortSelect = h('select', { id: sortId }, fieldOptions(sort.path, 'Creation order'));
        const dirSelect = h('select', { id: dirId }, h('option', { value: 'asc', selected: !sort.descending }, 'A to Z, 1 to 9'),
          h('option', { value: 'desc', selected: sort.descending }, 'Z to A, 9 to 1'));
        const onSort = () => {
          definition.sort = sortSelect.value ? [{ path: sortSelect.value, descending: dirSelect.value === 'desc' }, ...definition.sort.slice(1)] : [];
        };
        sortSelect.addEventListener('change', onSort);
        dirSelect.addEventListener('change', onSort);
        mount(sortBox, h('label', { for: sortId }, 'Sort by'), sortSelect, h('label', { for: dirId, class: 'visually-hidden' }, 'Direction'), dirSelect);
        const group = (definition.group_by[0] || {}).path || '';
        const groupSelect = h('select', { id: groupId }, fieldOptions(group, 'No groups'));
        groupSelect.addEventListener('change', () => {
          definition.group_by = groupSelect.value ? [{ path: groupSelect.value, label: '' }] : [];
        });
        mount(groupBox, h('label', { for: groupId }, 'Group by'), groupSelect);
      }

      function buildQuery() {
        const parts = conditions.filter((c) => c.path && (c.op === 'exists' || c.op === 'empty' || String(c.value).trim() !== ''))
          .map((c) => conditionText(byPath(c.path), c.op, c.value));
        queryText.value = parts.map((p) => (parts.length > 1 && p.includes(' AND ') ? `(${p})` : p)).join(' AND ');
        handWritten = false;
      }

      function drawConditions() {
        mount(conditionsBox, h('p', { class: 'vb-label' }, 'Show only records where'),
          handWritten && queryText.value ? h('p', { class: 'vb-note' }, 'The filter below was written as a query; adding a condition here replaces it.') : null,
          conditions.map((c, i) => {
            const fid = uid('vb-cf');
            const oid = uid('vb-co');
            const vid = uid('vb-cv');
            const field = byPath(c.path) || fields[0];
            const valueInput = h('input', {
              id: vid, type: field.type === 'timestamp' ? (c.op === 'on' ? 'date' : 'datetime-local') : 'text', value: c.value || '',
              hidden: c.op === 'exists' || c.op === 'empty',
              oninput: (event) => { c.value = event.target.value; buildQuery(); },
            });
            const fieldSelect = h('select', { id: fid, onchange: (event) => { c.path = event.target.value; buildQuery(); drawConditions(); } }, fieldOptions(c.path));
            const opSelect = h('select', { id: oid, onchange: (event) => { c.op = event.target.value; buildQuery(); drawConditions(); } },
              OPERATORS.filter(([op]) => op !== 'on' || field.type === 'timestamp').map(([op, words]) => h('option', { value: op, selected: op === c.op }, words)));
            return h('div', { class: 'vb-condition' },
              h('label', { for: fid, class: 'visually-hidden' }, `Condition ${i + 1}: field`), fieldSelect,
              h('label', { for: oid, class: 'visually-hidden' }, `Condition ${i + 1}: test`), opSelect,
              h('label', { for: vid, class: 'visually-hidden' }, `Condition ${i + 1}: value`), valueInput,
              h('button', { type: 'button', class: 'small', 'aria-label': `Remove condition ${i + 1}`, onclick: () => { conditions.splice(i, 1); buildQuery(); drawConditions(); } }, 'Remove'));
          }),
          h('button', {
            type: 'button', class: 'small', onclick: () => {
              conditions.push({ path: fields[0].path, op: '==', value: '' });
              buildQuery();
              drawConditions();
              conditionsBox.querySelector('.vb-condition:last-of-type select')?.focus();
            },
          }, 'Add condition'));
      }

      queryText.addEventListener('input', () => { handWritten = true; conditions = []; drawConditions(); });
      tableSelect.addEventListener('change', async () => {
        if (tableSelect.value === definition.table) return; // the same table: keep what is chosen
        definition = { table: tableSelect.value, columns: [], sort: [], group_by: [], filter: '' };
        fields = await app.read('view_fields', { table: definition.table });
        chosen.clear();
        for (const path of starter()) chosen.add(path);
        conditions = [];
        queryText.value = '';
        drawColumns();
        drawSortAndGroup();
        drawConditions();
      });

      const collect = () => ({
        ...extra,
        table: definition.table,
        columns: [...chosen].map((path) => ({ path, label: labels[path] || '' })),
        sort: definition.sort,
        group_by: definition.group_by,
        filter: queryText.value.trim(),
      });

      async function check() {
        try {
          const preview = await app.read('view_run', { definition: collect(), name: nameInput.value || 'Draft' });
          mount(message, h('p', { class: 'vb-ok' }, `${plural(preview.count, 'record')} match.`),
            preview.warnings.length ? h('ul', {}, preview.warnings.map((w) => h('li', {}, w))) : null);
          return true;
        } catch (err) {
          mount(message, queryErrorBlock(err));
          return false;
        }
      }

      drawColumns();
      drawSortAndGroup();
      drawConditions();
      return [
        h('form', {
          class: 'vb-form', onsubmit: async (event) => {
            event.preventDefault();
            if (!nameInput.value.trim()) {
              mount(message, h('p', { class: 'error', role: 'alert' }, 'Give the view a name.'));
              nameInput.focus();
              return;
            }
            if (!chosen.size && (extra.layout || 'table') === 'table') {
              mount(message, h('p', { class: 'error', role: 'alert' }, 'Choose at least one column.'));
              return;
            }
            if (!await check()) return;
            try {
              const saved = await app.write('view_save', { name: nameInput.value.trim(), definition: collect(), view: saveId });
              close();
              await app.refreshViews();
              app.navigate(`/w/${app.ws.id}/v/${saved.id}`);
            } catch (err) {
              mount(message, queryErrorBlock(err));
            }
          },
        },
        h('p', {}, h('label', { for: nameId }, 'View name'), nameInput),
        h('p', {}, h('label', { for: tableId }, 'Table'), tableSelect),
        columnsBox,
        h('div', { class: 'vb-row' }, sortBox, groupBox),
        conditionsBox,
        h('p', { class: 'vb-query' }, h('label', { for: queryId }, 'Filter as a query'), queryText,
          h('span', { class: 'hint' }, 'For example: department == "Lighting" · appears_in->target.act == 2')),
        message,
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'submit', class: 'primary' }, saveId ? 'Save view' : 'Save as new view'),
          h('button', { type: 'button', onclick: check }, 'Check'),
          h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel'))),
      ];
    },
  });
}
