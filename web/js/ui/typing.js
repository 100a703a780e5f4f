// Typing into a collaborative text field saves itself, in bursts: the keystrokes typed until a pause
// (TYPING.pauseMs), or for at most TYPING.burstMaxMs of non-stop typing, become one edit and one
// signed bundle, never one per keystroke. A burst is also saved at once when the field loses focus,
// when the person leaves the screen (another route) and when the page is hidden or closed
// (visibilitychange, pagehide). Until its save is confirmed, a burst is also kept on this device
// (ui/drafts.js), so a tab closed or a browser crashing in the middle of one loses nothing: the record's
// form puts it back the next time it is opened.

/** Burst timings; tests may change them through this module (same URL, same module instance). */
export const TYPING = { pauseMs: 400, burstMaxMs: 2000 };

const open = new Set(); // the savers of the screen on show

function flushAll() {
  for (const saver of open) saver.flush();
}

window.addEventListener('pagehide', flushAll);
window.addEventListener('hashchange', flushAll);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') flushAll();
});

/** Save whatever earlier screens still hold, then forget them (a new screen is on show). */
export function closeTyping() {
  flushAll();
  open.clear();
}

/**
 * Save typing in `input` (a textarea of a collaborative text field) in bursts.
 * @param {object} o
 * @param {HTMLTextAreaElement} o.input
 * @param {() => string} o.base the text as last saved or shown: where this person's edit starts
 * @param {(value: string, base: string) => Promise<any>} o.save writes the edit (one bundle)
 * @param {(value: string, result: any) => void} o.saved after a save: `value` is now the base
 * @param {(err: Error) => void} o.failed
 * @param {() => void} o.left the field lost focus and its typing is saved (show others' typing now)
 * @param {(value: string, base: string) => void} [o.typed] after each keystroke, before any save (ui/drafts.js)
 */
export function saveTyping({ input, base, save, saved, failed, left, typed = () => {} }) {
  let timer = null;
  let started = 0; // when the unsaved burst began (0: nothing unsaved)
  let inflight = null;
  let next = null; // a save waiting for the one in flight (text typed meanwhile)

  const saver = {
    /** Save the burst now (no-op if nothing changed); resolves once all typed so far is saved. */
    flush() {
      clearTimeout(timer);
      timer = null;
      started = 0;
      if (inflight) { // typed while the last burst was being saved: save again right after it
        next = next || inflight.then(() => {
          next = null;
          return saver.flush();
        });
        return next;
      }
      const value = input.value;
      const from = base();
      if (value === from) return Promise.resolve();
      inflight = save(value, from)
        .then((result) => saved(value, result))
        .catch((err) => failed(err))
        .finally(() => {
          inflight = null;
        });
      return inflight;
    },
    /** True while typed text is not yet saved (or being saved). */
    busy: () => Boolean(inflight || timer),
  };

  input.addEventListener('input', () => {
    typed(input.value, base());
    const now = performance.now();
    if (!started) started = now;
    clearTimeout(timer);
    if (now - started >= TYPING.burstMaxMs) saver.flush();
    else timer = setTimeout(() => saver.flush(), TYPING.pauseMs);
  });
  input.addEventListener('blur', () => saver.flush().then(() => {
    if (document.activeElement !== input) left();
  }));
  open.add(saver);
  return saver;
}
