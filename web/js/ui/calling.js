// Calling the show: one cue list as a full-screen, large-type calling script (what was called last,
// what to stand by, what comes after), a GO that every device following the list sees at once, and
// show notes that land in the day's performance report. The position is shared (a last-writer-wins
// pointer in the core, never a cue edit: docs/design.md, "Calling a show"); this screen draws it.
//
// Keys (a foot pedal or page turner sends one of these): Space, Enter, Page Down or → = GO;
// Page Up or ← = back one cue; N = write a note; Escape leaves the note. A held key does not repeat,
// and a second GO within GUARD_MS of the first is ignored (a double tap on a pedal). Space and Enter
// press a button someone tabbed to; every button gives the focus back to the view when pressed.
import { h, mount } from './dom.js';

const GO_KEYS = new Set([' ', 'Enter', 'PageDown', 'ArrowRight']);
const BACK_KEYS = new Set(['PageUp', 'ArrowLeft']);
export const GUARD_MS = 300;
const NOTES_OFF = 'Show notes are off for this show: add the Reports module to keep them.';

const pad = (n) => String(n).padStart(2, '0');
const localDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const clockOf = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

function modeKey(wsId, listId) {
  return `openprod.calling.${wsId}.${listId}`;
}

function loadPref(key, fallback) {
  try {
    return localStorage.getItem(key) || fallback;
  } catch {
    return fallback;
  }
}

function savePref(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch { /* storage unavailable: for this visit only */ }
}

/** The cue lists of the workspace, to choose one to call or follow. */
export async function renderCueLists({ main, app }) {
  const lists = await app.read('cue_lists');
  const body = lists.length
    ? h('ul', { class: 'calling-lists' }, lists.map((l) => h('li', {}, h('a', {
      class: 'workspace-link', href: `#/w/${app.ws.id}/call/${l.id}`,
    }, h('strong', {}, l.name), h('span', { class: 'hint' }, ` ${l.count} ${l.count === 1 ? 'cue' : 'cues'}`)))))
    : h('p', {}, 'No cue lists yet. Make one in the Cue Lists table and put cues in it; then call the show from here.');
  mount(main, h('h1', {}, 'Call the show'),
    h('p', {}, 'Choose a cue list. Everyone who opens the same list sees each GO as it happens.'), body);
  return { focus: () => main.focus() };
}

function cueBox(kind, title, cue, extra = []) {
  if (!cue) {
    return h('article', { class: `cue-box ${kind} empty`, 'aria-label': title },
      h('h2', {}, title), h('p', { class: 'cue-none' }, kind === 'current' ? 'Nothing called yet' : '—'), extra);
  }
  const fade = typeof cue.fade === 'number' ? `${cue.fade} s fade` : null;
  const where = [cue.page ? `Page ${cue.page}` : null, cue.scene, fade].filter(Boolean).join(' · ');
  return h('article', { class: `cue-box ${kind}`, 'aria-label': `${title}: cue ${cue.number}`, dataset: { cue: cue.id } },
    h('h2', {}, title),
    h('p', { class: 'cue-number' }, h('span', { class: 'cue-word' }, 'Cue '), cue.number,
      cue.called ? null : h('span', { class: 'cue-auto' }, ' follows on its own')),
    where ? h('p', { class: 'cue-where' }, where) : null,
    cue.label || cue.description ? h('p', { class: 'cue-what' }, [cue.label, cue.description].filter(Boolean).join(' — ')) : null,
    cue.call_text ? h('p', { class: 'cue-call' }, '“', cue.call_text, '”') : null,
    extra);
}

/**
 * The calling view of one cue list.
 * @param {{main: HTMLElement, app: object, listId: string}} args
 */
export async function renderCalling({ main, app, listId }) {
  const wsId = app.ws.id;
  const key = modeKey(wsId, listId);
  let mode = loadPref(key, 'following'); // a device only GOes once its person says they call the show
  let bright = loadPref('openprod.calling.bright', 'no') === 'yes';
  let sheet = null;
  let busy = false;
  let lastGo = -Infinity;
  let lastNote = null;
  let shownCue;
  const root = h('section', {
    class: 'calling', tabindex: '-1', 'aria-label': 'Calling the show', dataset: { armed: 'true' },
  });
  const live = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'assertive' });

  document.body.classList.add('calling-mode');
  const onKey = (event) => {
    if (!document.body.contains(root)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest && event.target.closest('input, textarea, select, [contenteditable]');
    if (typing) {
      if (event.key === 'Escape') {
        event.target.blur();
        root.focus();
      }
      return;
    }
    if (event.key === 'n' || event.key === 'N') {
      event.preventDefault();
      const input = root.querySelector('.note-input');
      if (input && input.disabled) say(NOTES_OFF);
      else input?.focus();
      return;
    }
    const dir = GO_KEYS.has(event.key) ? 1 : BACK_KEYS.has(event.key) ? -1 : 0;
    if (!dir) return;
    const control = event.target.closest && event.target.closest('button, a');
    if (control && !control.classList.contains('go-button') && (event.key === ' ' || event.key === 'Enter')) {
      return; // a person who tabbed to "Leave" or "Bright" presses it; the view takes the focus back after
    }
    event.preventDefault(); // a pedal's Page Down must not scroll, nor Space press a focused button
    if (event.repeat) return; // a held pedal is one GO
    move(dir);
  };
  const leave = () => {
    document.removeEventListener('keydown', onKey, true);
    window.removeEventListener('hashchange', onHash);
    document.body.classList.remove('calling-mode');
  };
  const onHash = () => {
    if (!location.hash.includes(`/call/${listId}`)) leave();
  };
  document.addEventListener('keydown', onKey, true);
  window.addEventListener('hashchange', onHash);

  function target(dir) {
    if (dir > 0) return sheet.standby ? sheet.standby.id : undefined;
    for (let i = sheet.index - 1; i >= 0; i -= 1) if (sheet.cues[i].called) return sheet.cues[i].id;
    return sheet.index >= 0 ? null : undefined; // back from the first cue: to the top of the show
  }

  async function move(dir) {
    if (!sheet || mode !== 'calling') {
      if (sheet && mode !== 'calling') say('This screen is following. Choose “I am calling” to GO from here.');
      return;
    }
    const now = performance.now();
    if (busy || now - lastGo < GUARD_MS) return;
    const cue = target(dir);
    if (cue === undefined) {
      say(dir > 0 ? 'No more cues in this list.' : 'Already at the top of the show.');
      return;
    }
    lastGo = now;
    busy = true;
    root.dataset.armed = 'false'; // GO is ready again GUARD_MS after this one (the button dims until then)
    setTimeout(() => { root.dataset.armed = 'true'; }, GUARD_MS);
    try {
      const out = await app.write('calling_go', { cue_list: listId, cue, expect: sheet.called ? sheet.called.cue : null });
      if (!out.moved) {
        const who = out.called ? out.called.by_name : 'someone';
        say(`Not moved: ${who} called ${out.current ? `cue ${out.current.number}` : 'the top'} just before you. Check, then GO again.`);
      }
      draw(out);
    } catch (err) {
      say(`GO not saved: ${err.message}`);
    } finally {
      busy = false;
    }
  }

  function say(text) {
    live.textContent = text;
    app.notify(text);
  }

  function setMode(next) {
    mode = next;
    savePref(key, next);
    draw(sheet);
    root.focus(); // keys from a pedal now reach the view, not the button just pressed
  }

  async function addNote(input, status) {
    const text = input.value;
    const d = new Date();
    try {
      const out = await app.write('calling_note', {
        cue_list: listId, text, day: localDay(d), clock: clockOf(d), offset: -d.getTimezoneOffset(), now_iso: d.toISOString(),
      });
      input.value = '';
      lastNote = out;
      status.textContent = `Added to ${out.title} (Stage management): ${out.line}`;
      input.blur();
      root.focus();
    } catch (err) {
      status.textContent = `Note not saved: ${err.message}`;
    }
  }

  function calledLine() {
    const c = sheet.called;
    if (!c) return 'Nothing called yet in this list.';
    const when = new Date(c.at_ms);
    const at = `${clockOf(when)}:${pad(when.getSeconds())}`;
    if (c.missing) return `${c.by_name} called a cue that is no longer in this list (${at}). GO calls the first cue.`;
    const what = sheet.current ? `cue ${sheet.current.number}` : 'back to the top';
    return `${c.by === app.ws.info.actor ? 'You' : c.by_name} called ${what} at ${at}.`;
  }

  function draw(next) {
    if (next) sheet = next;
    if (!sheet) return;
    const changed = shownCue !== undefined && shownCue !== (sheet.current ? sheet.current.id : null);
    shownCue = sheet.current ? sheet.current.id : null;
    root.dataset.theme = bright ? 'bright' : 'dark';
    root.dataset.mode = mode;
    root.dataset.index = String(sheet.index);
    const warnings = sheet.warnings.length
      ? h('ul', { class: 'calling-warnings' }, sheet.warnings.map((w) => h('li', { class: `warn-${w.level}` }, w.text)))
      : null;
    const noteInput = h('input', {
      class: 'note-input', type: 'text', maxlength: '2000', autocomplete: 'off', id: 'calling-note',
      // short, so it fits the box at both tablet sizes; the line under the box says the rest
      placeholder: sheet.notes_to ? 'What happened' : 'Notes are off', disabled: !sheet.notes_to,
    });
    const noteStatus = h('p', { class: 'note-status', role: 'status' },
      lastNote ? `Added to ${lastNote.title} (Stage management): ${lastNote.line}`
        : sheet.notes_to ? 'Notes go to today’s performance report, with the time and the cue.' : NOTES_OFF);
    const calling = mode === 'calling';
    const goLabel = sheet.standby ? `cue ${sheet.standby.number}` : 'no more cues';
    mount(root,
      h('header', { class: 'calling-top' },
        h('h1', {}, sheet.name, h('span', { class: 'calling-count' }, ` · ${sheet.count} cues`)),
        h('p', { class: 'calling-called', dataset: { by: sheet.called ? sheet.called.by_name : '' } }, calledLine()),
        h('div', { class: 'calling-tools' },
          // Two buttons, one pressed, each named for what it is (a screen reader says "Following,
          // pressed"): one button whose name changed with its state was read as "Following, not pressed".
          h('div', { class: 'mode-switch', role: 'group', 'aria-label': 'This screen' },
            h('button', {
              type: 'button', class: calling ? 'mode-button' : 'mode-button on', 'aria-pressed': String(!calling),
              onclick: () => setMode('following'), title: 'This screen moves when the caller says GO',
            }, 'Following'),
            h('button', {
              type: 'button', class: calling ? 'mode-button on' : 'mode-button', 'aria-pressed': String(calling),
              onclick: () => setMode('calling'), title: 'GO from this screen',
            }, 'I am calling')),
          h('button', { // one name, pressed or not: "Bright, pressed" is the bright screen
            type: 'button', class: bright ? 'theme-button on' : 'theme-button', 'aria-pressed': String(bright),
            onclick: () => { bright = !bright; savePref('openprod.calling.bright', bright ? 'yes' : 'no'); draw(); root.focus(); },
          }, 'Bright'),
          h('a', { class: 'button leave-button', href: `#/w/${wsId}/call` }, 'Leave'))),
      h('div', { class: 'calling-cues' },
        cueBox(`current${changed ? ' just-called' : ''}`, 'Called', sheet.current),
        cueBox('standby', 'Standby', sheet.standby, warnings),
        cueBox('next', 'Then', sheet.next)),
      h('div', { class: 'calling-controls' },
        h('button', {
          type: 'button', class: 'go-button', disabled: !calling || !sheet.standby,
          'aria-keyshortcuts': 'Space Enter PageDown ArrowRight', onclick: () => { move(1); root.focus(); },
        }, h('span', { class: 'go-word' }, 'GO'), h('span', { class: 'go-cue' }, calling ? goLabel : 'off while following')),
        h('button', {
          type: 'button', class: 'back-button', disabled: !calling || sheet.index < 0,
          'aria-keyshortcuts': 'PageUp ArrowLeft', onclick: () => { move(-1); root.focus(); },
        }, 'Back one'),
        h('form', {
          class: 'note-form',
          onsubmit: (event) => { event.preventDefault(); addNote(noteInput, noteStatus); },
        }, h('label', { for: 'calling-note' }, 'Show note'), noteInput,
        h('button', { type: 'submit', disabled: !sheet.notes_to }, 'Add note')),
        noteStatus,
        h('p', { class: 'calling-keys' }, calling
          ? 'GO: Space, Enter, Page Down or → (a foot pedal works too) · Back: Page Up or ← · Note: N'
          : 'Following: this screen moves when the caller says GO. Press “I am calling” to call from here.')),
      live);
    if (changed) live.textContent = sheet.current ? `Called cue ${sheet.current.number}` : 'Back to the top';
  }

  async function refresh() {
    if (busy) return;
    try {
      draw(await app.read('calling_sheet', { cue_list: listId }));
    } catch (err) {
      mount(root, h('h1', {}, 'This cue list cannot be called'), h('p', { class: 'error' }, err.message),
        h('p', {}, h('a', { href: `#/w/${wsId}/call` }, 'Choose another cue list')));
    }
  }

  mount(main, root);
  await refresh();
  return { refresh, focus: () => root.focus(), leave };
}
