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
      return typeof value === 'number' ? String(value) : String(value);
    case 'list':
      return Array.isArray(value) ? value.join(', ') : String(value);
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
    case 'timestamp':
      return { type: 'datetime-local' };
    case 'boolean':
      return { type: 'checkbox' };
    default:
      return { type: 'text', autocomplete: 'off', spellcheck: 'false' };
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Sort order for a column; empty values always last. */
export function compareValues(field, a, b) {
  const emptyA = a === undefined || a === null || a === '';
  const emptyB = b === undefined || b === null || b === '';
  if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1;
  if (field.type === 'number') return a - b;
  if (field.type === 'boolean') return (a ? 0 : 1) - (b ? 0 : 1);
  return collator.compare(String(a), String(b));
}

/** "2026-11-24T05:46:27.295Z/1" (an HLC shown by the core) -> local date and time. */
export function formatWhen(when) {
  const iso = String(when).split('/')[0];
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(when);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}
