// The owner's "People" section of the Sync screen: who asked to join (with the name they gave), who is
// in, and who was taken off. Letting in, declining and removing are signed requests to the relay
// (server/openprod_server/relay.py, members.py); the relay keeps the audit log (docs/lifecycle.md).
import { h, mount } from './dom.js';
import { formatDateTime } from './format.js';

const when = (ms) => formatDateTime(ms);
const HOW = { owner: 'created the workspace', open: 'joined with the link', access_key: 'joined with an access key', request: 'you let them in', recovery: 'recovered ownership', readmitted: 'let back in' };

/** `call(action, args)` runs a sync action in the worker; `notify(text)` says something briefly. */
export function peopleSection(call, notify) {
  const body = h('div', { class: 'people-body', 'aria-live': 'polite' }, h('p', { class: 'hint' }, 'Loading…'));
  const section = h('section', { class: 'sync-people-panel', 'aria-labelledby': 'people-title' },
    h('h2', { id: 'people-title' }, 'People'), body);

  async function act(action, args, done) {
    try {
      await call(action, args);
      notify(done);
    } catch (err) {
      notify(err.message);
    }
    await show();
  }

  function requestRow(r) {
    return h('li', { class: 'people-request', dataset: { actor: r.actor } },
      h('span', { class: 'people-name' }, r.name), h('span', { class: 'hint' }, ` asked ${when(r.requested_at)}`),
      h('span', { class: 'people-actions' },
        h('button', { type: 'button', class: 'small primary', 'aria-label': `Let ${r.name} in`, onclick: () => act('decide_request', { actor: r.actor, approve: true }, `${r.name} can join now.`) }, 'Let in'),
        h('button', { type: 'button', class: 'small', 'aria-label': `Decline ${r.name}`, onclick: () => act('decide_request', { actor: r.actor, approve: false }, `${r.name}'s request was declined.`) }, 'Decline')));
  }

  function memberRow(m) {
    const actions = h('span', { class: 'people-actions' });
    const askRemove = () => mount(actions,
      h('span', { class: 'people-confirm' }, `Remove ${m.name}? `),
      h('button', { type: 'button', class: 'small danger-button', onclick: () => act('remove_member', { actor: m.actor }, `${m.name} was removed.`) }, 'Remove'),
      h('button', { type: 'button', class: 'small', onclick: () => mount(actions, removeButton()) }, 'Keep'));
    const removeButton = () => h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${m.name}`, onclick: askRemove }, 'Remove…');
    if (m.via !== 'owner') mount(actions, removeButton());
    return h('li', { class: 'people-member', dataset: { actor: m.actor } },
      h('span', { class: 'people-name' }, m.name), h('span', { class: 'hint' }, ` ${HOW[m.via] || m.via}, ${when(m.joined_at)}`), actions);
  }

  async function show() {
    let roster;
    try {
      roster = await call('members');
    } catch (err) {
      mount(body, h('p', { class: 'error' }, `Could not get the list of people: ${err.message}`));
      return;
    }
    mount(body,
      h('h3', {}, `Asking to join (${roster.pending.length})`),
      roster.pending.length ? h('ul', { class: 'people-list people-requests' }, roster.pending.map(requestRow))
        : h('p', { class: 'hint' }, 'Nobody is waiting. When people may ask to join, their requests show here with the name they gave.'),
      h('h3', {}, `In this workspace (${roster.members.length})`),
      h('ul', { class: 'people-list people-members' }, roster.members.map(memberRow)),
      roster.removed.length ? [h('h3', {}, 'Removed'),
        h('p', { class: 'hint' }, 'They can no longer sync through this relay, and new changes they make are not accepted here. What they wrote before stays, and they keep their own copy.'),
        h('ul', { class: 'people-list people-removed' }, roster.removed.map((r) => h('li', { dataset: { actor: r.actor } },
          h('span', { class: 'people-name' }, r.name), h('span', { class: 'hint' }, ` removed ${when(r.removed_at)}`),
          h('span', { class: 'people-actions' }, h('button', {
            type: 'button', class: 'small', 'aria-label': `Let ${r.name} back in`,
            onclick: () => act('readmit_member', { actor: r.actor }, `${r.name} can sync again.`),
          }, 'Let back in')))))] : null);
  }

  show();
  return section;
}
