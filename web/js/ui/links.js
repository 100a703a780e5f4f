// The record form's links: relationships to other records (edges with properties, e.g. a performer
// appears in a scene as a character) and ordered lists (e.g. the cues of a cue list, reordered by
// drag or Alt+Up/Down). Every link, unlink, property change and move is one signed bundle.
import { h, mount, uid } from './dom.js';
import { inputAttrs, inputValue } from './format.js';
import { reorderList } from './reorder.js';

function otherLink(app, other) {
  const table = other.tables[0];
  return table ? h('a', { href: `#${app.tableHref(table)}/r/${other.id}` }, other.label) : h('span', {}, other.label);
}

/** An input for one edge property; saves on change. */
function propertyInput(app, edge, prop, onSaved) {
  const id = uid('prop');
  const value = edge.properties[prop.name];
  const attrs = { id, ...inputAttrs(prop), 'aria-label': `${prop.display_name} (${edge.other.label})` };
  const input = prop.type === 'boolean' ? h('input', { ...attrs, checked: Boolean(value) }) : h('input', { ...attrs, value: inputValue(prop, value) });
  input.addEventListener('change', async () => {
    const raw = prop.type === 'boolean' ? input.checked : input.value;
    try {
      await app.write('set_edge_property', { edge: edge.id, key: prop.name, value: raw === '' ? null : raw });
      if (onSaved) onSaved();
    } catch (err) {
      app.notify(`Not saved: ${err.message}`);
    }
  });
  return h('span', { class: 'prop' }, h('label', { for: id, class: 'prop-label' }, prop.display_name), input);
}

function addForm(app, section, record, refresh) {
  if (!section.candidates.length) {
    if (section.ordered && section.edges.length) { // a record is in a list once: every one left is taken
      const names = section.other_tables.join(' / ');
      return h('p', { class: 'hint link-all-in' }, section.direction === 'out'
        ? `Already in every one of the ${names}.` : `All ${names} are in this list already.`);
    }
    return section.other_tables.length
      ? h('p', { class: 'hint' }, `No ${section.other_tables.join(' or ')} records to link yet.`) : null;
  }
  const selectId = uid('link-target');
  const outgoing = section.direction === 'out';
  const select = h('select', { id: selectId, required: true },
    h('option', { value: '' }, 'Choose…'),
    section.candidates.map((c) => h('option', { value: c.id }, `${c.label} (${c.table})`)));
  const props = section.ordered ? [] : section.properties.map((p) => {
    const id = uid('new-prop');
    return { p, input: h('input', { id, name: p.name, ...inputAttrs(p) }), id };
  });
  const verb = section.ordered ? (outgoing ? 'Add to list' : 'Add to this list') : 'Add link';
  return h('form', {
    class: 'link-form',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!select.value) {
        select.focus();
        return;
      }
      const properties = {};
      for (const { p, input } of props) {
        const raw = p.type === 'boolean' ? input.checked : input.value;
        if (raw !== '' && raw !== false) properties[p.name] = raw;
      }
      const [source, target] = outgoing ? [record, select.value] : [select.value, record];
      try {
        await app.write('link', { edge_type: section.edge_type, source, target, properties });
        await refresh(`add-${section.edge_type}-${section.direction}`);
      } catch (err) {
        app.notify(`Not linked: ${err.message}`);
      }
    },
  },
  h('label', { for: selectId }, outgoing ? `${section.display_name}:` : `Add from ${section.other_tables.join(' / ')}:`), select,
  props.map(({ p, input, id }) => h('span', { class: 'prop' }, h('label', { for: id, class: 'prop-label' }, p.display_name), input)),
  h('button', { type: 'submit', class: 'small', dataset: { focusKey: `add-${section.edge_type}-${section.direction}` } }, verb));
}

function removeButton(app, edge, section, refresh) {
  return h('button', {
    type: 'button', class: 'small', 'aria-label': `Remove ${edge.other.label} from ${section.heading}`,
    onclick: async () => {
      try {
        await app.write('unlink', { edge: edge.id });
        await refresh(`add-${section.edge_type}-${section.direction}`);
      } catch (err) {
        app.notify(`Not removed: ${err.message}`);
      }
    },
  }, 'Remove');
}

function renderSection(app, section, record, refresh, announce) {
  const headingId = uid('links-heading');
  let body;
  if (section.ordered && section.direction === 'in') {
    body = section.edges.length ? reorderList({
      label: section.heading,
      items: section.edges.map((e) => ({ id: e.id, label: e.other.label })),
      announce,
      content: (item, index) => {
        const edge = section.edges[index];
        return [h('span', { class: 'position', 'aria-hidden': 'true' }, `${index + 1}.`), otherLink(app, edge.other),
          h('span', { class: 'item-actions' }, removeButton(app, edge, section, refresh))];
      },
      onMove: async (id, where) => {
        try {
          await app.write('move_edge', { edge: id, ...where });
          await refresh(`item-${id}`);
        } catch (err) {
          app.notify(`Not moved: ${err.message}`);
        }
      },
    }) : h('p', { class: 'hint' }, 'Nothing in this list yet.');
  } else {
    body = section.edges.length ? h('ul', { class: 'link-list' }, section.edges.map((edge) => h('li', { class: 'link-item' },
      otherLink(app, edge.other),
      section.ordered ? null : section.properties.map((p) => propertyInput(app, edge, p)),
      removeButton(app, edge, section, refresh)))) : h('p', { class: 'hint' }, 'No links yet.');
  }
  return h('section', { class: 'link-section', 'aria-labelledby': headingId },
    h('h3', { id: headingId }, section.heading),
    section.description ? h('p', { class: 'hint' }, section.description) : null,
    body,
    addForm(app, section, record, refresh));
}

/**
 * Renders the links of `record` into `container` (a <section> of the record form).
 * @returns {Promise<{refresh: (focusKey?: string) => Promise<void>}>}
 */
export async function renderLinks(container, app, record) {
  const live = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const announce = (text) => { live.textContent = text; };
  const state = { shown: null };
  /** focusKey: what to focus after re-rendering; undefined: a change from elsewhere (re-render only if it matters). */
  async function refresh(focusKey) {
    const data = await app.read('links', { record });
    if (!container.isConnected && state.shown !== null) return; // the form is gone
    const signature = JSON.stringify(data.sections);
    if (focusKey === undefined && signature === state.shown) return;
    const typing = focusKey === undefined && container.contains(document.activeElement)
      && document.activeElement.matches('input, select');
    if (typing) return; // never re-render under someone typing or choosing
    state.shown = signature;
    const headingId = 'links-title';
    mount(container,
      h('h2', { id: headingId }, 'Links'),
      data.sections.length
        ? data.sections.map((s) => renderSection(app, s, record, refresh, announce))
        : h('p', { class: 'hint' }, 'This record\'s tables have no relationships to other records.'),
      live);
    if (focusKey) {
      const target = focusKey.startsWith('item-')
        ? container.querySelector(`li[data-id="${focusKey.slice(5)}"]`)
        : container.querySelector(`[data-focus-key="${focusKey}"]`);
      if (target) target.focus();
    }
  }
  await refresh(null);
  return { refresh };
}
