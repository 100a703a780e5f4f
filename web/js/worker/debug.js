// TEST-ONLY: drives the in-worker debug peer (openprod_web_debug), a second person's replica of the
// open workspace. Only bundles built with `build.py --debug-peer` contain this file and that wheel;
// the browser tests use it to make real concurrent edits (real identities, real signed bundles,
// delivered through WorkspaceHost.receive -> writes.ingest, like sync will).
const peers = new WeakMap(); // WorkspaceHost -> the peer's Python object

/**
 * @param {import('./host.js').WorkspaceHost} host the open workspace (this tab must own it)
 * @param {object} python the booted Python (python.js), with `debug` loaded
 * @param {string} action create | pull | set_field | set_text | state | deliver; hold_log | log_hold | release_log
 * @param {object} args
 */
export async function runDebug(host, python, action, args = {}) {
  if (action === 'create') {
    const identity = await python.web.new_identity(args.display_name || 'Jordan Peer');
    const peer = await host.serial(() => python.debug.DebugPeer.create(host.session, identity));
    peers.set(host, peer);
    return JSON.parse(await host.serial(() => peer.call('state', '')));
  }
  if (action === 'hold_log') return holdLog(host);
  if (action === 'log_hold') return host.logHold ? host.logHold.seen() : null;
  if (action === 'release_log') {
    const hold = host.logHold;
    host.logHold = null;
    if (hold) hold.release();
    return Boolean(hold);
  }
  const peer = peers.get(host);
  if (!peer) throw new Error('create the debug peer first');
  if (action === 'deliver') {
    const wires = await host.serial(async () => {
      const proxy = peer.take_outbox();
      try {
        return proxy.toJs().map((wire) => wire.slice());
      } finally {
        proxy.destroy();
      }
    });
    return host.receive(wires, 'debug-peer');
  }
  return JSON.parse(await host.serial(() => peer.call(action, JSON.stringify(args))));
}

/**
 * Hold the workspace's log writes (IndexedDB) until 'release_log': a test sees what the worker does
 * while a write is in flight (sync's catch-up keeps ingesting; nothing it acknowledges leaves).
 * 'log_hold' says how many writes wait, and the sync loop's counters when the first began waiting.
 */
function holdLog(host) {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  let waiting = 0;
  let first = null;
  const counters = () => {
    const turns = host.turns.stats().totals;
    const sync = host.sync;
    return { workTurns: turns['sync:work'] ? turns['sync:work'].n : 0, framesSent: sync ? sync.framesSent : 0,
      links: sync ? [...sync.links.values()].filter((l) => l.established).map((l) => l.id).join(' ') : '' };
  };
  host.logHold = {
    release,
    async wait() {
      waiting += 1;
      first ??= counters();
      await gate;
    },
    seen: () => ({ waiting, first, now: counters() }),
  };
  return true;
}
