// The Sync screen's "Copies and templates" section: where this workspace came from and the copies made
// of it (both sides keep a signed record), making a copy for the tour (the work as it is now, without
// its history), and saving the workspace as a template file for the next show.
import { h, mount, uid } from './dom.js';
import { recoveryWordsStep } from './start.js';

function size(bytes) {
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
}

function provenanceLines(provenance, names) {
  const called = (id) => (names.get(id) ? `“${names.get(id)}”` : `a workspace not on this device (${id.slice(0, 8)}…)`);
  const lines = [];
  if (provenance.forked_from) {
    lines.push(h('p', { class: 'copied-from' }, `This workspace is a copy of ${called(provenance.forked_from.workspace)}, `,
      'made without its history. Changes here do not reach the original, and changes there do not reach this copy.'));
  }
  if (provenance.forks.length) {
    lines.push(h('p', {}, 'Copies made of this workspace:'),
      h('ul', { class: 'copies-made' }, provenance.forks.map((f) => h('li', {}, `${called(f.fork)}, made by ${f.by}`))));
  }
  if (!lines.length) lines.push(h('p', { class: 'hint' }, 'No copies have been made of this workspace.'));
  return lines;
}

export async function copiesSection({ app, main, name }) {
  const provenance = await app.api.call('provenance', {});
  const names = new Map((await app.api.listWorkspaces()).map((w) => [w.id, w.name]));
  const copyId = uid('copy-name');
  const suggested = /\btour\b/i.test(name) ? `${name} (copy)` : `${name} tour`;
  const copyName = h('input', { id: copyId, name: 'copy_name', maxlength: 200, value: suggested });
  const copyStatus = h('p', { role: 'status', class: 'form-status' });
  const copyForm = h('form', {
    class: 'copy-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const wanted = copyName.value.trim();
      if (!wanted) {
        copyStatus.textContent = 'Give the copy a name.';
        copyName.focus();
        return;
      }
      copyForm.querySelector('button').disabled = true;
      copyStatus.textContent = 'Making the copy…';
      try {
        const id = await app.status.track(app.api.forkWorkspace(wanted));
        const words = await app.api.takeRecoveryWords();
        mount(main, recoveryWordsStep({ words, name: wanted, onDone: () => app.navigate(`/w/${id}`) }));
        main.querySelector('h1').focus();
      } catch (err) {
        copyStatus.textContent = `No copy made: ${err.message}`;
        copyForm.querySelector('button').disabled = false;
      }
    },
  },
  h('h3', {}, 'Make a copy for the tour'),
  h('p', { class: 'hint' }, 'A new workspace with everything as it is now (tables, records, links, saved views), without ',
    'the history of changes. The two stay apart from then on: changes in one never reach the other. ',
    'Nobody else is in the copy until you invite them.'),
  h('label', { for: copyId }, 'Name of the copy'), copyName,
  h('button', { type: 'submit', class: 'primary' }, 'Make a copy'),
  copyStatus);

  const recordsId = uid('with-records');
  const withRecords = h('input', { type: 'checkbox', id: recordsId, checked: true });
  const templateOut = h('div', { 'aria-live': 'polite' });
  const templateButton = h('button', {
    type: 'button',
    onclick: async () => {
      templateButton.disabled = true;
      try {
        const file = await app.api.saveTemplate(withRecords.checked);
        const url = URL.createObjectURL(new Blob([file.data], { type: 'application/octet-stream' }));
        const hidden = h('a', { href: url, download: file.fileName, hidden: true });
        document.body.append(hidden);
        hidden.click();
        hidden.remove();
        mount(templateOut, h('p', { role: 'status', class: 'template-done' }, `Template saved: ${size(file.bytes)}. `,
          'If your browser did not save it, save this file: ',
          h('a', { href: url, download: file.fileName, class: 'template-file' }, file.fileName)));
      } catch (err) {
        mount(templateOut, h('p', { class: 'error' }, `No template saved: ${err.message}`));
      } finally {
        templateButton.disabled = false;
      }
    },
  }, 'Save as template');

  return h('section', { class: 'copies-section', 'aria-labelledby': 'copies-title' },
    h('h2', { id: 'copies-title' }, 'Copies and templates'),
    ...provenanceLines(provenance, names),
    copyForm,
    h('h3', {}, 'Save as template'),
    h('p', { class: 'hint' }, 'A file to start the next show from: the tables, how they are linked and the saved views, ',
      'with or without the records. Nobody’s changes or history are in it.'),
    h('p', { class: 'recovery-confirm' }, withRecords, h('label', { for: recordsId }, 'Include the records (people, cues, events)')),
    templateButton, templateOut);
}
