// Import rows from a CSV or tab-separated file, or from text pasted in: first checked, then staged ("waiting for review").
// "Check" asks the worker what the import would do and writes nothing: which columns go where (and
// which are not imported), every row that cannot be imported with its line, content and reason, rows
// that match existing records with the changes they would make, and the new records. Rows with
// problems block the import until the file is fixed: nothing is dropped or merged silently. A clean
// check offers: commit (staged, then saved as one change), review in the grid first, or cancel.
import { openDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';
import { plural } from './format.js';
import { commitStaging } from './staging.js';

const MAX_BYTES = 20 * 1024 * 1024;
const NO_MATCH = '__none__';

function base64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function shown(value) {
  if (value === null || value === undefined || value === '') return h('em', {}, 'empty');
  return h('q', {}, typeof value === 'boolean' ? (value ? 'Yes' : 'No') : String(value));
}

/**
 * @param {object} app
 * @param {object} table table info
 */
export function openImportDialog(app, table) {
  const fileId = uid('import-file');
  const textId = uid('import-text');
  const matchId = uid('import-match');
  const progressId = uid('import-progress');
  const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
  const bar = h('progress', { id: progressId, max: 1, value: 0 });
  const barLabel = h('label', { for: progressId }, 'Checking rows');
  const barText = h('span', { class: 'hint' });
  const progress = h('div', { class: 'import-progress', hidden: true }, barLabel, bar, barText);
  const result = h('div', { class: 'import-result' });
  const fileInput = h('input', { id: fileId, type: 'file', accept: '.csv,.tsv,.txt,text/csv,text/tab-separated-values,text/plain' });
  const textInput = h('textarea', {
    id: textId, rows: 3, spellcheck: 'false', placeholder: 'Name\tRole\tPhone\nJane Doe\tStage Manager\t555-0101',
  });
  const matchSelect = h('select', { id: matchId });
  let source = null; // {data} or {text}, and a name
  let matchOn = null; // null: the default (the name field)
  let finished = false;

  const { close } = openDialog({
    title: `Import into ${table.display_name}`,
    className: 'import-dialog',
    onClose: () => { app.progressListener = null; },
    body: (_dialog, closeDialog) => [
      h('p', { class: 'hint' }, 'Columns go to the fields with the same name. A row with the same Name as a record ',
        'you already have (or the same value in the field you choose below) updates that record; the other rows ',
        'become new records. Nothing changes until you import.'),
      h('form', {
        class: 'import-form',
        onsubmit: async (event) => {
          event.preventDefault();
          source = await readSource();
          if (source) await check();
        },
      },
      h('div', { class: 'import-source' },
        h('label', { for: fileId }, 'File (CSV or tab-separated)'), fileInput,
        h('label', { for: textId }, 'or paste rows here, with the column names first'), textInput),
      h('div', { class: 'import-match' }, h('label', { for: matchId }, 'Find records you already have by'), matchSelect),
      h('button', { type: 'submit', class: 'primary' }, 'Check')),
      progress,
      status,
      result,
      h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'close-button', onclick: closeDialog }, 'Close')),
    ],
  });
  for (const option of [h('option', { value: '' }, 'Name (the usual)')]) matchSelect.append(option);
  matchSelect.addEventListener('change', () => {
    matchOn = matchSelect.value === '' ? null : matchSelect.value === NO_MATCH ? [] : [matchSelect.value];
    if (source) check();
  });

  async function readSource() {
    const file = fileInput.files && fileInput.files[0];
    const text = textInput.value;
    if (!file && !text.trim()) {
      status.textContent = 'Choose a file, or paste rows into the box, first.';
      fileInput.focus();
      return null;
    }
    if (file) {
      if (file.size > MAX_BYTES) {
        status.textContent = `This file is ${(file.size / 1048576).toFixed(1)} MB; at most 20 MB can be imported at once.`;
        return null;
      }
      // bytes, not text: the worker detects the encoding (UTF-8, Windows-1252...) and reports what it cannot read
      return { args: { data: base64(new Uint8Array(await file.arrayBuffer())) }, name: file.name };
    }
    return { args: { text }, name: 'pasted rows' };
  }

  function watch(label) {
    progress.hidden = false;
    barLabel.textContent = label;
    bar.removeAttribute('value'); // indeterminate until the first report
    barText.textContent = '';
    app.progressListener = ({ done, total }) => {
      bar.max = Math.max(1, total);
      bar.value = done;
      barText.textContent = ` ${done.toLocaleString()} of ${total.toLocaleString()} rows`;
    };
  }

  async function check() {
    mount(result);
    status.textContent = `Checking ${source.name}…`;
    watch('Checking rows');
    try {
      const plan = await app.read('import_check', { table: table.id, ...source.args, match_on: matchOn });
      fillMatchOptions(plan);
      showPlan(plan);
    } catch (err) {
      status.textContent = `Not imported: ${err.message}`;
      progress.hidden = true;
    } finally {
      app.progressListener = null;
    }
  }

  function fillMatchOptions(plan) {
    const chosen = plan.match_on.length ? plan.match_on[0] : NO_MATCH;
    mount(matchSelect,
      plan.match_options.map((o) => h('option', { value: o.field, selected: o.field === chosen }, o.field_name)),
      h('option', { value: NO_MATCH, selected: chosen === NO_MATCH }, 'Nothing: make every row a new record'));
  }

  function showPlan(plan) {
    status.textContent = plan.problem_count
      ? `${plural(plan.problem_count, 'row')} cannot be imported as ${plan.problem_count === 1 ? 'it is' : 'they are'}.`
      : plan.description;
    const facts = h('p', { class: 'hint import-facts' },
      `${source.name}: ${plan.problem_count ? '' : `${plural(plan.rows, 'row')}, `}read as ${plan.encoding}, separated by ${plan.delimiter}s. `,
      plan.match_names.length ? `Records you already have are found by ${plan.match_names.join(' and ')}.` : 'Every row becomes a new record.');
    const columns = h('p', { class: 'import-columns' }, h('strong', {}, 'Columns: '),
      plan.columns.map((c) => (c.column.toLowerCase() === c.field_name.toLowerCase() ? c.field_name : `${c.column} → ${c.field_name}`)).join(', '),
      plan.skipped_columns.length ? h('span', { class: 'skipped' }, '. Not imported: ',
        plan.skipped_columns.map((c) => `“${c.column || '(no name)'}” (${c.reason})`).join('; ')) : null, '.');
    if (plan.problem_count) {
      mount(result, facts, columns,
        h('section', { class: 'import-problems', 'aria-labelledby': 'import-problems-title' },
          h('h3', { id: 'import-problems-title' }, `Rows that cannot be imported (${plan.problem_count})`),
          h('ul', { class: 'problem-list' }, plan.problems.map((p) => h('li', {},
            h('strong', {}, `Line ${p.line}: `), p.message, '.',
            p.content ? h('code', { class: 'problem-content' }, p.content) : null))),
          plan.problem_count > plan.problems.length ? h('p', { class: 'hint' }, `…and ${plan.problem_count - plan.problems.length} more.`) : null,
          h('p', {}, h('strong', {}, 'Nothing has been imported. '), 'Fix these rows in the file, then choose it again and check.')));
      progress.hidden = true;
      result.querySelector('h3').setAttribute('tabindex', '-1');
      result.querySelector('h3').focus();
      return;
    }
    const changing = plan.matches.filter((m) => m.changes.length);
    mount(result, facts, columns,
      h('p', { class: 'preview-summary' },
        h('strong', {}, plural(plan.new, 'new record')), ', ',
        h('strong', {}, plural(plan.matched, 'row matches a record', 'rows match records')), ' you already have',
        plan.unchanged ? ` (${plural(plan.unchanged, 'of them has', 'of them have')} nothing to change)` : '', '.'),
      changing.length ? h('section', { class: 'import-changes', 'aria-labelledby': 'import-changes-title' },
        h('h3', { id: 'import-changes-title' }, `Changes to existing records (${changing.length})`),
        h('ul', { class: 'change-list' }, changing.map((m) => h('li', {},
          h('strong', {}, m.label), h('span', { class: 'hint' }, ` (line ${m.line})`), ': ',
          m.changes.map((c, i) => [i ? '; ' : '', `${c.field_name} `, shown(c.old), ' → ', shown(c.new)])))),
        h('p', { class: 'hint' }, 'Empty cells never clear a value.')) : null,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'primary', onclick: () => stage(true) }, 'Import now'),
        h('button', { type: 'button', onclick: () => stage(false) }, 'Review in the grid first'),
        h('button', { type: 'button', onclick: () => { finished = true; close(); } }, 'Cancel')));
    result.querySelector('button.primary').focus();
  }

  async function stage(commit) {
    watch(commit ? 'Importing rows' : 'Preparing rows for review');
    status.textContent = commit ? 'Importing…' : 'Preparing the rows for review…';
    try {
      await app.write('import_csv', { table: table.id, ...source.args, match_on: matchOn, name: `Import ${source.name}` });
    } catch (err) {
      status.textContent = `Not imported: ${err.message}`;
      return;
    } finally {
      app.progressListener = null;
    }
    if (commit && !(await commitStaging(app, 'Imported: the rows are saved and will be shared.'))) {
      status.textContent = 'Not imported yet: see the message, then choose Save all in the Review before saving banner.';
      return;
    }
    finished = true;
    close();
    if (!commit) app.notify('The import is waiting for review: look it over in the grid, fix anything in place, then Save all or Discard from the banner.');
  }

  return { close, get finished() { return finished; } };
}
