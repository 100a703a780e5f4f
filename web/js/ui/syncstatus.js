// Sync status in words, and the header's indicator (a link to the Sync screen). The status object
// comes from the worker's sync engine (worker/sync.js `describe`); "retrying in N s" counts down here.
import { h, mount } from './dom.js';
import { formatDateTime, plural } from './format.js';

const number = (n) => Number(n || 0).toLocaleString();

/** A time in words: "just now", "3 min ago", or the clock time for anything older than an hour. */
export function ago(ms, now = Date.now()) {
  if (!ms) return 'never';
  const s = Math.round((now - ms) / 1000);
  if (s < 10) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return formatDateTime(ms);
}

/** Said wherever sync is described in a browser without WebRTC (WebKitGTK; a locked-down browser). */
export const NO_RTC = 'This browser cannot connect directly to other browsers, so your changes travel through the '
  + 'relay. Everything still syncs while the relay is reachable.';

/** {short, long} for the header and the Sync screen. */
export function describeSync(s, now = Date.now()) {
  if (!s) return { short: '', long: '' };
  const words = describeState(s, now);
  if (s.rtc !== false || ['local', 'no-direct'].includes(s.state)) return words;
  return {
    short: s.state === 'in-sync' ? 'In sync through the relay' : words.short,
    long: `${words.long} ${NO_RTC}`,
  };
}

function describeState(s, now) {
  const direct = (s.peers || []).filter((p) => p.state === 'open').length;
  const peers = direct ? ` · ${plural(direct, 'browser', 'browsers')} direct` : '';
  switch (s.state) {
    case 'local':
      return { short: 'Only on this device', long: 'This workspace is only on this device. Publish it to a relay to work on it with others.' };
    case 'no-direct':
      return {
        short: 'Not syncing',
        long: 'This workspace is set to sync only directly between browsers, and this browser cannot connect directly '
          + 'to others. In Connection settings, choose “Through the relay” to sync through the relay instead.',
      };
    case 'paused':
      return { short: 'Sync paused', long: 'Sync is paused on this device: your changes stay here until you resume.' };
    case 'refused':
      return { short: 'Sync refused', long: `The relay refused to sync this workspace: ${s.error}` };
    case 'catching-up': {
      const { received, remaining } = s.progress;
      return { short: `Syncing ${number(received)} of ${number(received + remaining)}`, long: 'Catching up with changes made elsewhere. You can keep working meanwhile.' };
    }
    case 'syncing':
      return { short: `Syncing…${peers}`, long: 'Exchanging changes.' };
    case 'in-sync':
      return { short: `In sync${peers}`, long: `In sync${s.relay && s.relay.state === 'open' ? ' with the relay' : ''}${direct ? ` and ${plural(direct, 'browser', 'browsers')} directly` : ''}.` };
    case 'waiting':
      return { short: 'Waiting for others', long: 'Connected to the signalling room; no other browser of this workspace is online right now.' };
    case 'connecting':
      return { short: 'Connecting…', long: 'Connecting to the relay.' };
    case 'offline': {
      if (s.deviceOffline) return { short: 'Offline', long: 'This device is offline. Everything still works here; changes are shared when the network is back.' };
      const secs = s.retryAt ? Math.max(0, Math.ceil((s.retryAt - now) / 1000)) : null;
      const retry = secs === null ? '' : secs > 0 ? `, retrying in ${secs} s` : ', retrying now';
      return { short: `Offline${retry}`, long: `Offline${retry}. Everything still works here; changes are shared when the connection is back.` };
    }
    default:
      return { short: s.state, long: s.state };
  }
}

/** The relay as a person knows it: the computer it runs on ("the relay at sams-laptop.local:8916"). */
export function relayPlace(url) {
  try {
    return `the relay at ${new URL(url).host}`;
  } catch {
    return 'the relay';
  }
}

/** One line of the Sync screen's "Connected" list: who or what, how changes travel, and how it is going.
 * `relayUrl`: the relay's address; how the link is carried (WebSocket, WebRTC) is for engineers only. */
export function linkLine(link, relayUrl) {
  const how = link.kind === 'relay' ? `Through ${relayPlace(relayUrl)}` : `Directly with ${link.name}’s browser`;
  let state = 'connecting';
  if (link.progress) state = `receiving ${number(link.progress.received)} of ${number(link.progress.received + link.progress.remaining)}`;
  else if (link.state === 'open') state = link.inSync ? 'in sync' : 'syncing';
  return `${how} — ${state}`;
}

/** The header's sync indicator: text, a small progress bar during catch-up, a countdown while offline. */
export class SyncIndicator {
  constructor(element) {
    this.element = element;
    this.status = null;
    this.ticker = null;
  }

  show(status, workspaceId) {
    this.status = status;
    this.workspaceId = workspaceId;
    this.render();
    clearInterval(this.ticker);
    this.ticker = status && status.state === 'offline' && status.retryAt ? setInterval(() => this.render(), 1000) : null;
  }

  hide() {
    this.status = null;
    clearInterval(this.ticker);
    this.element.hidden = true;
  }

  render() {
    const s = this.status;
    const el = this.element;
    if (!s) {
      el.hidden = true;
      return;
    }
    el.hidden = false;
    el.href = `#/w/${this.workspaceId}/sync`;
    el.dataset.state = s.state;
    const { short } = describeSync(s);
    const bar = s.state === 'catching-up' && s.progress
      ? h('progress', { class: 'sync-mini', max: s.progress.received + s.progress.remaining, value: s.progress.received, 'aria-hidden': 'true' }) : null;
    mount(el, h('span', { class: 'sync-dot', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden' }, 'Sync: '),
      h('span', { class: 'sync-text' }, short), bar);
    el.title = describeSync(s).long;
  }
}
