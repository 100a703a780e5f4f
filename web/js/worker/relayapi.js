// Talking to a relay over HTTP (docs/relay.md): signed requests (publish, join, access keys, join
// mode) and the addresses of its sockets. The bodies are signed in Python (openprod_web.sync) with
// the WebCrypto key; here they are only posted, and the relay's errors turned into plain words.

/** An error the relay answered (or the network): `code` is the relay's error code or 'unreachable'. */
export class RelayError extends Error {
  constructor(code, message, detail = '', retryAfterS = null) {
    super(message);
    this.name = 'RelayError';
    this.code = code;
    this.detail = detail;
    this.retryAfterS = retryAfterS;
  }
}

const MESSAGES = {
  invalid_access_key: 'That access key is not valid for this workspace. Check it with the person who gave it to you: keys expire and can be used up.',
  unknown_workspace: 'This relay does not host that workspace. Check the invitation link, or ask its owner to publish it.',
  not_owner: 'Only the person who created this workspace can do that.',
  already_published: 'This relay already hosts this workspace for its owner.',
  stale_request: "This device's clock is more than 5 minutes away from the relay's. Set the clock, then try again.",
  bad_signature: 'The relay could not verify this device\'s signature.',
  bad_genesis: 'The relay refused the workspace\'s first change.',
};

/** 'http://host:port' (no trailing slash) from what a person typed; throws RelayError if it is no address. */
export function normalizeRelay(text) {
  let value = String(text || '').trim();
  if (!value) throw new RelayError('bad_address', 'Type the relay\'s address, for example https://192.168.1.20:8765');
  if (!/^[a-z]+:\/\//i.test(value)) value = `http://${value}`;
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new RelayError('bad_address', `"${text}" is not an address`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RelayError('bad_address', 'The relay address starts with http:// or https://');
  return url.origin;
}

export function socketUrl(relay, kind, workspace) {
  const url = new URL(`/${kind}/${workspace}`, relay);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

/** The link a workspace's owner shares: the relay serves the app, so it opens the join form there. */
export function inviteLink(relay, workspace) {
  return `${relay}/#/join/${workspace}`;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** {relay, workspace} from an invitation link, or from a bare workspace id (then this page's relay). */
export function parseInvite(text, fallbackRelay) {
  const value = String(text || '').trim();
  const id = value.match(UUID);
  if (!id) throw new RelayError('bad_invite', 'Paste the invitation link (or the workspace id) you were given.');
  const relay = /^https?:\/\//i.test(value) ? new URL(value).origin : fallbackRelay;
  return { relay: normalizeRelay(relay), workspace: id[0].toLowerCase() };
}

/** POST a signed body (JSON text) to /api/<action>; resolves with the relay's JSON answer. */
export async function postSigned(relay, action, body) {
  let response;
  try {
    response = await fetch(`${relay}/api/${action}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body, cache: 'no-store',
    });
  } catch (err) {
    throw new RelayError('unreachable', `Could not reach the relay at ${relay}: check the address and the network.`,
      String(err && err.message ? err.message : err));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok && data) return data;
  if (!data || typeof data.error !== 'string') {
    throw new RelayError('not_a_relay', `${relay} answered ${response.status} but is not an Openprod relay (or a different version).`);
  }
  if (data.error === 'rate_limited') {
    const wait = Number(response.headers.get('Retry-After')) || null;
    throw new RelayError('rate_limited', `Too many attempts. Wait${wait ? ` ${wait} s` : ' a little'} and try again.`, data.detail, wait);
  }
  throw new RelayError(data.error, MESSAGES[data.error] || `The relay refused: ${data.detail || data.error}`, data.detail || '');
}
