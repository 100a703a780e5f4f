// CSV import into a staging overlay: the page reads the file (File API) and hands the text to the
// worker, which stages every row in a new overlay and answers with a preview ("This will create 47
// new Contacts. 3 match existing records."). A progress bar follows the rows as they are read.
// Then: commit them all (one signed bundle), review them in the grid first (staging stays on), or
// discard them all.
import { openDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';
import { commitStaging } from './staging.js';

const MAX_BYTES = 20 * 1024 * 1024;

/**
 * @param {object} app
 * @param {object} table table info
 */
export function openImportDialog(app, table) {
  const fileId = uid('csv-file');
  const progressId = uid('csv-progress');
  const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
  const bar = h('progress', { id: progressId, max: 1, value: 0 });
  const barText = h('span', { class: 'hint' });
  const progress = h('div', { class: 'import-progress', hidden: true },
    h('label', { for: progressId }, 'Reading rows'), bar, barText);
  const result = h('div', { class: 'import-result' });
  const fileInput = h('input', { id: fileId, type: 'file', accept: '.csv,text/csv,text/plain' });
  let overlay = null;
  let finished = false;

  const { close } = openDialog({
    title: `Import CSV into ${table.display_name}`,
    className: 'import-dialog',
    onClose: () => { app.progressListener = null; },
    body: (_dialog, close) => [
      h('p', { class: 'hint' }, 'Columns are matched to fields by name. Rows whose name matches an existing record update it; ',
        'the others become new records. Everything is staged first, so nothing is saved until you commit.'),
      h('form', {
        class: 'import-form',
        onsubmit: async (event) => {
          event.preventDefault();
          const file = fileInput.files && fileInput.files[0];
          if (!file) {
            status.textContent = 'Choose a CSV file first.';
            fileInput.focus();
            return;
          }
          if (file.size > MAX_BYTES) {
            status.textContent = `This file is ${(file.size / 1048576).toFixed(1)} MB; at most 20 MB can be imported at once.`;
            return;
          }
          const text = await file.text();
          progress.hidden = false;
          bar.removeAttribute('value'); // indeterminate until the first report
          barText.textContent = '';
          status.textContent = `Reading ${file.name}…`;
          mount(result);
          app.progressListener = ({ kind, done, total }) => {
            if (kind !== 'import') return;
            bar.max = Math.max(1, total);
            bar.value = done;
            barText.textContent = ` ${done} of ${total} rows`;
          };
          try {
            const preview = await app.write('import_csv', { table: table.id, text, name: `Import ${file.name}` });
            overlay = preview.overlay;
            showPreview(preview);
          } catch (err) {
            status.textContent = `Not imported: ${err.message}`;
            progress.hidden = true;
          } finally {
            app.progressListener = null;
          }
        },
      },
      h('label', { for: fileId }, 'CSV file'), fileInput,
      h('button', { type: 'submit', class: 'primary' }, 'Preview import')),
      progress,
      status,
      result,
      h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'close-button', onclick: close }, 'Close')),
    ],
  });

  function showPreview(preview) {
    status.textContent = preview.description;
    const errors = preview.errors.map(([row, message]) => h('li', {}, `Row ${row}: ${message}`));
    mount(result,
      h('p', { class: 'preview-summary' },
        h('strong', {}, `${preview.new} new`), ', ', h('strong', {}, `${preview.matched} match existing`),
        preview.unchanged ? ` (${preview.unchanged} with nothing to change)` : '',
        preview.error_count ? `, ${preview.error_count} skipped` : '', '.'),
      h('p', { class: 'hint' }, `Columns used: ${preview.columns.join(', ')}.`),
      errors.length ? h('details', {}, h('summary', {}, `Rows that could not be read (${preview.error_count})`), h('ul', {}, errors)) : null,
      h('div', { class: 'dialog-actions' },
        h('button', {
          type: 'button', class: 'primary',
          onclick: async () => {
            if (await commitStaging(app)) {
              finished = true;
              close();
            }
          },
        }, 'Commit import'),
        h('button', {
          type: 'button',
          onclick: () => {
            finished = true;
            close();
            app.notify('The import is staged: review it in the grid, fix anything in place, then Commit or Discard from the banner.');
          },
        }, 'Review in the grid first'),
        h('button', {
          type: 'button',
          onclick: async () => {
            await app.write('stage_discard', { overlay });
            finished = true;
            close();
            app.notify('Import discarded: nothing was saved.');
          },
        }, 'Discard import')));
    result.querySelector('button.primary').focus();
  }

  return { close, get finished() { return finished; } };
}
