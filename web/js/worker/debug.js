// TEST-ONLY: drives the in-worker debug peer (openprod_web_debug), a second person's replica of the
// open workspace. Only bundles built with `build.py --debug-peer` contain this file and that wheel;
// the browser tests use it to make real concurrent edits (real identities, real signed bundles,
// delivered through WorkspaceHost.receive -> writes.ingest, like sync will).
const peers = new WeakMap(); // WorkspaceHost -> the peer's Python object

/**
 * @param {import('./host.js').WorkspaceHost} host the open workspace (this tab must own it)
 * @param {object} python the booted Python (python.js), with `debug` loaded
 * @param {string} action create | pull | set_field | set_text | state | deliver
 * @param {object} args
 */
export async function runDebug(host, python, action, args = {}) {
  if (action === 'create') {
    const identity = await python.web.new_identity(args.display_name || 'Jordan Peer');
    const peer = await host.serial(() => python.debug.DebugPeer.create(host.session, identity));
    peers.set(host, peer);
    return JSON.parse(await host.serial(() => peer.call('state', '')));
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
