// Scripts: automation that makes many changes at once (renumber cues, import a CSV, fill in call
// times). A run never saves anything by itself: its changes wait in Staging for a person to look
// at and commit, or throw away. The screen lists the scripts that come with the app and the
// workspace's own, asks for a script's inputs, shows progress while it runs, and says what it did.
import { h, mount, uid } from './dom.js';
import { plural } from './format.js';
import { triggerForm, triggerList, triggerRunsView } from './triggers.js';

const firstSentence = (text) => (text.match(/^.*?[.:](\s|$)/) || [text])[0].replace(/:\s*$/, '.').trim();

function inputFor(arg, id) {
  const common = { id, name: arg.name, required: arg.required };
  if (arg.kind === 'boolean') return h('input', { ...common, type: 'checkbox', checked: arg.default === 'true', required: false });
  if (arg.kind === 'number') return h('input', { ...common, type: 'number', step: 'any', value: arg.default ?? '' });
  if (arg.kind === 'date') return h('input', { ...common, type: 'date', value: arg.default ?? '' });
  if (arg.kind === 'json') return h('textarea', { ...common, rows: 3, spellcheck: false }, arg.default ?? '');
  if (arg.kind === 'csv') return h('input', { ...common, type: 'file', accept: '.csv,text/csv,text/plain' });
  return h('input', { ...common, type: 'text', value: arg.default ?? '', autocomplete: 'off' });
}

async function readInputs(form, script) {
  const args = {};
  for (const arg of script.args) {
    const el = form.elements.namedItem(arg.name);
    if (arg.kind === 'boolean') args[arg.name] = el.checked;
    else if (arg.kind === 'csv') args[arg.name] = el.files && el.files[0] ? await el.files[0].text() : '';
    else args[arg.name] = el.value;
  }
  return args;
}

function resultView(app, result, script, again) {
  if (result.status === 'failed') {
    return h('div', { class: 'script-result failed', role: 'alert', tabindex: -1 },
      h('p', {}, h('strong', {}, `“${script.name}” stopped. Nothing was changed.`)),
      h('p', {}, result.kind === 'limit' ? `It took too long or used too much memory: ${result.message}`
        : result.kind === 'sandbox' ? `It tried something scripts are not allowed to do: ${result.message}`
          : result.message));
  }
  const messages = (result.events || []).filter((e) => e.kind === 'toast' || (e.kind === 'log' && e.level !== 'debug'));
  const said = messages.length ? h('ul', { class: 'script-messages' }, messages.map((e) => h('li', {
    class: e.level === 'warn' || e.level === 'error' ? 'warn' : '',
  }, e.message))) : null;
  if (result.status === 'unchanged') {
    return h('div', { class: 'script-result', role: 'status', tabindex: -1 },
      h('p', {}, h('strong', {}, `“${script.name}” finished without changing anything.`)), said);
  }
  return h('div', { class: 'script-result', role: 'status', tabindex: -1 },
    h('p', {}, h('strong', {}, `${plural(result.ops, 'change')} ready for you to review.`),
      ' Nothing is saved until you save them in Review before saving.'),
    said,
    result.skipped && result.skipped.length ? h('p', { class: 'warn' }, `${plural(result.skipped.length, 'change')} could not be made and were skipped.`) : null,
    h('div', { class: 'form-actions' },
      h('button', {
        type: 'button', class: 'primary',
        onclick: async () => {
          await app.write('stage_activate', { overlay: result.overlay });
          app.navigate(`/w/${app.ws.id}/staging`);
        },
      }, 'Review changes'),
      h('button', {
        type: 'button',
        onclick: async () => {
          await app.write('stage_discard', { overlay: result.overlay });
          app.notify(`The changes from “${script.name}” were thrown away; nothing was saved.`);
          again();
        },
      }, 'Throw them away')));
}

function newScriptForm(app, done) {
  const ids = { name: uid('script-name'), description: uid('script-description'), source: uid('script-source') };
  const status = h('p', { class: 'form-status', role: 'status' });
  const form = h('form', {
    class: 'script-inputs',
    onsubmit: async (event) => {
      event.preventDefault();
      const value = (id) => form.querySelector(`#${id}`).value;
      try {
        const saved = await app.write('script_save', {
          name: value(ids.name).trim(), description: value(ids.description).trim(), source: value(ids.source),
        });
        app.notify(`Saved “${value(ids.name).trim()}”: everyone in this workspace gets it when they sync.`);
        await done(saved.id);
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
      }
    },
  },
  h('div', { class: 'form-row' }, h('label', { for: ids.name }, 'Name'), h('input', { id: ids.name, required: true, autocomplete: 'off' })),
  h('div', { class: 'form-row' }, h('label', { for: ids.description }, 'What it does'), h('input', { id: ids.description, autocomplete: 'off' })),
  h('div', { class: 'form-row' }, h('label', { for: ids.source }, 'Lua script'),
    h('textarea', { id: ids.source, rows: 10, required: true, spellcheck: false,
      placeholder: '--@arg label text "New label"\nfor _, cue in ipairs(core.query("table == \'LightingCues\'")) do\n  core.set_field(cue.id, "label", args.label)\nend' })),
  h('p', { class: 'hint' }, 'Inputs are declared at the top, e.g. --@arg start number "First number" = 1.'),
  h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save script')),
  status);
  return h('section', { class: 'script-form', 'aria-labelledby': 'new-script-title' },
    h('h2', { id: 'new-script-title', tabindex: -1 }, 'New script'), form);
}

export async function renderScripts({ main, app }) {
  let scripts = await app.read('script_library');
  let triggers = await app.read('triggers');
  let runs = await app.read('trigger_runs');
  let chosen = null;
  let adding = false;
  let trigger = undefined; // undefined: no trigger form; null: a new one; else the one being changed
  let result = null;
  const listId = uid('scripts');
  const pick = (what) => { chosen = what.script || null; adding = Boolean(what.adding); trigger = what.trigger; result = null; };

  const screen = {
    render() {
      const shipped = scripts.filter((s) => s.read_only);
      const own = scripts.filter((s) => !s.read_only);
      const item = (s) => h('li', {},
        h('button', {
          type: 'button', class: `script-choice${chosen && chosen.id === s.id ? ' chosen' : ''}`,
          'aria-pressed': chosen && chosen.id === s.id ? 'true' : 'false',
          onclick: () => { pick({ script: s }); screen.render(); main.querySelector('#script-form-title')?.focus(); },
        }, h('strong', {}, s.name), h('span', { class: 'hint' }, firstSentence(s.description))));
      mount(main,
        h('h1', { id: 'scripts-title', tabindex: -1 }, 'Scripts'),
        h('p', {}, 'Scripts make many changes at once. Their changes wait for you in Review before saving: nothing is saved ',
          'until you have looked at them and saved them.'),
        h('div', { class: 'scripts-layout' },
          h('nav', { class: 'script-list', 'aria-labelledby': listId },
            h('h2', { id: listId }, 'Choose a script'),
            h('h3', {}, 'Comes with the app'),
            h('ul', {}, shipped.map(item)),
            h('h3', {}, 'Kept in this workspace'),
            own.length ? h('ul', {}, own.map(item)) : h('p', { class: 'hint' }, 'None yet.'),
            h('button', {
              type: 'button',
              onclick: () => { pick({ adding: true }); screen.render(); main.querySelector('#new-script-title')?.focus(); },
            }, 'New script…'),
            triggerList(triggers, trigger && trigger.id, (t) => {
              pick({ trigger: t }); screen.render(); main.querySelector('#trigger-form-title')?.focus();
            }),
            h('button', {
              type: 'button',
              onclick: () => { pick({ trigger: null }); screen.render(); main.querySelector('#trigger-form-title')?.focus(); },
            }, 'New trigger…'),
            triggerRunsView(runs)),
          adding ? newScriptForm(app, async (id) => {
            scripts = await app.read('script_library');
            triggers = await app.read('triggers');
            pick({ script: scripts.find((s) => s.id === id) });
            screen.render();
          }) : trigger !== undefined ? triggerForm(app, triggers, scripts, trigger, async (id) => {
            triggers = await app.read('triggers');
            pick({ trigger: triggers.triggers.find((t) => t.id === id) });
            screen.render();
          }) : chosen ? screen.form() : h('section', { class: 'script-form' },
            h('p', { class: 'hint' }, 'Choose a script to see what it needs.'))));
    },
    form() {
      const script = chosen;
      const progressId = uid('script-progress');
      const bar = h('progress', { id: progressId, max: 1, value: 0 });
      const progress = h('div', { class: 'script-progress', hidden: true },
        h('label', { for: progressId }, 'Working…'), bar);
      const status = h('div', { class: 'script-status' }, result ? resultView(app, result, script, () => { result = null; screen.render(); }) : null);
      const fields = script.args.map((arg) => {
        const id = uid(`arg-${arg.name}`);
        return h('div', { class: 'form-row' }, h('label', { for: id }, arg.label, arg.required ? '' : ' (optional)'), inputFor(arg, id));
      });
      const form = h('form', {
        class: 'script-inputs',
        onsubmit: async (event) => {
          event.preventDefault();
          const button = form.querySelector('button[type=submit]');
          button.disabled = true;
          progress.hidden = false;
          mount(status);
          app.progressListener = ({ kind, done, total }) => {
            if (kind !== 'script') return;
            bar.max = total || 1;
            bar.value = done;
          };
          try {
            const args = await readInputs(form, script);
            result = await app.write('script_run_library', { script_id: script.id, args });
          } catch (err) {
            result = { status: 'failed', kind: 'input', message: err.message };
          } finally {
            app.progressListener = null;
            button.disabled = false;
            progress.hidden = true;
          }
          mount(status, resultView(app, result, script, () => { result = null; screen.render(); }));
          status.querySelector('[role]')?.focus?.();
        },
      }, fields, h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Run')));
      return h('section', { class: 'script-form', 'aria-labelledby': 'script-form-title' },
        h('h2', { id: 'script-form-title', tabindex: -1 }, script.name),
        h('p', {}, script.description),
        script.read_only ? h('p', { class: 'hint' }, 'Comes with the app (it cannot be edited here).') : null,
        form, progress, status);
    },
    async refresh() {
      // what triggers did changes with edits made elsewhere in the app; redraw only that part
      const fresh = await app.read('trigger_runs');
      if (fresh.length === runs.length) return;
      runs = fresh;
      const old = main.querySelector('.trigger-runs');
      const view = triggerRunsView(runs);
      if (old && view) old.replaceWith(view);
      else if (view) main.querySelector('.script-list')?.append(view);
    },
    focus() { main.querySelector('#scripts-title')?.focus(); },
  };
  screen.render();
  return screen;
}
