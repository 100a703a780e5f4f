// Keeping the work on this device: whether the browser may delete it, in words; backups (download a
// file of the whole workspace, restore it on a fresh device); the storage line in the footer.
//
// Browsers keep a site's data "best effort" unless it is made persistent: Chromium decides by
// engagement (an installed app usually gets it); Safari, and so every browser on iPad and iPhone,
// deletes a site's data after 7 days in which it was not opened (not for an app on the Home Screen,
// which counts its own days of use). So: ask for persistence where the browser allows it, say
// plainly when data may be deleted, and offer a backup.
import { openDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';
import { formatDateTime } from './format.js';
import { addToHomeScreenSteps, isStandalone, isWebKit } from './install.js';

const DAY = 24 * 3600 * 1000;
const QUIET_MS = 7 * DAY; // after a backup, or "Not now", the banner stays away for a week

/** How safe this browser keeps the data: 'kept' | 'webkit-7-days' | 'best-effort' | 'unknown'. */
export async function storageRisk() {
  if (!navigator.storage || !navigator.storage.persisted) return isWebKit() && !isStandalone() ? 'webkit-7-days' : 'unknown';
  let persisted = false;
  try {
    persisted = await navigator.storage.persisted();
  } catch { /* treated as not persistent */ }
  if (persisted) return 'kept';
  return isWebKit() && !isStandalone() ? 'webkit-7-days' : 'best-effort';
}

/** The risk in words, for a workspace that is (`shared`) or is not on a relay too. */
export function riskWords(risk, shared) {
  const safeElsewhere = shared ? 'Changes already synced stay safe on the relay, but changes only on this device would be lost.'
    : 'This workspace is only on this device, so everything in it would be lost.';
  if (risk === 'webkit-7-days') {
    return {
      title: 'Safari may delete your work on this device',
      text: `Safari, like every browser on iPad and iPhone, deletes what a website keeps on the device when it has not been opened for 7 days. ${safeElsewhere} Add Openprod to your Home Screen and keep a backup.`,
    };
  }
  if (risk === 'best-effort' || risk === 'unknown') {
    return {
      title: 'This browser has not promised to keep your work',
      text: `It may clear what Openprod keeps here when the device runs low on space. ${safeElsewhere} Keep a backup.`,
    };
  }
  return { title: 'Kept on this device', text: 'This browser has promised to keep Openprod\'s data until you remove it.' };
}

export function when(ms) {
  if (!ms) return 'never';
  const days = Math.floor((Date.now() - ms) / DAY);
  const at = formatDateTime(ms);
  return days >= 1 ? `${at} (${days} ${days === 1 ? 'day' : 'days'} ago)` : at;
}

const size = (bytes) => (bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`);

/**
 * Make a backup of the open workspace and hand it to the browser as a download. Returns a line that
 * says what was saved, with a link to save it again (some browsers only save on a direct tap).
 */
export async function downloadBackup(app) {
  const backup = await app.api.exportBackup();
  const url = URL.createObjectURL(new Blob([backup.data], { type: 'application/octet-stream' }));
  const link = h('a', { href: url, download: backup.fileName, class: 'backup-file' }, backup.fileName);
  const hidden = h('a', { href: url, download: backup.fileName, hidden: true });
  document.body.append(hidden);
  hidden.click();
  hidden.remove();
  app.lastBackupAt = backup.at;
  app.notify(`Backup saved: ${backup.fileName} (${size(backup.bytes)}).`);
  app.refreshStorage();
  return h('p', { class: 'backup-done', role: 'status' }, `Backup made: ${size(backup.bytes)}, ${when(backup.at)}. `,
    'If your browser did not save it, save this file: ', link);
}

/** The Sync screen's Backup section: what a backup is, when the last one was made, and the button. */
export function backupSection(app, { risk, shared, backupAt }) {
  const out = h('div', { class: 'backup-out', 'aria-live': 'polite' });
  const button = h('button', {
    type: 'button', class: 'primary',
    onclick: async () => {
      button.disabled = true;
      mount(out, h('p', {}, 'Making the backup…'));
      try {
        mount(out, await downloadBackup(app));
        mount(last, `Last backup: ${when(app.lastBackupAt)}`);
      } catch (err) {
        mount(out, h('p', { class: 'error' }, `No backup made: ${err.message}`));
      } finally {
        button.disabled = false;
      }
    },
  }, 'Download a backup');
  const last = h('p', { class: 'backup-last' }, `Last backup: ${when(backupAt)}`);
  const words = riskWords(risk, shared);
  return h('section', { class: 'backup-section', 'aria-labelledby': 'backup-title' },
    h('h2', { id: 'backup-title' }, 'Backup'),
    risk === 'kept' ? null : h('p', { class: 'storage-risk', dataset: { risk } }, h('strong', {}, `${words.title}. `), words.text),
    h('p', { class: 'hint' }, 'A backup is one file with every saved change of this workspace, signed by the people who made '
      + 'them. Keep it somewhere safe (Files, a USB stick, an e-mail to yourself). To bring the workspace back on any device, '
      + 'open Openprod there and choose “Restore from a backup” on the start screen. Changes still waiting for review (Review before saving) are not in it.'),
    last, button, out);
}

/** The start screen's restore form: choose a backup file; a fresh replica is built and checked from it. */
export function restoreForm(app) {
  const fileId = uid('backup-file');
  const status = h('p', { class: 'form-status', role: 'status' });
  const input = h('input', { id: fileId, type: 'file', accept: '.openprod-backup,application/octet-stream' });
  const form = h('form', {
    class: 'restore-form', 'aria-labelledby': 'restore-title',
    onsubmit: async (event) => {
      event.preventDefault();
      const file = input.files && input.files[0];
      if (!file) {
        status.textContent = 'Choose the backup file first.';
        input.focus();
        return;
      }
      const submit = form.querySelector('button[type=submit]');
      submit.disabled = true;
      status.textContent = 'Restoring… every change is checked, which takes a while for a large workspace.';
      try {
        const data = new Uint8Array(await file.arrayBuffer());
        const restored = await app.api.restoreBackup(data);
        app.requestPersistence();
        app.notify(`Restored “${restored.name}”: ${restored.bundles.toLocaleString()} saved changes, exactly as in the backup.`);
        app.navigate(`/w/${restored.workspace}`);
      } catch (err) {
        status.textContent = `Not restored: ${err.message}`;
        submit.disabled = false;
      }
    },
  },
  h('h2', { id: 'restore-title' }, 'Restore from a backup'),
  h('p', { class: 'hint' }, 'A backup file (.openprod-backup) made on this or another device brings a workspace back, '
    + 'with every saved change and who made it.'),
  h('label', { for: fileId }, 'Backup file'), input,
  h('button', { type: 'submit' }, 'Restore'),
  status);
  return form;
}

/**
 * The banner under the header while a workspace is open, where the browser may delete data within
 * days (Safari's engine, not on the Home Screen): said once a week at most, with a backup button.
 */
export function renderStorageBanner(el, app, { risk, shared, backupAt }) {
  const quietSince = Math.max(backupAt || 0, Number(localStorage.getItem('openprod.storageBannerQuietAt') || 0));
  if (risk !== 'webkit-7-days' || Date.now() - quietSince < QUIET_MS) {
    el.hidden = true;
    mount(el);
    return;
  }
  const words = riskWords(risk, shared);
  const out = h('span', { class: 'banner-out' });
  const quiet = () => {
    try {
      localStorage.setItem('openprod.storageBannerQuietAt', String(Date.now()));
    } catch { /* storage unavailable: hidden for this visit */ }
    el.hidden = true;
    app.fit();
  };
  mount(el,
    h('p', { class: 'banner-text' }, h('strong', {}, `${words.title}. `), words.text, ` Last backup: ${when(backupAt)}.`),
    h('div', { class: 'banner-actions' },
      h('button', {
        type: 'button', class: 'small primary',
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            mount(out, await downloadBackup(app));
            quiet();
          } catch (err) {
            app.notify(`No backup made: ${err.message}`);
            event.target.disabled = false;
          }
        },
      }, 'Download a backup'),
      h('button', { type: 'button', class: 'small', onclick: () => showHomeScreenSteps() }, 'Add to Home Screen…'),
      h('button', { type: 'button', class: 'small', onclick: quiet }, 'Not now')),
    out);
  el.hidden = false;
}

export function showHomeScreenSteps() {
  openDialog({
    title: 'Add Openprod to your Home Screen',
    className: 'home-screen-dialog',
    body: (_dialog, close) => [...addToHomeScreenSteps(), h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'primary', onclick: close }, 'Done'))],
  });
}

/** The footer's storage line: how safe the data is here, with what can be done about it. */
export function renderStorageLine(el, app, { risk, asked }) {
  el.dataset.persisted = String(risk === 'kept');
  el.dataset.risk = risk;
  if (risk === 'kept') {
    mount(el, 'Storage: kept on this device (persistent)');
  } else if (risk === 'webkit-7-days') {
    mount(el, 'Storage: Safari deletes it after 7 days without use. ',
      app.ws ? h('a', { href: `#/w/${app.ws.id}/sync`, class: 'link-button' }, 'Back up') : null);
  } else if (risk === 'unknown') {
    mount(el, 'Storage: this browser cannot promise to keep data');
  } else {
    mount(el, 'Storage: best effort — the browser may clear it when the device is low on space',
      asked ? ' (asked to keep it: not granted yet; installing the app helps)' : '',
      navigator.storage && navigator.storage.persist ? h('button', {
        type: 'button', class: 'small link-button', onclick: () => app.requestPersistence(),
      }, 'Ask to keep') : null);
  }
}
