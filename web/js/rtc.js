// The page's half of WebRTC sync. Workers have no RTCPeerConnection, so the worker's sync engine
// (worker/sync.js) asks this page, the one of the tab that owns the workspace, to hold the peer
// connections; frames pass through untouched in both directions. Commands from the worker:
//   {op: 'offer', link, iceServers}          make a connection and a data channel, answer with our offer
//   {op: 'answer', link, sdp, iceServers}     take someone's offer, answer it
//   {op: 'remote-answer', link, sdp}          the answer to our offer
//   {op: 'candidate', link, candidate}        a trickled ICE candidate from the other side
//   {op: 'send', link, frames}                frames for the data channel
//   {op: 'close', link}
// and back to the worker: api.rtcEvent(link, 'signal' | 'open' | 'frames' | 'closed', payload).
// Offers and answers carry their ICE candidates (gathered first): one message each way, which the
// relay's aiortc peer needs anyway. Host candidates suffice on a venue LAN.
const GATHER_MS = 3000;
const MAX_BUFFERED = 4 * 1024 * 1024;

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, GATHER_MS);
  });
}

export class RtcBridge {
  constructor(api) {
    this.api = api;
    this.conns = new Map(); // link -> {pc, dc, queue, inbox}
  }

  command(cmd) {
    this.run(cmd).catch((err) => this.fail(cmd.link, `WebRTC: ${err && err.message ? err.message : err}`));
  }

  async run(cmd) {
    const { op, link } = cmd;
    if (op === 'offer') {
      const conn = this.create(link, cmd.iceServers);
      this.wire(link, conn, conn.pc.createDataChannel('openprod-sync', { ordered: true }));
      await conn.pc.setLocalDescription(await conn.pc.createOffer());
      await gathered(conn.pc);
      if (this.conns.get(link) === conn) this.api.rtcEvent(link, 'signal', { type: 'offer', sdp: conn.pc.localDescription.sdp });
    } else if (op === 'answer') {
      const conn = this.create(link, cmd.iceServers);
      conn.pc.ondatachannel = (event) => this.wire(link, conn, event.channel);
      await conn.pc.setRemoteDescription({ type: 'offer', sdp: cmd.sdp });
      await conn.pc.setLocalDescription(await conn.pc.createAnswer());
      await gathered(conn.pc);
      if (this.conns.get(link) === conn) this.api.rtcEvent(link, 'signal', { type: 'answer', sdp: conn.pc.localDescription.sdp });
    } else if (op === 'remote-answer') {
      const conn = this.conns.get(link);
      if (conn) await conn.pc.setRemoteDescription({ type: 'answer', sdp: cmd.sdp });
    } else if (op === 'candidate') {
      const conn = this.conns.get(link);
      if (conn && cmd.candidate) await conn.pc.addIceCandidate(cmd.candidate);
    } else if (op === 'send') {
      const conn = this.conns.get(link);
      if (conn) this.send(conn, cmd.frames);
    } else if (op === 'close') {
      this.close(link);
    }
  }

  create(link, iceServers) {
    this.close(link);
    const pc = new RTCPeerConnection({ iceServers: Array.isArray(iceServers) ? iceServers : [] });
    const conn = { pc, dc: null, queue: [], inbox: [], flushing: false };
    this.conns.set(link, conn);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.fail(link, `the connection ${pc.connectionState}`);
    };
    return conn;
  }

  wire(link, conn, dc) {
    conn.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = MAX_BUFFERED / 4;
    dc.onopen = () => {
      if (this.conns.get(link) === conn) this.api.rtcEvent(link, 'open', null);
    };
    dc.onclose = () => this.fail(link, 'the data channel closed');
    dc.onbufferedamountlow = () => this.send(conn, []);
    dc.onmessage = (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      conn.inbox.push(new Uint8Array(event.data));
      if (conn.inbox.length === 1) {
        queueMicrotask(() => { // every message of this turn goes to the worker in one call
          const frames = conn.inbox;
          conn.inbox = [];
          if (this.conns.get(link) === conn && frames.length) this.api.rtcEvent(link, 'frames', frames);
        });
      }
    };
  }

  send(conn, frames) {
    conn.queue.push(...frames);
    const { dc } = conn;
    if (!dc || dc.readyState !== 'open') return;
    while (conn.queue.length && dc.bufferedAmount < MAX_BUFFERED) dc.send(conn.queue.shift());
  }

  fail(link, why) {
    if (!this.conns.has(link)) return;
    this.close(link);
    this.api.rtcEvent(link, 'closed', why);
  }

  close(link) {
    const conn = this.conns.get(link);
    if (!conn) return;
    this.conns.delete(link);
    try {
      if (conn.dc) conn.dc.close();
      conn.pc.close();
    } catch {
      // already closed
    }
  }

  closeAll() {
    for (const link of [...this.conns.keys()]) this.close(link);
  }
}
