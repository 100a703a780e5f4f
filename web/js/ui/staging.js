// Staging mode (overlays): edits go to a local overlay instead of the shared log until committed.
// The banner says so on every screen while it is on; the staging screen lists what is staged, what
// changed underneath (drift: Keep mine / Use canonical), knockout of single fields, commit (one
// signed bundle, refused while drift is unacknowledged) and discard, and the stashed and pending
// (script) overlays that can be recalled.
import { confirmDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';
import { formatDateTime, plural } from './format.js';

// What a person reads: "Review before saving" (the mode and its screen), "changes to review", Save,
// Discard, "Set aside" (engineers' overlay, staged, commit, stash: never on screen).

function valueText(value) {
  if (value === null || value === undefined || value === '') return h('em', {}, 'empty');
  return h('q', {}, Array.isArray(value) ? value.join(', ') : typeof value === 'boolean' ? (value ? 'Yes' : 'No') : String(value));
}

export async function startStaging(app, name) {
  await app.write('stage_start', { name: name || `Changes to review, ${formatDateTime(new Date())}` });
  app.notify('Review before saving is on: your edits are kept on this device, not saved or shared until you save them.');
}

export async function stashStaging(app) {
  await app.write('stage_stash');
  app.notify('Review before saving is off. Your changes to review are set aside: bring them back from the Review before saving screen.');
}

/** Commit the active overlay; a refusal (drift not yet acknowledged) is explained, nothing is lost.
 * `done`: what to say once committed, for a caller whose person never chose to stage (an import). */
export async function commitStaging(app, done = 'Saved: your changes are saved and will be shared.') {
  try {
    const result = await app.write('stage_commit');
    app.notify(result.committed ? done : 'There was nothing to review; Review before saving is off.');
    return true;
  } catch (err) {
    app.notify(err.message.startsWith('commit refused')
      ? 'Not saved: someone else changed some of these fields meanwhile (marked ⚠). For each, choose Keep mine '
        + 'or Use the saved value, then save.'
      : `Not saved: ${err.message}`);
    return false;
  }
}

export async function discardStaging(app, overlay, name) {
  const ok = await confirmDialog({
    title: `Discard “${name}”?`,
    message: 'Every change in it is thrown away. Saved data is not touched and nothing is written to history.',
    confirm: 'Discard these changes',
    danger: true,
  });
  if (!ok) return false;
  await app.write('stage_discard', overlay ? { overlay } : {});
  app.notify('Discarded: those changes are gone; saved data is unchanged.');
  return true;
}

/** Keep mine / Use the saved value, for one field that someone else changed under an edit to review. */
export function driftActions(app, drift, after) {
  const label = `${drift.record_label} › ${drift.field_name}`;
  return h('span', { class: 'drift-actions' },
    h('button', {
      type: 'button', class: 'small', 'aria-label': `Keep mine: ${label}`,
      onclick: async () => {
        await app.write('stage_keep_mine', { record: drift.record, field: drift.field }).catch((err) => app.notify(err.message));
        if (after) await after();
      },
    }, 'Keep mine'),
    h('button', {
      type: 'button', class: 'small', 'aria-label': `Use the saved value: ${label}`,
      onclick: async () => {
        await app.write('stage_use_canonical', { record: drift.record, field: drift.field }).catch((err) => app.notify(err.message));
        if (after) await after();
      },
    }, 'Use the saved value'));
}

/** The banner shown on every screen while Review before saving is on. */
export function renderBanner(el, status, app) {
  const overlay = status.overlay;
  el.hidden = !overlay;
  document.body.classList.toggle('staging', Boolean(overlay));
  if (!overlay) {
    mount(el);
    return;
  }
  mount(el,
    h('p', { class: 'banner-text' },
      h('strong', {}, 'Review before saving'), ' — your edits are kept on this device only, not saved or shared until you save them. ',
      h('span', { class: 'banner-name' }, `“${overlay.name}” · ${plural(overlay.op_count, 'change', 'changes')} to review`),
      status.drift ? h('span', { class: 'banner-drift' }, ` · ⚠ ${plural(status.drift, 'field')} changed by someone else meanwhile`) : null),
    h('div', { class: 'banner-actions' },
      h('a', { class: 'button small', href: `#/w/${app.ws.id}/staging` }, status.drift ? 'Review changes' : 'Review'),
      h('button', { type: 'button', class: 'small primary', onclick: () => commitStaging(app) }, 'Save all'),
      h('button', { type: 'button', class: 'small', onclick: () => discardStaging(app, null, overlay.name) }, 'Discard'),
      h('button', { type: 'button', class: 'small', onclick: () => stashStaging(app) }, 'Set aside')));
}

function changeItem(app, change, refresh) {
  if (change.kind === 'new') {
    const table = change.tables[0];
    return h('li', {}, h('span', { class: 'change-kind' }, 'New record: '),
      table ? h('a', { href: `#${app.tableHref(table)}/r/${change.record}` }, change.label) : change.label);
  }
  if (change.kind === 'field') {
    const table = change.tables[0];
    const label = `${change.label} › ${change.field_name}`;
    return h('li', {},
      table ? h('a', { href: `#${app.tableHref(table)}/r/${change.record}` }, label) : label, ': ',
      valueText(change.was), ' → ', valueText(change.value), ' ',
      h('button', {
        type: 'button', class: 'small', 'aria-label': `Drop my change to ${label}`,
        onclick: async () => {
          await app.write('stage_use_canonical', { record: change.record, field: change.field }).catch((err) => app.notify(err.message));
          await refresh();
        },
      }, 'Drop my change'));
  }
  if (change.kind === 'edge_property') return h('li', {}, `Link property “${change.field_name}”`);
  return h('li', {}, `Other change: ${change.op_type}`);
}

export async function renderStaging({ main, app }) {
  const generation = app.generation;
  let shown = null;
  const screen = {
    async refresh() {
      const state = await app.read('staging');
      if (app.generation !== generation) return; // another screen is shown now
      // An action refreshes the screen and its 'changed' event does too: the second, identical render
      // would replace the buttons under a finger already pressing one (the tap would be lost).
      const signature = JSON.stringify(state);
      if (signature === shown) return;
      shown = signature;
      const active = state.active;
      const others = state.overlays.filter((o) => o.status !== 'active');
      const stashed = others.filter((o) => o.status === 'stashed');
      const pending = others.filter((o) => o.status === 'pending');
      const status = h('p', { class: 'form-status', role: 'status' });
      const nameId = uid('overlay-name');
      const overlayRow = (o) => h('li', { class: 'overlay-item' },
        h('span', {}, h('strong', {}, o.name), ` · ${plural(o.op_count, 'change', 'changes')} to review`,
          h('span', { class: 'hint' }, ` · started ${formatDateTime(new Date(o.created_at))}`)),
        h('button', {
          type: 'button', class: 'small', 'aria-label': `${o.status === 'pending' ? 'Review' : 'Bring back'} “${o.name}”`,
          onclick: async () => {
            await app.write('stage_activate', { overlay: o.id });
            app.notify(`Reviewing “${o.name}”.`);
            await screen.refresh();
          },
        }, o.status === 'pending' ? 'Review' : 'Bring back'),
        h('button', {
          type: 'button', class: 'small', 'aria-label': `Discard “${o.name}”`,
          onclick: async () => { if (await discardStaging(app, o.id, o.name)) await screen.refresh(); },
        }, 'Discard'));

      const current = active ? h('section', { class: 'staging-active', 'aria-labelledby': 'staging-active-title' },
        h('h2', { id: 'staging-active-title' }, `Now reviewing: “${active.name}”`),
        h('p', {}, 'These edits are kept on this device only. Save all saves them as one change that reaches ',
          'your team; Discard throws them away without a trace.'),
        state.drift.length ? h('section', { class: 'drift', 'aria-labelledby': 'drift-title' },
          h('h3', { id: 'drift-title' }, '⚠ Changed by someone else while you were reviewing'),
          h('p', { class: 'hint' }, 'Keep mine: saving replaces their value on purpose. Use the saved value: drop your edit of that field.'),
          h('ul', { class: 'drift-list' }, state.drift.map((d) => h('li', { class: 'drift-item' },
            h('span', {}, h('strong', {}, `${d.record_label} › ${d.field_name}: `), d.description,
              '. Yours: ', valueText(d.mine), ' '),
            driftActions(app, d, () => screen.refresh()))))) : null,
        h('h3', {}, `Changes to review (${state.change_count})`),
        state.changes.length
          ? h('ul', { class: 'change-list' }, state.changes.map((c) => changeItem(app, c, () => screen.refresh())),
            state.change_count > state.changes.length ? h('li', { class: 'hint' }, `…and ${state.change_count - state.changes.length} more`) : null)
          : h('p', { class: 'hint' }, 'Nothing to review yet: edit cells or records as usual.'),
        h('div', { class: 'form-actions' },
          h('button', {
            type: 'button', class: 'primary',
            onclick: async () => {
              status.textContent = 'Saving…';
              const done = await commitStaging(app);
              status.textContent = done ? '' : 'Not saved: choose Keep mine or Use the saved value for each field above.';
              await screen.refresh();
              if (!done) main.querySelector('#drift-title')?.focus?.();
            },
          }, 'Save all'),
          h('button', { type: 'button', onclick: async () => { if (await discardStaging(app, null, active.name)) await screen.refresh(); } }, 'Discard'),
          h('button', { type: 'button', onclick: async () => { await stashStaging(app); await screen.refresh(); } }, 'Set aside for later')),
        status)
        : h('section', { class: 'staging-off', 'aria-labelledby': 'staging-start-title' },
          h('h2', { id: 'staging-start-title' }, 'Start reviewing before saving'),
          h('p', {}, 'Review before saving is off: every edit is saved and shared at once. Turn it on to try changes first — ',
            'an import, a renumbering, a what-if — then save them all or discard them all.'),
          h('form', {
            class: 'inline-form',
            onsubmit: async (event) => {
              event.preventDefault();
              await startStaging(app, main.querySelector(`#${nameId}`).value.trim());
              await screen.refresh();
            },
          }, h('label', { for: nameId }, 'Name'), h('input', { id: nameId, placeholder: 'e.g. Renumber act 2 cues' }),
          h('button', { type: 'submit', class: 'primary' }, 'Start reviewing before saving')));

      const focusedId = document.activeElement && main.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
      mount(main,
        h('h1', { id: 'staging-title', tabindex: -1 }, 'Review before saving'),
        current,
        h('section', { 'aria-labelledby': 'stashed-title' },
          h('h2', { id: 'stashed-title' }, 'Set aside for later'),
          stashed.length ? h('ul', { class: 'overlay-list' }, stashed.map(overlayRow))
            : h('p', { class: 'hint' }, 'Nothing set aside.')),
        h('section', { 'aria-labelledby': 'pending-title' },
          h('h2', { id: 'pending-title' }, 'Waiting for review (from scripts)'),
          pending.length ? h('ul', { class: 'overlay-list' }, pending.map(overlayRow))
            : h('p', { class: 'hint' }, 'No script output is waiting.')));
      const again = focusedId && [...main.querySelectorAll('[aria-label]')].find((el) => el.getAttribute('aria-label') === focusedId);
      if (again) again.focus();
    },
    focus() { main.querySelector('#staging-title')?.focus(); },
  };
  await screen.refresh();
  return screen;
}
