// Copy, paste, fill down and clear for blocks of cells, the way spreadsheets do it: copied blocks
// are tab-separated text (what Google Sheets and Excel put on the clipboard and read back), pasted
// blocks are checked whole by the worker and written all or nothing, and a large paste is staged for
// review instead of saved at once. Nothing is dropped: a cell that cannot be pasted stops the paste
// and is listed with the reason.
import { openDialog } from './dialog.js';
import { h } from './dom.js';
import { plural } from './format.js';
import { commitStaging, discardStaging } from './staging.js';

/** One cell as spreadsheets write it: quoted when it holds a tab, a line break or a quote. */
function tsvCell(text) {
  return /[\t\r\n"]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of cell texts -> TSV (no trailing line break, as Sheets copies). */
export function toTsv(rows) {
  return rows.map((cells) => cells.map(tsvCell).join('\t')).join('\r\n');
}

/** About how many rows a TSV block has (quoted line breaks make it an overestimate, never under). */
export function roughRowCount(text) {
  const trimmed = text.replace(/(\r\n|\r|\n)$/, '');
  return trimmed ? trimmed.split(/\r\n|\r|\n/).length : 0;
}


/** "2 pasted rows cannot be pasted here (3 problems)": rows counted once however many of their cells
 * are wrong, and the problems counted too when there are more of them than rows. */
export function problemCount(problems) {
  const rows = new Set(problems.map((p) => p.line)).size;
  const said = `${plural(rows, 'pasted row')} cannot be pasted here`;
  if (problems.length === rows) return said;
  return rows === 1 ? `${said}: it has ${plural(problems.length, 'problem')}` : `${said} (${plural(problems.length, 'problem')})`;
}

/** The paste was refused: every cell that could not be pasted, with why. Nothing was written. */
export function showPasteProblems(problems) {
  openDialog({
    title: 'Nothing was pasted',
    className: 'paste-dialog',
    body: (_dialog, close) => [
      h('p', { class: 'paste-problem-count' }, `${problemCount(problems)}, so nothing was changed. `,
        'Fix them in the copied cells (or pick another place) and paste again.'),
      h('ul', { class: 'problem-list' }, problems.slice(0, 100).map((p) => h('li', {},
        h('strong', {}, `Pasted row ${p.line}: `), p.message, p.content ? h('span', { class: 'problem-content' }, ` — ${p.content}`) : null))),
      problems.length > 100 ? h('p', { class: 'hint' }, `…and ${problems.length - 100} more.`) : null,
      h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'primary close-button', onclick: close }, 'OK')),
    ],
  });
}

/** A large paste waits for review: say what it holds, and offer save, review or discard. */
export function showStagedPaste(app, result) {
  const parts = [];
  if (result.created.length) parts.push(plural(result.created.length, 'new record'));
  if (result.records) parts.push(`${plural(result.changed, 'change')} to ${plural(result.records, 'record')}`);
  openDialog({
    title: 'Your paste is waiting for review',
    className: 'paste-dialog',
    initial: 'button.primary',
    body: (_dialog, close) => [
      h('p', { class: 'preview-summary', role: 'status' }, `${plural(result.rows, 'row')} pasted: ${parts.join(' and ')}.`),
      h('p', {}, 'A paste this large is kept on this device until you save it. Review it in the grid (changed cells are ',
        'tinted, new records marked “new”), fix anything in place, then save it or discard it.'),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'primary', onclick: async () => { if (await commitStaging(app)) close(); } }, 'Save paste'),
        h('button', { type: 'button', onclick: close }, 'Review in the grid first'),
        h('button', { type: 'button', onclick: async () => { if (await discardStaging(app, result.overlay, 'the paste')) close(); } }, 'Discard paste')),
    ],
  });
}
