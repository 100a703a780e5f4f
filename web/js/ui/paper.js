// Paper: what every printed page carries (the show's name and the document's title at the top, "Page 2
// of 5" at the bottom, through CSS page-margin boxes), how a cell keeps a phone number or a cue number on
// one line, and how an exported file reaches the person (a download made in the page, no server).
import { formatTimestamp, formatValue } from './format.js';

const STYLE_ID = 'page-furniture';

const quoted = (text) => `"${String(text).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, ' ')}"`;

/** Title on every printed page, and page numbers. Engines without page-margin boxes print the title once. */
export function setPageFurniture({ show, title, right = '' }) {
  let style = document.getElementById(STYLE_ID);
  if (!style) {
    style = document.createElement('style');
    style.id = STYLE_ID;
    document.head.append(style);
  }
  style.textContent = `@page {
  margin: 16mm 12mm 16mm 12mm;
  @top-left { content: ${quoted(`${show} · ${title}`)}; font: 9pt system-ui, sans-serif; color: #333; }
  @top-right { content: ${quoted(right)}; font: 9pt system-ui, sans-serif; color: #333; }
  @bottom-center { content: "Page " counter(page) " of " counter(pages); font: 9pt system-ui, sans-serif; color: #333; }
}`;
}

export function clearPageFurniture() {
  const style = document.getElementById(STYLE_ID);
  if (style) style.remove();
}

/** Values that must never break across lines on paper: phone numbers, cue numbers, times, numbers. */
export function keepsTogether(column) {
  return column.nowrap || ['cue', 'number', 'timestamp', 'boolean'].includes(column.type);
}

/** A cell's text. `timeOnly`: the call sheet shows 09:30 under a heading that already says the day. */
export function cellText(column, value, { timeOnly = false } = {}) {
  if (value === null || value === undefined || value === '') return '';
  if (Array.isArray(value)) return value.map((v) => cellText(column, v, { timeOnly })).filter(Boolean).join(', ');
  if (column.type === 'timestamp' && timeOnly) return formatTimestamp(value).slice(11) || formatTimestamp(value);
  return formatValue(column, value);
}

/** Offer a file for download: {filename, mime, text} or {filename, mime, base64}. */
export function downloadFile(file) {
  let blob;
  if (file.base64 !== undefined) {
    const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
    blob = new Blob([bytes], { type: file.mime });
  } else {
    // a byte-order mark first: Excel then reads the CSV as UTF-8 (accents, "García")
    blob = new Blob(['\ufeff', file.text], { type: `${file.mime};charset=utf-8` });
  }
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = file.filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** "Monday 2 March 2026" from "2026-03-02" (a local day). */
export function longDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
}

/** Today as YYYY-MM-DD in this device's time zone. */
export function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
