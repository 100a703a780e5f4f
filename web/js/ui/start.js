// The start screen: who you are (first run asks for a display name), the workspaces stored in
// this browser, creating a new one offline with the starter modules, and joining one a relay serves
// (an invitation link, and an access key if its owner gave one).
import { h, mount, uid } from './dom.js';
import { formatDateTime } from './format.js';
import { installSection } from './install.js';
import { restoreForm } from './keep.js';

export const STARTER_MODULES = [
  ['contacts', 'Contacts', 'cast, crew and company contact sheet'],
  ['schedule', 'Schedule', 'rehearsals, calls and who is called'],
  ['scenes', 'Scenes', 'scene breakdown'],
  ['lighting', 'Lighting', 'lighting cues'],
  ['sm', 'Stage management', 'SM cue sheet'],
  ['sound', 'Sound', 'sound cues'],
  ['reports', 'Reports', 'rehearsal and performance reports, written together'],
  ['files', 'Plots & files', 'lighting plots, PDFs and photos of the set, readable offline', false],
];

/** A form asking for the display name; resolves after it is saved. */
export function identityForm({ app, current, onSaved, heading }) {
  const id = uid('display-name');
  const status = h('p', { role: 'status', class: 'form-status' });
  const input = h('input', { id, name: 'display_name', required: true, maxlength: 80, autocomplete: 'name', value: current || '' });
  return h('form', {
    class: 'identity-form', 'aria-labelledby': `${id}-title`,
    onsubmit: async (event) => {
      event.preventDefault();
      if (!input.value.trim()) {
        status.textContent = 'Please type a name.';
        input.focus();
        return;
      }
      status.textContent = current ? 'Saving…' : 'Creating your signing key…';
      try {
        const identity = await app.api.saveIdentity(input.value);
        status.textContent = '';
        app.requestPersistence();
        onSaved(identity);
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
      }
    },
  },
  h('h2', { id: `${id}-title` }, heading || 'Who are you?'),
  h('p', { class: 'hint' }, 'Your name is shown beside every change you make, so your team knows who changed what. ',
    'It stays on this device with a signing key made for you here.'),
  h('label', { for: id }, 'Display name'), input,
  h('button', { type: 'submit', class: 'primary' }, current ? 'Save name' : 'Continue'),
  status);
}

function joinForm({ app, invite }) {
  const inviteId = uid('invite');
  const codeId = uid('code');
  const status = h('p', { role: 'status', class: 'form-status' });
  const inviteInput = h('input', { id: inviteId, name: 'invite', required: true, value: invite || '', autocomplete: 'off', placeholder: 'https://relay…/#/join/…' });
  const codeInput = h('input', {
    id: codeId, name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: false, maxlength: 16, class: 'code-input',
  });
  const form = h('form', {
    class: 'join-form', 'aria-labelledby': 'join-title',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!inviteInput.value.trim()) {
        status.textContent = 'Paste the invitation link you were given.';
        inviteInput.focus();
        return;
      }
      status.textContent = 'Joining…';
      form.querySelector('button[type=submit]').disabled = true;
      try {
        const { workspace, pending, name } = await app.api.joinWorkspace({ invite: inviteInput.value, code: codeInput.value });
        if (pending) {
          status.textContent = `Asked to join as ${name}. The workspace's owner sees your request; once they let you in, press Join workspace again.`;
          form.querySelector('button[type=submit]').disabled = false;
          return;
        }
        app.requestPersistence();
        app.navigate(`/w/${workspace}/sync`);
      } catch (err) {
        status.textContent = `Not joined: ${err.message}`;
        form.querySelector('button[type=submit]').disabled = false;
      }
    },
  },
  h('h2', { id: 'join-title' }, 'Join a workspace'),
  h('p', { class: 'hint' }, 'Someone shared a workspace with you? Paste the invitation link they sent, and type the access key if they gave you one.'),
  h('label', { for: inviteId }, 'Invitation link or workspace ID'), inviteInput,
  h('label', { for: codeId }, 'Access key (if you were given one)'), codeInput,
  h('button', { type: 'submit', class: 'primary' }, 'Join workspace'),
  status);
  return form;
}

/** Someone who lost the device they own a workspace on takes charge again from this one: the
 * invitation link (or workspace id) and the 12 words they wrote down. New words are shown once. */
function recoverForm({ app, main, invite }) {
  const inviteId = uid('recover-invite');
  const wordsId = uid('recover-words');
  const status = h('p', { role: 'status', class: 'form-status' });
  const inviteInput = h('input', { id: inviteId, name: 'invite', required: true, value: invite || '', autocomplete: 'off', placeholder: 'https://relay…/#/join/…' });
  const wordsInput = h('textarea', {
    id: wordsId, name: 'words', rows: 3, autocomplete: 'off', autocapitalize: 'none', spellcheck: false, class: 'words-input',
  });
  const button = h('button', { type: 'submit' }, 'Recover ownership');
  const form = h('form', {
    class: 'recover-form', 'aria-labelledby': 'recover-title',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!inviteInput.value.trim()) {
        status.textContent = 'Paste the workspace\'s invitation link (or its workspace ID).';
        inviteInput.focus();
        return;
      }
      status.textContent = 'Checking the words with the relay…';
      button.disabled = true;
      try {
        const { workspace } = await app.api.recoverOwnership({ invite: inviteInput.value, words: wordsInput.value });
        wordsInput.value = ''; // the old words are used up: off the page
        app.requestPersistence();
        const words = await app.api.takeRecoveryWords();
        mount(main, recoveryWordsStep({
          words,
          title: 'You own the workspace again: write down your new recovery words',
          intro: 'The words you typed no longer work, for anyone. These new ones replace them.',
          onDone: () => app.navigate(`/w/${workspace}/sync`),
        }));
        main.querySelector('h1').focus();
      } catch (err) {
        status.textContent = err.name === 'RecoveryUnanswered'
          ? `Not recovered yet: ${err.message}` : `Not recovered: ${err.message} Nothing was changed.`;
        button.disabled = false;
      }
    },
  },
  h('h2', { id: 'recover-title' }, 'Recover ownership with your recovery words'),
  h('p', { class: 'hint' }, 'Lost the device you created a workspace on? Paste its invitation link and type the 12 recovery ',
    'words you wrote down when you created it. This device becomes the owner, and you get new words.'),
  h('label', { for: inviteId }, 'Invitation link or workspace ID'), inviteInput,
  h('label', { for: wordsId }, 'Your 12 recovery words'), wordsInput,
  button,
  status);
  return form;
}

/** The new workspace's recovery words, shown this once: the page keeps them only in this screen,
 * and takes them off it when the person says they have written them down. */
export function recoveryWordsStep({ words, name, onDone, title, intro }) {
  const checkId = uid('written');
  const list = h('ol', { class: 'recovery-words', 'aria-label': 'Recovery words, in order' },
    words.split(' ').map((word) => h('li', {}, h('span', { class: 'recovery-word' }, word))));
  const button = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Open the workspace');
  const check = h('input', {
    type: 'checkbox', id: checkId, name: 'written',
    onchange: () => { button.disabled = !check.checked; },
  });
  const form = h('form', {
    class: 'recovery-step',
    onsubmit: (event) => {
      event.preventDefault();
      if (!check.checked) return;
      list.replaceChildren(); // off the page before leaving it
      onDone();
    },
  },
  h('h1', { tabindex: -1 }, title || `Write down the recovery words for ${name}`),
  intro ? h('p', { class: 'recovery-intro' }, intro) : null,
  h('p', {}, 'If this device is lost or broken, these 12 words let you take charge of the workspace again from ',
    'another one. Write them on paper, in this order, and keep it somewhere safe.'),
  h('p', { class: 'hint' }, 'They are shown only this once: Openprod does not keep them, not even on this device. ',
    'Anyone who has them can take charge of the workspace, so do not send them by message or email.'),
  list,
  h('p', { class: 'recovery-confirm' }, check, h('label', { for: checkId }, 'I have written them down')),
  button);
  return form;
}

export async function renderStart({ main, app, invite = '' }) {
  const identity = await app.api.identity();
  if (!identity) {
    mount(main, h('h1', {}, 'Welcome to Openprod'),
      h('p', {}, 'Production paperwork that works with no network and merges with your team later.'),
      identityForm({
        app, onSaved: (saved) => {
          app.identity = saved;
          app.showIdentity();
          app.route();
        },
      }));
    main.querySelector('input').focus();
    return {};
  }
  const workspaces = await app.api.listWorkspaces();
  const nameId = uid('ws-name');
  const status = h('p', { role: 'status', class: 'form-status' });
  const nameInput = h('input', { id: nameId, name: 'name', required: true, maxlength: 200, placeholder: 'e.g. Hamlet, spring tour' });
  const boxes = STARTER_MODULES.map(([name, label, hint, checked = true]) => {
    const id = uid('module');
    return h('li', {}, h('input', { type: 'checkbox', id, name: 'module', value: name, checked }),
      h('label', { for: id }, h('strong', {}, label), ` — ${hint}`));
  });
  const create = async (template) => {
    const name = nameInput.value.trim();
    if (!name) {
      status.textContent = 'Give the workspace a name.';
      nameInput.focus();
      return;
    }
    const modules = [...createForm.querySelectorAll('input[name=module]:checked')].map((b) => b.value);
    status.textContent = template ? 'Creating from the template…' : 'Creating…';
    const buttons = [...createForm.querySelectorAll('button')];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const id = await app.status.track(app.api.createWorkspace(name, modules, template));
      app.requestPersistence();
      const words = await app.api.takeRecoveryWords();
      if (words) {
        mount(main, recoveryWordsStep({ words, name, onDone: () => app.navigate(`/w/${id}`) }));
        main.querySelector('h1').focus();
        return;
      }
      app.navigate(`/w/${id}`);
    } catch (err) {
      status.textContent = `Not created: ${err.message}`;
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  const createForm = h('form', {
    class: 'create-form', 'aria-labelledby': 'create-title',
    onsubmit: (event) => {
      event.preventDefault();
      create('');
    },
  },
  h('h2', { id: 'create-title' }, 'Create a workspace'),
  h('p', { class: 'hint' }, 'Works offline. Others join it later by syncing.'),
  h('label', { for: nameId }, 'Workspace name'), nameInput,
  h('fieldset', {}, h('legend', {}, 'Start with these modules'), h('ul', { class: 'module-list' }, boxes)),
  h('button', { type: 'submit', class: 'primary' }, 'Create workspace'),
  h('p', { class: 'hint' }, 'Or start from a ready-made stage management workspace: contacts, the schedule, the calling ',
    'script and lighting cues, linked together, with a few examples to replace.'),
  h('button', { type: 'button', onclick: () => create('stage-management') }, 'Start from the Stage Management template'),
  status);

  const list = workspaces.length
    ? h('ul', { class: 'workspace-list' }, workspaces.map((w) => h('li', {},
      h('a', { href: `#/w/${w.id}`, class: 'workspace-link' }, h('strong', {}, w.name || 'Joined workspace (arriving…)'),
        w.openedAt ? h('span', { class: 'hint' }, `· last opened ${formatDateTime(w.openedAt)}`) : null))))
    : h('p', {}, 'No workspaces in this browser yet.');

  const join = joinForm({ app, invite });
  mount(main,
    h('h1', {}, `Hello, ${identity.display_name}`),
    installSection(),
    invite ? join : null,
    h('section', { 'aria-labelledby': 'ws-list-title' }, h('h2', { id: 'ws-list-title' }, 'Workspaces on this device'), list),
    createForm,
    invite ? null : join,
    recoverForm({ app, main, invite }),
    restoreForm(app));
  if (invite) join.querySelector('input[name=code]').focus();
  return {};
}
