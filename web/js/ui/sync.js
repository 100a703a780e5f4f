// The Sync screen (#/w/<id>/sync): where this workspace syncs, how it is doing (peers connected,
// last sync, "N changes since you last synced", your changes not shared yet, progress during a
// catch-up), publishing a workspace made offline, inviting people (invitation link, join mode,
// access keys) and the connection settings. Actions run in the tab that owns the workspace.
import { h, mount, uid } from './dom.js';
import { formatDateTime } from './format.js';
import { copiesSection } from './copies.js';
import { backupSection } from './keep.js';
import { peopleSection } from './members.js';
import { NO_RTC, ago, describeSync, linkLine } from './syncstatus.js';

const number = (n) => Number(n || 0).toLocaleString();

const EXPIRY = [['1 hour', 3600000], ['2 hours', 7200000], ['1 day', 86400000], ['7 days', 7 * 86400000]];
const USES = [['No limit', ''], ['1 person', '1'], ['5 people', '5'], ['20 people', '20']];
const ROUTES = [
  ['both', 'Through the relay and directly between browsers (recommended)'],
  ['relay', 'Through the relay only'],
  ['direct', 'Directly between browsers only: the relay introduces them and keeps no copy of new changes'],
];
const TRANSPORTS = [['websocket', 'The usual way (works on every network)'],
  ['webrtc', 'A browser-to-browser connection to the relay (if it cannot connect, the usual way is used)']];

/** The line above who changed what: a workspace never synced has no "since", so say what to do instead. */
function sinceWords(s, total) {
  if (s.state === 'local') return 'Not shared yet: nobody else has this workspace. To work on it with others, publish it below.';
  if (!s.lastSyncAt && !total) return 'Not synced yet: your changes are shared as soon as this device reaches the relay.';
  return `${number(total)} ${total === 1 ? 'change' : 'changes'} since you last synced`;
}

/** `unavailable`: values this browser cannot use, shown disabled with why. */
function radios(name, legend, options, current, unavailable = new Map()) {
  return h('fieldset', { class: 'radio-group' }, h('legend', {}, legend), options.map(([value, label]) => {
    const id = uid(name);
    const why = unavailable.get(value);
    return h('div', { class: 'radio-row' },
      h('input', { type: 'radio', id, name, value, checked: value === current, disabled: Boolean(why) && value !== current }),
      h('label', { for: id }, label, why ? h('span', { class: 'hint' }, ` (${why})`) : null));
  }));
}

const picked = (form, name) => (form.querySelector(`input[name=${name}]:checked`) || {}).value;

function select(name, label, options, current) {
  const id = uid(name);
  return [h('label', { for: id }, label), h('select', { id, name }, options.map(([text, value]) => h('option', { value: String(value), selected: String(value) === String(current) }, text)))];
}

export async function renderSync({ main, app }) {
  const call = (action, args = {}) => app.api.call(`sync:${action}`, args);
  let status = await call('watch');
  const summary = h('section', { class: 'sync-summary', 'aria-labelledby': 'sync-state-title' });
  const panels = h('div', { class: 'sync-panels' });
  let configKey = '';

  function renderSummary() {
    const s = status;
    const words = describeSync(s);
    const progress = s.state === 'catching-up' && s.progress
      ? h('div', { class: 'sync-progress' },
        h('label', { for: 'sync-progress-bar' }, `Receiving changes: ${number(s.progress.received)} of ${number(s.progress.received + s.progress.remaining)}`),
        h('progress', { id: 'sync-progress-bar', max: s.progress.received + s.progress.remaining, value: s.progress.received }))
      : null;
    const links = [s.relay, ...(s.peers || [])].filter(Boolean);
    const since = s.since || { total: 0, people: [] };
    const conflicts = app.wsStatus ? app.wsStatus.conflicts : 0;
    mount(summary,
      h('h2', { id: 'sync-state-title', class: 'visually-hidden' }, 'Status'),
      h('p', { class: 'sync-state', dataset: { state: s.state }, role: 'status' },
        s.rtc === false && s.state !== 'local' && s.state !== 'no-direct' ? words.long.replace(` ${NO_RTC}`, '') : words.long),
      s.rtc === false && s.state !== 'no-direct' ? h('p', { class: 'sync-rtc-note' }, NO_RTC) : null,
      s.error && s.state !== 'refused' ? h('p', { class: 'sync-error' }, s.error) : null,
      s.elsewhere ? h('p', { class: 'hint' }, 'This workspace is open in another tab of this browser, which keeps it in sync.') : null,
      progress,
      h('dl', { class: 'sync-facts' },
        h('dt', {}, 'Connected'),
        h('dd', {}, links.length ? h('ul', { class: 'sync-links' }, links.map((l) => h('li', { dataset: { kind: l.kind, transport: l.transport } }, linkLine(l, s.config.relay))))
          : (s.state === 'local' ? 'Nothing: not shared yet' : 'Nothing right now')),
        h('dt', {}, 'Last synced'), h('dd', { class: 'sync-last' }, ago(s.lastSyncAt)),
        h('dt', {}, 'Your changes'), h('dd', { class: 'sync-unshared' }, s.state === 'local' ? `${number(s.unshared)} made here, on this device only`
          : s.unshared ? `${number(s.unshared)} ${s.unshared === 1 ? 'change' : 'changes'} made here ${s.unshared === 1 ? 'is' : 'are'} not shared yet` : 'All shared'),
        s.lastError && s.state !== 'in-sync' ? [h('dt', {}, 'Last problem'), h('dd', { class: 'sync-error' }, s.lastError)] : null),
      s.state === 'catching-up' ? null : h('div', { class: 'sync-since', dataset: { total: String(since.total) } },
        h('p', {}, h('strong', {}, sinceWords(s, since.total)),
          conflicts ? [' · ', h('a', { href: `#/w/${app.ws.id}/conflicts` }, `${conflicts} ${conflicts === 1 ? 'conflict needs' : 'conflicts need'} resolution`)] : null),
        since.people.length ? h('ul', { class: 'sync-people' }, since.people.map((p) => h('li', {}, `${p.name}: ${number(p.changes)} ${p.changes === 1 ? 'change' : 'changes'} to ${number(p.records)} ${p.records === 1 ? 'record' : 'records'}`))) : null,
        since.total ? h('button', { type: 'button', class: 'small', onclick: () => act('mark_seen') }, 'Mark as seen') : null),
      s.state === 'local' ? null : h('div', { class: 'sync-actions' },
        ['offline', 'refused', 'connecting', 'waiting'].includes(s.state) ? h('button', { type: 'button', onclick: () => act('retry') }, 'Sync now') : null,
        s.config.paused ? h('button', { type: 'button', class: 'primary', onclick: () => act('resume') }, 'Resume sync')
          : h('button', { type: 'button', onclick: () => act('pause') }, 'Pause sync')));
  }

  async function act(action, args) {
    try {
      status = await call(action, args);
      renderSummary();
    } catch (err) {
      app.notify(err.message);
    }
  }

  function publishPanel() {
    const state = h('p', { class: 'form-status', role: 'status' });
    const relayId = uid('relay');
    const form = h('form', {
      class: 'sync-form', 'aria-labelledby': 'publish-title',
      onsubmit: async (event) => {
        event.preventDefault();
        state.textContent = 'Publishing…';
        try {
          await call('publish', { relay: form.elements.relay.value, joinMode: picked(form, 'join_mode') });
          state.textContent = '';
          await refreshAll();
        } catch (err) {
          state.textContent = `Not published: ${err.message}`;
        }
      },
    },
    h('h2', { id: 'publish-title' }, 'Share this workspace'),
    h('p', { class: 'hint' }, 'Publishing puts this workspace on a relay, so the people you invite can join it. Until then it exists only on this device.'),
    h('label', { for: relayId }, 'Relay address'),
    h('input', { id: relayId, name: 'relay', required: true, value: status.config.relay || location.origin, autocomplete: 'url' }),
    radios('join_mode', 'Who can join', [['open', 'Anyone with the invitation link'], ['access_key', 'Only people with an access key you give them']], 'access_key'),
    h('button', { type: 'submit', class: 'primary' }, 'Publish to the relay'),
    state);
    return form;
  }

  function invitePanel() {
    const s = status;
    const inviteId = uid('invite');
    const keyState = h('p', { class: 'form-status', role: 'status' });
    const created = h('div', { class: 'key-created', 'aria-live': 'polite' });
    const keyList = h('div', { class: 'key-list' });
    const modeState = h('p', { class: 'form-status', role: 'status' });
    const modeForm = h('form', {
      class: 'sync-form',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await call('set_join_mode', { mode: picked(modeForm, 'join_mode') });
          modeState.textContent = 'Saved.';
        } catch (err) {
          modeState.textContent = `Not saved: ${err.message}`;
        }
      },
    }, radios('join_mode', 'Who can join', [['open', 'Anyone with the invitation link'], ['access_key', 'Only people with an access key'], ['request', 'People ask to join, and you let them in']], s.config.joinMode),
    h('button', { type: 'submit', class: 'small' }, 'Save who can join'), modeState);

    async function showKeys() {
      try {
        const { keys } = await call('list_keys');
        mount(keyList, keys.length ? h('table', { class: 'key-table' },
          h('caption', {}, 'Access keys'),
          h('thead', {}, h('tr', {}, ['Key', 'Status', 'Used', 'Expires'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          h('tbody', {}, keys.map((k) => h('tr', {},
            h('td', { class: 'key-code' }, k.code), h('td', {}, k.status),
            h('td', {}, k.max_uses ? `${k.uses} of ${k.max_uses}` : String(k.uses)),
            h('td', {}, formatDateTime(k.expires_at)),
            h('td', {}, k.status === 'active' ? h('button', {
              type: 'button', class: 'small', 'aria-label': `Revoke ${k.code}`,
              onclick: async () => {
                try {
                  await call('revoke_key', { code: k.code });
                  await showKeys();
                } catch (err) {
                  app.notify(err.message);
                }
              },
            }, 'Revoke') : ''))))) : h('p', {}, 'No access keys yet.'));
      } catch (err) {
        mount(keyList, h('p', { class: 'error' }, `Could not list the keys: ${err.message}`));
      }
    }

    const keyForm = h('form', {
      class: 'sync-form key-form', 'aria-labelledby': 'keys-title',
      onsubmit: async (event) => {
        event.preventDefault();
        keyState.textContent = 'Creating…';
        try {
          const uses = keyForm.elements.max_uses.value;
          const key = await call('create_key', { expiresInMs: Number(keyForm.elements.expires.value), maxUses: uses ? Number(uses) : null });
          keyState.textContent = '';
          mount(created, h('p', {}, 'Access key: ', h('strong', { class: 'key-code', dataset: { code: key.code } }, key.code)),
            h('p', { class: 'hint' }, `Give it to the person with the invitation link. It works until ${formatDateTime(key.expires_at)}${key.max_uses ? ` for ${key.max_uses} ${key.max_uses === 1 ? 'person' : 'people'}` : ''}.`));
          await showKeys();
        } catch (err) {
          keyState.textContent = `Not created: ${err.message}`;
        }
      },
    },
    h('h3', { id: 'keys-title' }, 'Access keys'),
    h('div', { class: 'key-options' }, select('expires', 'Valid for', EXPIRY, 7200000), select('max_uses', 'Can be used by', USES, '')),
    h('button', { type: 'submit', class: 'primary' }, 'Create access key'), keyState, created);

    return h('section', { class: 'sync-invite', 'aria-labelledby': 'invite-title' },
      h('h2', { id: 'invite-title' }, 'Invite people'),
      h('p', { class: 'hint' }, 'Send the invitation link. If only people with an access key may join, create a key and give it to them too (read it out, it is short).'),
      h('label', { for: inviteId }, 'Invitation link'),
      h('div', { class: 'copy-row' }, h('input', { id: inviteId, readonly: true, value: s.invite || '', class: 'invite-link' }),
        h('button', {
          type: 'button', class: 'small',
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(s.invite);
              app.notify('Invitation link copied.');
            } catch {
              document.getElementById(inviteId).select();
            }
          },
        }, 'Copy link')),
      modeForm, keyForm, keyList);
  }

  function settingsPanel() {
    const s = status;
    const state = h('p', { class: 'form-status', role: 'status' });
    const form = h('form', {
      class: 'sync-form',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          status = await call('configure', { route: picked(form, 'route'), relayTransport: picked(form, 'relay_transport') });
          state.textContent = 'Saved.';
          renderSummary();
        } catch (err) {
          state.textContent = `Not saved: ${err.message}`;
        }
      },
    },
    radios('route', 'How changes travel', ROUTES, s.config.route,
      s.rtc === false ? new Map([['direct', 'not possible in this browser']]) : undefined),
    radios('relay_transport', 'Connection to the relay', TRANSPORTS, s.config.relayTransport,
      s.rtc === false ? new Map([['webrtc', 'not possible in this browser']]) : undefined),
    h('button', { type: 'submit', class: 'small' }, 'Save connection settings'), state);
    return h('details', { class: 'sync-settings' }, h('summary', {}, 'Connection settings'),
      h('p', { class: 'hint' }, `Relay: ${s.config.relay}`), form);
  }

  /** The relays this workspace's relay knows of on the venue network (another room, another laptop). */
  function lanRelaysPanel() {
    const body = h('div', { 'aria-live': 'polite' }, h('p', { class: 'hint' }, 'Looking…'));
    const section = h('section', { class: 'lan-relays', 'aria-labelledby': 'lan-relays-title' },
      h('h2', { id: 'lan-relays-title' }, 'Relays on this network'), body);
    call('lan_relays').then(({ looking, relays }) => {
      if (!looking) {
        mount(body, h('p', { class: 'hint' }, 'Your relay is not looking for other relays on this network. ',
          'If you need to share work with a relay in another room, ask whoever set up your relay to turn on '
          + 'sharing with relays on this network.'));
      } else if (!relays.length) {
        mount(body, h('p', { class: 'hint' }, 'Your relay has not found any other relay on this network yet.'));
      } else {
        mount(body, h('p', { class: 'hint' }, 'Your relay shares the workspaces it has in common with these relays, so people connected to them see the same work.'),
          h('ul', { class: 'lan-relay-list' }, relays.map((r) => h('li', {},
            h('strong', {}, r.name || 'Relay'), ` — ${r.url} `,
            h('span', { class: 'hint' }, r.workspaces.length === 1 ? '(1 workspace)' : `(${r.workspaces.length} workspaces)`)))));
      }
    }).catch((err) => mount(body, h('p', { class: 'error' }, `Could not ask your relay: ${err.message}`)));
    return section;
  }

  function renderPanels() {
    const s = status;
    configKey = JSON.stringify([s.config.published, s.config.joined, s.owner, s.config.relay]);
    const parts = [];
    if (s.state === 'local') {
      parts.push(s.owner ? publishPanel() : h('p', {}, 'Only the person who created this workspace can publish it.'));
    } else {
      if (s.config.published && s.owner) parts.push(invitePanel(), peopleSection(call, (text) => app.notify(text)));
      else if (s.config.joined) {
        parts.push(h('section', { 'aria-labelledby': 'joined-title' }, h('h2', { id: 'joined-title' }, 'Shared workspace'),
          h('p', {}, `You joined this workspace on the relay at ${s.config.relay}.`),
          s.invite ? h('p', { class: 'hint' }, `Invitation link for others: ${s.invite}`) : null));
      }
      parts.push(lanRelaysPanel());
      parts.push(settingsPanel());
    }
    mount(panels, parts);
  }

  async function refreshAll() {
    status = await call('watch');
    renderSummary();
    renderPanels();
    showBackup();
  }

  const backup = h('div', { class: 'sync-backup' });
  let backupKey = '';
  // Drawn again only when what it says changes (published or joined: "only on this device" no longer
  // holds; the storage risk): a backup being made keeps its message.
  const showBackup = () => {
    const shown = { risk: app.storageRisk || 'unknown', shared: status.state !== 'local', backupAt: app.lastBackupAt };
    const key = JSON.stringify([shown.risk, shown.shared]);
    if (key === backupKey) return;
    backupKey = key;
    mount(backup, backupSection(app, shown));
  };
  await app.refreshStorage();
  showBackup();
  const copies = h('div', { class: 'sync-copies' });
  mount(main, h('h1', {}, 'Sync'), summary, panels, backup, copies);
  app.api.call('info', {}).then((info) => copiesSection({ app, main, name: info.name || 'Workspace' }))
    .then((section) => mount(copies, section))
    .catch((err) => mount(copies, h('p', { class: 'error' }, `Copies and templates could not be shown: ${err.message}`)));
  renderSummary();
  renderPanels();
  const lease = setInterval(() => { // while this screen shows, the counts are kept current
    if (!main.contains(summary)) clearInterval(lease);
    else call('watch').catch(() => {});
  }, 10000);
  return {
    focus: () => main.focus(),
    onSync(next) {
      status = next;
      renderSummary();
      showBackup();
      if (JSON.stringify([next.config.published, next.config.joined, next.owner, next.config.relay]) !== configKey) renderPanels();
    },
    onStatus: () => { // the conflict count changed, or a banner came or went (the storage risk read)
      renderSummary();
      showBackup();
    },
    refresh: async () => renderSummary(),
  };
}
