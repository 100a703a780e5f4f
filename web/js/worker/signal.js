// One workspace's WebRTC signalling room on the relay (docs/relay.md, "Signalling"): a WebSocket of
// JSON text messages. The relay sends a challenge; we answer with our actor id and a signature over
// it (made in Python with the WebCrypto key); members get a welcome listing the others. Offers,
// answers and candidates are then passed between members; the relay only forwards them.
import { socketUrl } from './relayapi.js';

export class SignalRoom {
  /**
   * @param {object} o
   * @param {string} o.relay relay origin
   * @param {string} o.workspace workspace id
   * @param {(nonce: string) => Promise<string>} o.auth answers the challenge (JSON text of the auth message)
   * @param {(message: object) => void} o.onMessage welcome, peer-joined, peer-left, offer, answer, candidate, bye, refused
   * @param {(why: string) => void} o.onClose the room is gone (not called after close())
   * @param {number} o.timeoutMs time allowed to get in
   */
  constructor({ relay, workspace, auth, onMessage, onClose, timeoutMs }) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.state = 'connecting';
    this.closed = false;
    this.socket = new WebSocket(socketUrl(relay, 'signal', workspace));
    this.timer = setTimeout(() => this.fail('the signalling room did not answer in time'), timeoutMs);
    this.socket.onmessage = (event) => this.receive(event.data, auth);
    this.socket.onclose = () => this.fail(this.state === 'open' ? 'the relay closed the signalling room' : 'could not reach the relay');
  }

  async receive(text, auth) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (!message || typeof message !== 'object') return;
    if (message.type === 'challenge') {
      try {
        this.socket.send(await auth(message.nonce));
      } catch (err) {
        this.fail(`could not sign in to the signalling room: ${err.message}`);
      }
      return;
    }
    if (message.type === 'welcome') {
      clearTimeout(this.timer);
      this.state = 'open';
    }
    this.onMessage(message);
  }

  send(message) {
    if (this.state === 'open' && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  fail(why) {
    if (this.closed) return;
    this.closed = true;
    this.state = 'closed';
    clearTimeout(this.timer);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
    this.onClose(why);
  }

  close() {
    this.closed = true;
    this.state = 'closed';
    clearTimeout(this.timer);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
