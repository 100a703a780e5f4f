// Typing that saves itself (ui/typing.js) is also kept in this device's localStorage from the first
// keystroke until its save is confirmed. Closing the tab, the browser killing the worker, or a crash
// in the middle of a burst would otherwise lose what was typed since the last pause; the next time
// the record is opened, ui/form.js finds the leftover and puts it back (or asks, if the text has
// changed since). localStorage because it is written synchronously: nothing is pending when the page dies.

const PREFIX = 'openprod.typing.';

const key = (workspace, record, field) => `${PREFIX}${workspace}.${record}.${field}`;

/**
 * What was typed in one field and not yet confirmed saved.
 * @typedef {{base: string, value: string, at: number}} Draft
 */

/** Remember `value`, typed over `base` (the text as last saved). */
export function keepDraft(workspace, record, field, base, value) {
  try {
    localStorage.setItem(key(workspace, record, field), JSON.stringify({ base, value, at: Date.now() }));
  } catch (err) { // storage full or refused: the typing is still saved the usual way
    console.warn('typing not kept on this device', err);
  }
}

/** @returns {Draft|null} */
export function readDraft(workspace, record, field) {
  const raw = localStorage.getItem(key(workspace, record, field));
  if (!raw) return null;
  try {
    const draft = JSON.parse(raw);
    if (typeof draft.base === 'string' && typeof draft.value === 'string') return draft;
  } catch (err) {
    console.warn('unreadable kept typing dropped', err);
  }
  dropDraft(workspace, record, field);
  return null;
}

/** Forget the draft. */
export function dropDraft(workspace, record, field) {
  localStorage.removeItem(key(workspace, record, field));
}

/**
 * A save of `saved` was confirmed and the field's text is now `base`: forget the draft, or, if more
 * was typed meanwhile, keep that typing as an edit of `base`.
 */
export function settleDraft(workspace, record, field, saved, base) {
  const draft = readDraft(workspace, record, field);
  if (!draft) return;
  if (draft.value === saved) dropDraft(workspace, record, field);
  else keepDraft(workspace, record, field, base, draft.value);
}
