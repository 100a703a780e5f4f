// Finds elements the way the browser tests name them (CSS, role + accessible name, label), for the
// WebDriver engine (tests/browser/wdpage.py). Playwright does this natively in Chromium; this is the
// same subset of its rules, so one test reads the same in both engines:
//   - role: implicit ARIA roles of the elements this app uses, or an explicit role attribute;
//     hidden elements (display:none, visibility:hidden, [hidden], aria-hidden) are never matched;
//   - accessible name: aria-labelledby, aria-label, <label>s of a control, alt/title, else the
//     text of the element's visible subtree (visually hidden text counts, as for screen readers);
//   - a string name matches case-insensitively as a substring, whitespace collapsed; `exact`
//     makes it a case-sensitive whole-string match; a regular expression is tested as is.
// Called as a function body: arguments[0] is the chain of steps, arguments[1] what to compute.
const [chain, want] = arguments;

const norm = (s) => String(s || '').replace(/\s+/g, ' ').trim();

function matches(text, m) {
  const t = norm(text);
  if (m === null || m === undefined) return true;
  if (m.regex !== undefined) return new RegExp(m.regex, m.flags).test(t);
  return m.exact ? t === m.text : t.toLowerCase().includes(norm(m.text).toLowerCase());
}

function hiddenByStyle(el) {
  if (el.closest('[aria-hidden="true"]')) return true;
  if (!el.isConnected) return true;
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || style.visibility === 'collapse') return true;
  return el.getClientRects().length === 0 && style.display !== 'contents';
}

/** Playwright's "visible": a non-empty box and not visibility:hidden. */
function visible(el) {
  if (!el.isConnected) return false;
  const style = getComputedStyle(el);
  if (style.visibility !== 'visible') return false;
  const rect = el.getBoundingClientRect();
  return rect.width > 0 && rect.height > 0;
}

function implicitRole(el) {
  const tag = el.localName;
  const type = (el.getAttribute('type') || 'text').toLowerCase();
  switch (tag) {
    case 'button': return 'button';
    case 'a': case 'area': return el.hasAttribute('href') ? 'link' : null;
    case 'h1': case 'h2': case 'h3': case 'h4': case 'h5': case 'h6': return 'heading';
    case 'dialog': return 'dialog';
    case 'nav': return 'navigation';
    case 'main': return 'main';
    case 'form': return hasName(el) ? 'form' : null;
    case 'section': return hasName(el) ? 'region' : null;
    case 'ul': case 'ol': return 'list';
    case 'li': return 'listitem';
    case 'table': return 'table';
    case 'tr': return 'row';
    case 'td': return 'cell';
    case 'th': return el.getAttribute('scope') === 'row' ? 'rowheader' : 'columnheader';
    case 'select': return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
    case 'option': return 'option';
    case 'textarea': return 'textbox';
    case 'progress': return 'progressbar';
    case 'output': return 'status';
    case 'fieldset': return 'group';
    case 'article': return 'article';
    case 'input':
      if (['button', 'submit', 'reset', 'image'].includes(type)) return 'button';
      if (type === 'checkbox') return 'checkbox';
      if (type === 'radio') return 'radio';
      if (type === 'search') return 'searchbox';
      if (type === 'range') return 'slider';
      if (type === 'number') return 'spinbutton';
      if (['text', 'email', 'tel', 'url', 'password'].includes(type)) return 'textbox';
      return null;
    default: return null;
  }
}

const role = (el) => el.getAttribute('role') || implicitRole(el);

function hasName(el) {
  return el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby');
}

/** The text a subtree contributes to a name: visible text, visually hidden text, alt; not aria-hidden. */
function subtreeText(node) {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent;
  if (node.nodeType !== Node.ELEMENT_NODE) return '';
  const el = node;
  if (el.getAttribute('aria-hidden') === 'true' || el.hidden) return '';
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden') return '';
  if (el.hasAttribute('aria-label')) return ` ${el.getAttribute('aria-label')} `;
  if (el.localName === 'img') return el.getAttribute('alt') || '';
  if (['input', 'select', 'textarea'].includes(el.localName)) return el.localName === 'input' && ['button', 'submit', 'reset'].includes(el.type) ? el.value : '';
  const block = style.display !== 'inline' && style.display !== 'contents';
  const inner = [...el.childNodes].map(subtreeText).join('');
  return block ? ` ${inner} ` : inner;
}

function accessibleName(el) {
  const by = el.getAttribute('aria-labelledby');
  if (by) {
    return by.split(/\s+/).map((id) => document.getElementById(id)).filter(Boolean)
      .map((ref) => norm(subtreeText(ref) || ref.textContent)).join(' ');
  }
  if (el.hasAttribute('aria-label')) return el.getAttribute('aria-label');
  if (el.labels && el.labels.length && el.localName !== 'button') return [...el.labels].map((l) => norm(subtreeText(l))).join(' ');
  if (el.localName === 'input' && ['button', 'submit', 'reset'].includes(el.type)) return el.value;
  if (el.localName === 'img') return el.getAttribute('alt') || '';
  const fromContent = ['button', 'link', 'heading', 'cell', 'columnheader', 'rowheader', 'option', 'listitem',
    'checkbox', 'radio', 'tab', 'menuitem', 'row', 'status', 'alert'];
  if (fromContent.includes(role(el))) {
    const text = norm(subtreeText(el));
    if (text) return text;
  }
  return el.getAttribute('title') || el.getAttribute('placeholder') || '';
}

/** Playwright's getByLabel: controls named by a <label>, aria-labelledby or aria-label. */
function labelOf(el) {
  const names = [];
  if (el.getAttribute('aria-labelledby')) names.push(accessibleName(el));
  if (el.hasAttribute('aria-label')) names.push(el.getAttribute('aria-label'));
  if (el.labels) for (const l of el.labels) names.push(norm(l.textContent));
  return names;
}

function unique(list) {
  return [...new Set(list)];
}

function within(roots, selector) {
  const found = [];
  for (const root of roots) found.push(...root.querySelectorAll(selector));
  return unique(found);
}

function step(els, s) {
  switch (s.kind) {
    case 'css': {
      let found = within(els, s.css);
      if (s.hasText) found = found.filter((e) => matches(e.textContent, s.hasText));
      if (s.has) found = found.filter((e) => resolve(s.has, [e]).length > 0);
      return found;
    }
    case 'role':
      return within(els, '*').filter((e) => role(e) === s.role && !hiddenByStyle(e) && matches(accessibleName(e), s.name));
    case 'label':
      return within(els, 'input, select, textarea, button, [role], [aria-label], [aria-labelledby]')
        .filter((e) => labelOf(e).some((n) => matches(n, s.text)));
    case 'text':
      return within(els, '*').filter((e) => matches(e.textContent, s.text)
        && ![...e.children].some((c) => matches(c.textContent, s.text)));
    case 'filter':
      return els.filter((e) => matches(e.textContent, s.hasText));
    case 'nth': {
      const i = s.index < 0 ? els.length + s.index : s.index;
      return els[i] ? [els[i]] : [];
    }
    default:
      throw new Error(`unknown step ${s.kind}`);
  }
}

function resolve(steps, start) {
  let els = start;
  for (const s of steps) els = step(els, s);
  return els;
}

const els = resolve(chain, [document]);
switch (want) {
  case 'elements': return els;
  case 'count': return els.length;
  case 'state': return els.map((e) => ({
    text: norm(e.textContent), innerText: e.innerText, visible: visible(e), className: typeof e.className === 'string' ? e.className : '',
    value: 'value' in e ? e.value : null, checked: 'checked' in e ? e.checked : null,
    focused: e === document.activeElement, attributes: Object.fromEntries([...e.attributes].map((a) => [a.name, a.value])),
    inViewport: (() => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth && r.width > 0; })(),
  }));
  default: throw new Error(`unknown request ${want}`);
}
