// How field values are shown, edited and compared, by field type.

const pad = (n) => String(n).padStart(2, '0');

/** Text shown in a cell or on paper. */
export function formatValue(field, value) {
  if (value === undefined || value === null || value === '') return '';
  switch (field.type) {
    case 'boolean':
      return value ? 'Yes' : 'No';
    case 'timestamp':
      return formatTimestamp(value);
    case 'number':
    case 'cue':
      return String(value);
    case 'list':
      return Array.isArray(value) ? value.join(', ') : String(value);
    case 'blob': // [hash, name, size, media type]: the file's name
      return Array.isArray(value) ? String(value[1]) : String(value);
    default:
      return String(value);
  }
}

/** ISO text from the core -> "2026-09-21 19:30" (UTC values shown in local time). */
export function formatTimestamp(value) {
  const text = String(value);
  if (text.endsWith('Z')) {
    const d = new Date(text);
    if (!Number.isNaN(d.getTime())) {
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
    }
  }
  return text.replace('T', ' ').replace(/:00(\.000)?$/, '');
}

/** The value an <input> starts with when editing. */
export function inputValue(field, value) {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.join(', ');
  if (field.type === 'timestamp') {
    const text = String(value);
    if (text.endsWith('Z')) {
      const d = new Date(text);
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    }
    return text.slice(0, 16);
  }
  return String(value);
}

/** Attributes for the editor <input> of a field. */
export function inputAttrs(field) {
  switch (field.type) {
    case 'number':
      return { type: 'text', inputmode: 'decimal', autocomplete: 'off' };
    case 'cue':
      return { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters' };
    case 'timestamp':
      return { type: 'datetime-local' };
    case 'boolean':
      return { type: 'checkbox' };
    default:
      return { type: 'text', autocomplete: 'off', spellcheck: 'false' };
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

// Cue numbers in theatre order: the same key as the core's `openprod.cues.cue_sort_key` (one
// order everywhere; tests/browser/test_grid.py compares the two). See core/openprod/cues.py.
const CUE_RE = /^(?:([A-Za-z]{1,3}) ?)??(\d{1,9})(?:\.(\d{1,6}))?(?: ?([A-Za-z]{1,3}))?$/;
const LETTERS_RE = /^[A-Za-z]{1,3}$/;
const padEnd = (s, n) => s + ' '.repeat(Math.max(0, n - s.length));

function cueText(value) {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/** Sort key of a cue number (a string compared by code points); not-cues sort after all cues. */
export function cueSortKey(value) {
  const text = cueText(value) ?? '';
  let key = '~';
  const m = text.length <= 20 ? CUE_RE.exec(text) : null;
  if (m) {
    const prefix = (m[1] || '').toUpperCase();
    const frac = (m[3] || '').replace(/0+$/, '');
    const suffix = (m[4] || '').toUpperCase();
    key = `${padEnd(prefix, 3)}|0${m[2].replace(/^0+(?=\d)/, '').padStart(9, '0')}${padEnd(frac, 6)}|${suffix.length}${padEnd(suffix, 3)}`;
  } else if (LETTERS_RE.test(text)) {
    key = `${' '.repeat(3)}|1${' '.repeat(15)}|${text.length}${padEnd(text.toUpperCase(), 3)}`;
  }
  return `${key}|${String(text.length).padStart(2, '0')}${text}`;
}

const byCodePoint = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** Sort order for a column; empty values always last. */
export function compareValues(field, a, b) {
  const emptyA = a === undefined || a === null || a === '';
  const emptyB = b === undefined || b === null || b === '';
  if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1;
  if (field.type === 'number') return a - b;
  if (field.type === 'cue') return byCodePoint(cueSortKey(a), cueSortKey(b));
  if (field.type === 'boolean') return (a ? 0 : 1) - (b ? 0 : 1);
  return collator.compare(String(a), String(b));
}

/** A key that sorts like compareValues (computed once per row when a column is sorted). */
export function sortKey(field, value) {
  if (value === undefined || value === null || value === '') return null;
  if (field.type === 'cue') return cueSortKey(value);
  if (field.type === 'number') return Number(value);
  if (field.type === 'boolean') return value ? 0 : 1;
  return String(value);
}

// One way to write a date and one a time, on every screen (user16 saw four mixed): the browser's
// language decides the order, these styles decide the rest ("Dec 7, 2026", "7:05 PM" in English).
const DATE = { dateStyle: 'medium' };
const TIME = { timeStyle: 'short' };

const asDate = (when) => (when instanceof Date ? when : new Date(when));

/** A day: "Dec 7, 2026". */
export function formatDate(when) {
  return asDate(when).toLocaleDateString(undefined, DATE);
}

/** A time of day: "7:05 PM". */
export function formatTime(when) {
  return asDate(when).toLocaleTimeString(undefined, TIME);
}

/** A moment: the date and the time above ("Dec 7, 2026, 7:05 PM"). */
export function formatDateTime(when) {
  return asDate(when).toLocaleString(undefined, { ...DATE, ...TIME });
}

/** "1 row", "2 rows", "1,000 rows": a count with its noun agreeing (`many` for irregular plurals). */
export function plural(n, one, many = `${one}s`) {
  return `${Number(n || 0).toLocaleString()} ${n === 1 ? one : many}`;
}

/** "2026-11-24T05:46:27.295Z/1" (an HLC shown by the core) -> local date and time. */
export function formatWhen(when) {
  const iso = String(when).split('/')[0];
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(when);
  return formatDateTime(d);
}
