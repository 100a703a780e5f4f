// The record form's identity section: fields that show another record's value (picked with a search,
// shown with where they come from, or why they cannot show it), "Same person as…" (two records merged
// after showing field by field what the result will be, conflicts included) and "Split into two…".
// Each is one change, with Undo beside what happened (a merge is undone by splitting it back out).
import { openDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';

function shown(value) {
  if (value === null || value === undefined || value === '') return h('em', { class: 'empty' }, 'empty');
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  return String(value);
}

function recordHref(app, rec) {
  const table = rec.tables && rec.tables[0];
  return table ? `#${app.tableHref(table)}/r/${rec.id}` : null;
}

/** A search box and the records it finds; `onPick(record)` when one is chosen. */
function recordSearch(app, { exclude, type, label, onPick }) {
  const input = h('input', { type: 'search', id: uid('find'), autocomplete: 'off', placeholder: 'Type part of a name' });
  const results = h('ul', { class: 'found-list', 'aria-live': 'polite' });
  let asked = 0;
  const search = async () => {
    const n = ++asked;
    const { records, more } = await app.read('find_records', { search: input.value, exclude, type });
    if (n !== asked) return; // a later search is on its way
    mount(results, records.length ? records.map((r) => h('li', {},
      h('button', { type: 'button', class: 'found', onclick: () => onPick(r) },
        h('span', { class: 'found-label' }, r.label), h('span', { class: 'hint' }, r.table_names.join(', ')))))
      : h('li', { class: 'hint' }, 'No record matches.'),
    more ? h('li', { class: 'hint' }, 'More records match: type more of the name.') : null);
  };
  input.addEventListener('input', () => { search().catch((err) => app.notify(err.message)); });
  search().catch((err) => app.notify(err.message));
  return h('div', { class: 'record-search' }, h('label', { for: input.id }, label), input, results);
}

function referenceDialog(app, section, recordId, fields) {
  openDialog({
    title: 'Show another record\'s value',
    className: 'flow-dialog reference-dialog',
    body: (_dialog, close) => {
      const status = h('p', { class: 'form-status', role: 'status' });
      const field = h('select', { id: uid('ref-field') }, fields.map((f) => h('option', { value: f.id, dataset: { type: f.type } }, f.display_name)));
      const pickSlot = h('div', {});
      const draw = () => {
        const type = field.selectedOptions[0].dataset.type;
        mount(pickSlot, recordSearch(app, {
          exclude: recordId, type, label: 'From which record?',
          onPick: (rec) => {
            const sourceField = h('select', { id: uid('ref-source') }, rec.fields.map((f) => h('option', { value: f.id },
              `${f.name} (${f.table_name}): ${f.value === null || f.value === undefined ? 'empty' : f.value}`)));
            mount(pickSlot,
              h('p', {}, 'From ', h('strong', {}, rec.label), ` (${rec.table_names.join(', ')})`),
              h('div', { class: 'rule-row' }, h('label', { for: sourceField.id }, 'Its field'), sourceField),
              h('div', { class: 'dialog-actions' },
                h('button', {
                  type: 'button', class: 'primary',
                  onclick: async () => {
                    try {
                      await app.write('set_reference', { record: recordId, field: field.value, source: rec.id, source_field: sourceField.value });
                      close();
                      section.said = `${field.selectedOptions[0].textContent} now shows ${rec.label}'s ${sourceField.selectedOptions[0].textContent.split(' (')[0]}.`;
                      await section.refresh();
                    } catch (err) {
                      status.textContent = `Nothing was changed: ${err.message}`;
                    }
                  },
                }, 'Show it'),
                h('button', { type: 'button', onclick: draw }, 'Choose another record')));
          },
        }));
      };
      field.addEventListener('change', draw);
      draw();
      return [h('div', { class: 'rule-row' }, h('label', { for: field.id }, 'Field of this record'), field), pickSlot,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel')), status];
    },
  });
}

function mergePreview(app, section, p, close, status) {
  const [mine, theirs] = p.labels;
  const same = mine === theirs;
  const heads = same ? ['This record', 'The other record'] : [mine, theirs];
  return [
    h('p', {}, `The merged record will be in ${p.tables[2].join(' and ')}.`
      + (p.conflicts ? ` ${p.conflicts === 1 ? 'One field holds' : `${p.conflicts} fields hold`} two different values: `
        + 'the merged record shows the more recent one, and the field is marked for someone to choose (Conflicts).' : ' No field disagrees.')),
    h('div', { class: 'side-scroll' }, h('table', { class: 'side-by-side merge-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, heads[0]),
        h('th', { scope: 'col' }, heads[1]), h('th', { scope: 'col' }, 'Merged record shows'))),
      h('tbody', {}, p.fields.map((f) => h('tr', { class: f.conflict ? 'differ' : '' },
        h('th', { scope: 'row' }, f.name, h('span', { class: 'hint' }, ` (${f.table})`)),
        h('td', {}, shown(f.values[0])), h('td', {}, shown(f.values[1])),
        h('td', {}, shown(f.result), f.conflict ? h('span', { class: 'choose' }, ' ⚑ to choose') : null)))))),
    h('div', { class: 'dialog-actions' },
      h('button', {
        type: 'button', class: 'primary',
        onclick: async () => {
          status.textContent = 'Saving…';
          try {
            const result = await app.write('merge_records', { record: p.records[0], other: p.records[1] });
            close();
            section.said = `Merged into one record${result.conflicts ? `: ${result.conflicts} ${result.conflicts === 1 ? 'field' : 'fields'} to choose in Conflicts` : ''}.`;
            section.undoable = true;
            if (result.survivor !== section.record) {
              section.record = result.survivor;
              app.navigate(`${app.tableHref(result.tables[0])}/r/${result.survivor}`);
              return;
            }
            await section.refresh();
          } catch (err) {
            status.textContent = `Nothing was changed: ${err.message}`;
          }
        },
      }, 'Merge them')),
    status,
  ];
}

function mergeDialog(app, section, recordId) {
  openDialog({
    title: 'Same person as…',
    className: 'flow-dialog merge-dialog',
    body: (dialog, close) => {
      const status = h('p', { class: 'form-status', role: 'status' });
      const slot = h('div', {});
      const pick = () => mount(slot, recordSearch(app, {
        exclude: recordId, label: 'Which record is the same person or thing?',
        onPick: async (rec) => {
          try {
            const p = await app.read('merge_preview', { record: recordId, other: rec.id });
            mount(slot, h('p', { class: 'hint' }, 'Nothing is merged until you press Merge them.'),
              ...mergePreview(app, section, p, close, status).filter(Boolean),
              h('button', { type: 'button', onclick: pick }, 'Choose another record'));
          } catch (err) {
            status.textContent = `Cannot merge these: ${err.message}`;
          }
        },
      }));
      pick();
      return [slot, h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel')), status];
    },
  });
}

function splitDialog(app, section, record, tables, fields) {
  openDialog({
    title: `Split ${record.label} into two records`,
    className: 'flow-dialog split-dialog',
    body: (_dialog, close) => {
      const status = h('p', { class: 'form-status', role: 'status' });
      const choices = record.tables.map((t) => {
        const name = (tables.find((x) => x.id === t) || { display_name: t }).display_name;
        const select = h('select', { id: uid('split-table'), dataset: { table: t } },
          h('option', { value: 'stay' }, 'stays with this record'),
          h('option', { value: 'share' }, 'both records are in it'),
          h('option', { value: 'move' }, 'moves to the new record'));
        return h('div', { class: 'rule-row' }, h('label', { for: select.id }, name), select);
      });
      const withValue = fields.filter((f) => record.values[f.id] !== null && record.values[f.id] !== undefined);
      const repeated = (f) => withValue.filter((g) => g.display_name === f.display_name).length > 1;
      const tableOf = (f) => (tables.find((t) => t.fields.some((g) => g.id === f.id)) || { display_name: '' }).display_name;
      const copies = withValue.map((f) => {
        const id = uid('split-copy');
        const name = repeated(f) ? `${f.display_name} (${tableOf(f)})` : f.display_name;
        return h('span', { class: 'check' }, h('input', { type: 'checkbox', id, value: f.id, checked: true }),
          h('label', { for: id }, `${name}: ${record.values[f.id]}`));
      });
      return [
        h('p', {}, 'A new record is made; choose where each table goes and what it starts with. This record keeps its values. '
          + 'The two are never suggested as the same again.'),
        h('fieldset', {}, h('legend', {}, 'Tables'), choices),
        copies.length ? h('fieldset', { class: 'match-fields' }, h('legend', {}, 'The new record starts with'), copies) : h('span', { hidden: true }),
        h('div', { class: 'dialog-actions' },
          h('button', {
            type: 'button', class: 'primary',
            onclick: async () => {
              const picked = (v) => choices.map((c) => c.querySelector('select')).filter((s) => s.value === v).map((s) => s.dataset.table);
              const copy = copies.map((c) => c.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
              try {
                const result = await app.write('split_record', { record: record.id, moves: picked('move'), shares: picked('share'), copy });
                close();
                section.said = h('span', {}, 'Split: the new record is ', h('a', { href: recordHref(app, { id: result.record, tables: result.tables }) }, result.label), '.');
                section.undoable = true;
                await section.refresh();
              } catch (err) {
                status.textContent = `Nothing was changed: ${err.message}`;
              }
            },
          }, 'Split'),
          h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel')),
        status,
      ];
    },
  });
}

/**
 * Renders the identity section of `recordId`'s form into `container`.
 * @returns {Promise<{refresh: () => Promise<void>}>}
 */
export async function renderIdentity(container, app, recordId) {
  const section = { record: recordId, said: null, undoable: false, shown: null };
  section.refresh = async () => {
    const [record, { references }, { proposals }] = await Promise.all([app.read('record', { record: recordId }),
      app.read('references', { record: recordId }), app.read('rules')]);
    if (!record) return;
    const mine = proposals.filter((p) => p.records.some((r) => r.id === recordId)); // rules' suggestions about this record
    const signature = JSON.stringify([record, references, mine, String(section.said && section.said.textContent !== undefined ? section.said.textContent : section.said)]);
    if (signature === section.shown) return;
    section.shown = signature;
    const tables = app.ws.info.tables;
    const fields = tables.filter((t) => record.tables.includes(t.id)).flatMap((t) => t.fields.filter((f) => !f.crdt));
    const undo = section.undoable ? h('button', {
      type: 'button', class: 'small',
      onclick: async () => { section.said = null; section.undoable = false; await app.undoRedo('undo'); await section.refresh(); },
    }, 'Undo') : null;
    mount(container,
      h('h2', { id: 'identity-title' }, 'Same person, and values from other records'),
      section.said ? h('p', { class: 'flow-done', role: 'status' }, section.said, ' ', undo) : null,
      mine.length ? h('ul', { class: 'flow-cards record-proposals', 'aria-label': 'Suggestions from rules' }, mine.map((p) => h('li', { class: 'flow-card proposal' },
        h('p', { class: 'description' }, p.description),
        h('div', { class: 'card-actions' }, ['accept', 'dismiss'].map((what) => h('button', {
          type: 'button', class: what === 'accept' ? 'primary' : '', 'aria-label': `${what === 'accept' ? 'Accept' : 'Dismiss'}: ${p.description}`,
          onclick: async () => {
            try {
              await app.write(`${what}_proposals`, { ids: [p.id] });
              section.said = what === 'accept' ? `Done: ${p.description.replace(/\?$/, '')}.` : 'Dismissed on this device.';
              section.undoable = what === 'accept';
            } catch (err) {
              section.said = err.message;
              section.undoable = false;
            }
            await section.refresh();
          },
        }, what === 'accept' ? 'Accept' : 'Dismiss')))))) : null,
      references.length ? h('ul', { class: 'reference-list' }, references.map((r) => h('li', { class: r.broken ? 'broken' : '' },
        r.broken
          ? [h('strong', {}, r.field_name), ` cannot show ${r.source_field_name}: ${r.broken}.`]
          : [h('strong', {}, r.field_name), ' shows ', h('a', { href: recordHref(app, { id: r.source, tables: r.source_tables }) }, r.source_label),
            `'s ${r.source_field_name}: `, shown(r.value)],
        ' ',
        h('button', {
          type: 'button', class: 'small', 'aria-label': `Stop showing it: ${r.field_name}`,
          onclick: async () => {
            try {
              await app.write('clear_reference', { record: recordId, field: r.field });
              section.said = `${r.field_name} keeps its value as its own now.`;
              section.undoable = true;
              await section.refresh();
            } catch (err) {
              app.notify(`Nothing was changed: ${err.message}`);
            }
          },
        }, 'Stop showing it')))) : h('p', { class: 'hint' }, 'No field of this record shows another record\'s value.'),
      h('div', { class: 'card-actions' },
        h('button', { type: 'button', onclick: () => referenceDialog(app, section, recordId, fields) }, 'Show another record\'s value…'),
        h('button', { type: 'button', onclick: () => mergeDialog(app, section, recordId) }, 'Same person as…'),
        h('button', { type: 'button', onclick: () => splitDialog(app, section, record, tables, fields) }, 'Split into two…')));
  };
  await section.refresh();
  return section;
}
