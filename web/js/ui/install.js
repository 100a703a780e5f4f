// Installing the app. Chromium-based browsers offer an install prompt (the `beforeinstallprompt`
// event): the start screen then shows an "Install Openprod" button. Safari (every iPad and iPhone
// browser) has no such event: there the same place shows how to add Openprod to the Home Screen by
// hand, which also keeps its data from Safari's 7-day deletion. Nothing shows once it is installed.
import { h, mount } from './dom.js';

let deferred = null; // the browser's install prompt, kept until the person asks for it
const listeners = new Set();

/** Listen from the start: the event may fire before any screen asks. */
export function watchInstall() {
  window.addEventListener('beforeinstallprompt', (event) => {
    event.preventDefault(); // our own button instead of the browser's mini-infobar
    deferred = event;
    for (const fn of listeners) fn();
  });
  window.addEventListener('appinstalled', () => {
    deferred = null;
    for (const fn of listeners) fn();
  });
}

/** Safari's engine (every iPad/iPhone browser, Safari on a Mac, WebKitGTK). */
export function isWebKit(ua = navigator.userAgent) {
  return /AppleWebKit\//.test(ua) && !/(Chrome|Chromium|Edg|OPR)\//.test(ua);
}

export function isStandalone() {
  return window.matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;
}

/**
 * 'installed' | 'prompt' (the browser's install prompt is ready) | 'manual' (Safari's engine: no install
 * event, Add to Home Screen by hand) | 'wait' (an install event may come) | 'none' (no way to install).
 */
export function installState() {
  if (isStandalone()) return 'installed';
  if (deferred) return 'prompt';
  if ('onbeforeinstallprompt' in window) return 'wait';
  return isWebKit() ? 'manual' : 'none';
}

export function addToHomeScreenSteps() {
  return [
    h('p', {}, 'Openprod then opens from its own icon, like an app, with or without a network, and Safari keeps '
      + 'its data for as long as you use it.'),
    h('ol', { class: 'home-screen-steps' },
      h('li', {}, 'In Safari, tap the Share button (the square with an arrow pointing up).'),
      h('li', {}, 'Scroll down the list and tap ', h('strong', {}, 'Add to Home Screen'), '.'),
      h('li', {}, 'Tap ', h('strong', {}, 'Add'), '. From now on, open Openprod from its icon on the Home Screen.')),
    h('p', { class: 'hint' }, 'On a Mac, in Safari: File › Add to Dock.'),
  ];
}

/** The start screen's section: an install button, or the Home Screen steps, or nothing. */
export function installSection() {
  const section = h('section', { class: 'install-section', 'aria-labelledby': 'install-title' });
  const render = () => {
    if (!section.isConnected && section.dataset.rendered) {
      listeners.delete(render);
      return;
    }
    section.dataset.rendered = 'true';
    const state = installState();
    section.dataset.install = state;
    section.hidden = !['prompt', 'manual'].includes(state);
    if (state === 'prompt') {
      mount(section, h('h2', { id: 'install-title' }, 'Use Openprod like an app'),
        h('p', { class: 'hint' }, 'Installed, it opens from its own icon, works with no network, and the browser keeps its data.'),
        h('button', {
          type: 'button', class: 'primary',
          onclick: async () => {
            const event = deferred;
            if (!event) return;
            deferred = null;
            await event.prompt();
            render();
          },
        }, 'Install Openprod'));
    } else if (state === 'manual') {
      mount(section, h('h2', { id: 'install-title' }, 'Add Openprod to your Home Screen'), ...addToHomeScreenSteps());
    } else {
      mount(section, h('h2', { id: 'install-title' }, 'Use Openprod like an app'));
    }
  };
  listeners.add(render);
  render();
  return section;
}
