// The transports under sync links. A link carries the framed sync protocol (binary frames of at most
// 16 KiB, docs/sync.md) to one peer; the engine (sync.js) runs a session over it and does not care how
// the frames travel:
//   SocketLink  the relay over a WebSocket, opened right here in the worker;
//   RtcLink     a WebRTC data channel (another browser, or the relay's aiortc peer). Workers have no
//               RTCPeerConnection, so the page of the tab that owns the workspace holds it (js/rtc.js)
//               and passes frames both ways; this side only asks it to.

class Link {
  constructor({ id, kind, transport, onOpen, onFrames, onClose }) {
    this.id = id;
    this.kind = kind; // 'relay' | 'peer'
    this.transport = transport; // 'websocket' | 'webrtc'
    this.state = 'connecting';
    this.onOpen = onOpen;
    this.onFrames = onFrames;
    this.onClose = onClose;
    this.inbound = []; // frames received and not yet fed to the session
    this.session = false; // a session runs on it (opened in Python)
    this.established = false;
    this.actor = null; // the peer's actor id (hex): announced by signalling, proved in the handshake
    this.peerId = null; // the peer's id in the signalling room
    this.offerer = true;
    this.progress = null; // {received, remaining} during the peer's catch-up
    this.inSync = false;
    this.closeReason = null;
    this.openedAt = null;
  }

  opened() {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.openedAt = Date.now();
    this.onOpen(this);
  }

  closed(why) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.onClose(this, why);
  }
}

export class SocketLink extends Link {
  constructor({ url, timeoutMs, ...rest }) {
    super({ ...rest, kind: 'relay', transport: 'websocket' });
    this.socket = new WebSocket(url);
    this.socket.binaryType = 'arraybuffer';
    this.timer = setTimeout(() => this.drop('the relay did not answer in time'), timeoutMs);
    this.socket.onopen = () => {
      clearTimeout(this.timer);
      this.opened();
    };
    this.socket.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) this.onFrames(this, [new Uint8Array(event.data)]);
    };
    this.socket.onclose = () => {
      clearTimeout(this.timer);
      this.closed(this.state === 'open' ? 'the connection to the relay was lost' : 'could not reach the relay');
    };
  }

  send(frames) {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    for (const frame of frames) this.socket.send(frame);
  }

  drop(why) {
    try {
      this.socket.close();
    } catch {
      // already closing
    }
    this.closed(why);
  }
}

export class RtcLink extends Link {
  /** @param {{bridge: (cmd: object) => void, timeoutMs: number}} o plus the Link options */
  constructor({ bridge, timeoutMs, ...rest }) {
    super({ ...rest, transport: 'webrtc' });
    this.bridge = bridge;
    this.timer = setTimeout(() => this.drop('the direct connection did not open in time'), timeoutMs);
  }

  opened() {
    clearTimeout(this.timer);
    super.opened();
  }

  send(frames) {
    if (this.state === 'open') this.bridge({ op: 'send', link: this.id, frames });
  }

  drop(why) {
    clearTimeout(this.timer);
    this.bridge({ op: 'close', link: this.id });
    this.closed(why);
  }
}
