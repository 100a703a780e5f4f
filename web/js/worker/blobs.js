// Attachments on this device: the bytes of blobs (PDFs, photos) in IndexedDB, one database per
// workspace so they never mix with the workspace log:
//
//   openprod-blobs-<uuid>   chunks: [hash, offset] -> Uint8Array (at most PIECE bytes each)
//                           blobs:  hash -> {hash, size, name, type, complete, storedAt}
//                           pins:   hash -> {hash, name, size, media_type}: kept on this device
//                                   (fetched whenever a peer has them, e.g. the plot before tech)
//
// A blob is usable only once `complete` (hashed and checked). An unfinished row carries the ref
// (name, type, whole size) so a transfer cut by a reload resumes from its chunks (attachHub). Transfers run in the sync engine's
// cycle (`step`): the Python side (openprod_web/blobs.py) says what to write and which pieces peers
// asked for; this module does the IndexedDB work and answers. Quota is checked with
// navigator.storage.estimate() before a file is stored or fetched.
import { openDB } from '../../vendor/idb.js';
import { ApiError } from './host.js';

export const PIECE = 15 * 1024;
const MARGIN = 1024 * 1024; // room kept free besides the file itself

export const blobDbName = (id) => `openprod-blobs-${id}`;

const chunkRange = (hash, from = 0, to = Infinity, openEnd = false) => IDBKeyRange.bound([hash, from], [hash, to], false, openEnd);

export function sizeText(n) {
  if (n >= 1024 * 1024 * 1024) return `${(n / (1024 * 1024 * 1024)).toFixed(1)} GB`;
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}

function cleanName(name) {
  const base = String(name || '').split(/[\\/]/).pop().replace(/[\u0000-\u001f\u007f]/g, '').trim(); // eslint-disable-line no-control-regex
  return (base || 'attachment').slice(0, 255);
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export class BlobKeeper {
  constructor(host) {
    this.host = host;
    this.dbPromise = null;
    this.links = null; // the Python BlobLinks, once sync runs
    this.hub = null;
    this.wanted = new Map(); // hash -> ref asked for here (its name and type, for when it arrives)
  }

  db() {
    this.dbPromise ??= openDB(blobDbName(this.host.id), 1, {
      upgrade(db) {
        db.createObjectStore('chunks');
        db.createObjectStore('blobs', { keyPath: 'hash' });
        db.createObjectStore('pins', { keyPath: 'hash' });
      },
    });
    return this.dbPromise;
  }

  close() {
    if (this.dbPromise) this.dbPromise.then((db) => db.close()).catch(() => {});
    this.dbPromise = null;
  }

  /** The sync hub started: tell it which blobs are here, resume unfinished transfers from the
   * chunks kept (after a reload), want the pinned ones. */
  async attachHub(hub) {
    const db = await this.db();
    const metas = await db.getAll('blobs');
    const pins = await db.getAll('pins');
    const links = await this.host.serial(() => hub.attach_blobs());
    const resumed = [];
    for (const meta of metas.filter((m) => !m.complete)) {
      if (meta.name && meta.type && meta.size > 0) {
        await this.resumeFrom(db, links, meta);
        resumed.push({ hash: meta.hash, name: meta.name, size: meta.size, media_type: meta.type });
      } else {
        await this.remove(meta.hash); // from before transfers kept what they were fetching
      }
    }
    await this.host.serial(() => {
      this.hub = hub;
      this.links = links;
      for (const meta of metas.filter((m) => m.complete)) links.store.known(meta.hash, meta.size);
      for (const ref of [...resumed, ...pins]) {
        this.wanted.set(ref.hash, ref);
        links.want(JSON.stringify(ref));
      }
    });
  }

  /** Hand the Python side the chunks an unfinished transfer kept, in order from 0, so it asks only
   * for the rest. Stops at the first gap or odd-sized chunk (dropping what follows) and never
   * takes the last piece, so the blob is always finished (and verified) by a piece that arrives. */
  async resumeFrom(db, links, meta) {
    const { hash, size } = meta;
    let expected = 0;
    for (;;) {
      const range = chunkRange(hash, expected);
      const keys = await db.getAllKeys('chunks', range, 64);
      const parts = await db.getAll('chunks', range, 64);
      const batch = [];
      for (let i = 0; i < keys.length; i += 1) {
        const length = Math.min(PIECE, size - expected);
        if (keys[i][1] !== expected || parts[i].length !== length || expected + length >= size) break;
        batch.push(parts[i]);
        expected += length;
      }
      if (batch.length) {
        const bytes = new Uint8Array(batch.reduce((n, b) => n + b.length, 0));
        let at = 0;
        for (const b of batch) { bytes.set(b, at); at += b.length; }
        const from = expected - bytes.length;
        await this.host.serial(() => links.store.resume(hash, from, bytes));
      }
      if (batch.length < 64 || batch.length < keys.length) break;
    }
    await db.delete('chunks', chunkRange(hash, expected)); // past a gap: asked for again
    return expected;
  }

  detachHub() {
    this.links = null;
    this.hub = null;
  }

  async checkRoom(size, name) {
    const estimate = navigator.storage && navigator.storage.estimate ? await navigator.storage.estimate() : null;
    if (!estimate || !estimate.quota) return;
    const free = Math.max(0, estimate.quota - (estimate.usage || 0));
    if (free < size + MARGIN) {
      throw new ApiError({
        type: 'StorageFull',
        message: `This device is full: ${sizeText(free)} free, and ${name} needs ${sizeText(size)}. ` +
          'Remove files you no longer need from this device (Remove from this device, under the file), or free space on the device.',
      });
    }
  }

  // --- what the page asks (host.execute 'blob:...') ---------------------------------------------

  async action(name, args) {
    if (name === 'attach') return this.attach(args);
    if (name === 'status') return this.status(args.refs || []);
    if (name === 'get') return this.get(args.ref);
    if (name === 'open') return this.open(args.hash);
    if (name === 'keep') return this.keep(args.ref, Boolean(args.keep));
    if (name === 'remove') return this.remove(args.hash);
    if (name === 'kept') return this.kept();
    if (name === 'storage') return this.storage();
    throw new ApiError({ type: 'LocalError', message: `unknown attachment action ${name}` });
  }

  /** Store a file the person chose (or photographed) and put it in the record's field. */
  async attach({ file, record, field }) {
    if (!file || typeof file.arrayBuffer !== 'function') throw new ApiError({ type: 'ValidationError', message: 'choose a file' });
    const name = cleanName(file.name);
    const limit = await this.host.execute('blob_limit', {});
    if (file.size > limit) {
      throw new ApiError({
        type: 'ValidationError',
        message: `${name} is ${sizeText(file.size)}; this workspace takes files up to ${sizeText(limit)}.`,
      });
    }
    await this.checkRoom(file.size, name);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const hash = `sha256:${hex(await crypto.subtle.digest('SHA-256', bytes))}`;
    const type = (file.type || 'application/octet-stream').toLowerCase();
    await this.storeComplete(hash, bytes, name, type);
    return this.host.execute('attach', { record, field, blob: hash, name, size: bytes.length, media_type: type });
  }

  async storeComplete(hash, bytes, name, type) {
    const db = await this.db();
    const existing = await db.get('blobs', hash);
    if (!existing || !existing.complete) { // same content, same id: stored once
      const tx = db.transaction(['chunks', 'blobs'], 'readwrite');
      const chunks = tx.objectStore('chunks');
      for (let offset = 0; offset < bytes.length; offset += PIECE) {
        chunks.put(bytes.slice(offset, offset + PIECE), [hash, offset]);
      }
      tx.objectStore('blobs').put({ hash, size: bytes.length, name, type, complete: true, storedAt: Date.now() });
      await tx.done;
    }
    if (this.links) await this.host.serial(() => this.links.store.known(hash, bytes.length));
  }

  async status(refs) {
    const db = await this.db();
    const out = {};
    const fromPython = this.links && refs.length
      ? JSON.parse(await this.host.serial(() => this.links.status(JSON.stringify(refs)))) : {};
    for (const ref of refs) {
      const meta = await db.get('blobs', ref.hash);
      const pinned = Boolean(await db.get('pins', ref.hash));
      if (meta && meta.complete) out[ref.hash] = { state: 'here', received: meta.size, size: meta.size, pinned };
      else if (fromPython[ref.hash]) out[ref.hash] = { ...fromPython[ref.hash], pinned, syncing: true };
      else out[ref.hash] = { state: 'missing', received: 0, size: ref.size, pinned, syncing: false, detail: '' };
    }
    return out;
  }

  /** "Get it now": fetch from whichever peer has it (sync must be set up). */
  async get(ref) {
    const db = await this.db();
    const meta = await db.get('blobs', ref.hash);
    if (meta && meta.complete) return { state: 'here' };
    await this.checkRoom(ref.size, ref.name);
    const sync = this.host.sync;
    if (!sync) throw new ApiError({ type: 'LocalError', message: 'this workspace is closing' });
    await sync.ensureStarted();
    if (!this.links) throw new ApiError({ type: 'LocalError', message: 'sync is starting; try again in a moment' });
    this.wanted.set(ref.hash, ref);
    // remembered (unfinished) so that a reload carries on with this transfer from what arrived
    if (!meta) await db.put('blobs', { hash: ref.hash, size: ref.size, name: ref.name, type: ref.media_type, complete: false, storedAt: Date.now() });
    const result = JSON.parse(await this.host.serial(() => this.links.want(JSON.stringify(ref))));
    sync.kick();
    return result;
  }

  /** The whole file, for viewing (works offline: it is read from this device). */
  async open(hash) {
    const db = await this.db();
    const meta = await db.get('blobs', hash);
    if (!meta || !meta.complete) throw new ApiError({ type: 'NotFoundError', message: 'this file is not on this device yet' });
    const chunks = await db.getAll('chunks', chunkRange(hash));
    return { blob: new Blob(chunks, { type: meta.type }), name: meta.name, type: meta.type, size: meta.size };
  }

  async keep(ref, keep) {
    const db = await this.db();
    if (keep) {
      await db.put('pins', { hash: ref.hash, name: ref.name, size: ref.size, media_type: ref.media_type });
      const meta = await db.get('blobs', ref.hash);
      if (!meta || !meta.complete) {
        try {
          await this.get(ref);
        } catch (err) {
          if (err.name === 'StorageFull') {
            await db.delete('pins', ref.hash);
            throw err;
          }
          // no sync yet: the pin is kept and the file comes when sync runs
        }
      }
    } else {
      await db.delete('pins', ref.hash);
    }
    return { kept: keep };
  }

  async remove(hash) {
    const db = await this.db();
    const tx = db.transaction(['chunks', 'blobs', 'pins'], 'readwrite');
    tx.objectStore('chunks').delete(chunkRange(hash));
    tx.objectStore('blobs').delete(hash);
    tx.objectStore('pins').delete(hash);
    await tx.done;
    if (this.links) await this.host.serial(() => this.links.store.forget(hash));
    return { removed: true };
  }

  async kept() {
    const db = await this.db();
    const metas = await db.getAll('blobs');
    const pins = new Set((await db.getAll('pins')).map((p) => p.hash));
    return metas.filter((m) => m.complete).map((m) => ({ hash: m.hash, name: m.name, size: m.size, type: m.type, pinned: pins.has(m.hash) }));
  }

  async storage() {
    const estimate = navigator.storage && navigator.storage.estimate ? await navigator.storage.estimate() : null;
    const kept = await this.kept();
    const asked = this.links ? await this.host.serial(() => this.links.asked_bytes()) : 0;
    return {
      usage: estimate ? estimate.usage : null, quota: estimate ? estimate.quota : null,
      files: kept.length, bytes: kept.reduce((n, k) => n + k.size, 0),
      askedBytes: asked, // asked of peers since this page started: a resumed transfer asks only for the rest
    };
  }

  // --- transfers, in the sync engine's cycle ----------------------------------------------------

  /** Persist what the transfers wrote, answer peers' requests from IndexedDB, send the next requests.
   * One turn when nothing was written or asked (every sync cycle, attachments or not: a join makes
   * ~100 cycles); else the writes are persisted and the reads served before the requests go out. */
  async step() {
    if (!this.links) return;
    const links = this.links;
    const taken = await this.host.serial(() => {
      const proxy = links.store.take_writes();
      let writes;
      try {
        writes = proxy.toJs().map((w) => (w[0] === 'chunk' ? [w[0], w[1], w[2], w[3].slice()] : w));
      } finally {
        proxy.destroy();
      }
      const reads = JSON.parse(links.take_reads());
      return { writes, reads, changed: writes.length || reads.length ? null : this.pump(links) };
    }, 'blobs');
    let { changed } = taken;
    if (changed === null) {
      if (taken.writes.length) await this.persist(taken.writes);
      if (taken.reads.length) await this.serve(taken.reads);
      changed = await this.host.serial(() => this.pump(links), 'blobs');
    }
    if (changed.length) this.host.emit('blobs', { changed });
  }

  /** Send the requests that can go now; the blobs whose state changed (inside a turn). */
  pump(links) {
    if (this.hub) this.hub.pump_blobs();
    return JSON.parse(links.take_changed());
  }

  async persist(writes) {
    const db = await this.db();
    const tx = db.transaction(['chunks', 'blobs'], 'readwrite');
    const chunks = tx.objectStore('chunks');
    const blobs = tx.objectStore('blobs');
    for (const write of writes) {
      const [kind, hash] = write;
      if (kind === 'chunk') {
        chunks.put(write[3], [hash, write[2]]);
        if (write[2] === 0) {
          const ref = this.wanted.get(hash);
          blobs.put({ hash, size: ref ? ref.size : 0, name: ref && ref.name, type: ref && ref.media_type, complete: false, storedAt: Date.now() });
        }
      } else if (kind === 'complete') {
        const pin = await tx.objectStore('blobs').get(hash);
        blobs.put({ ...(pin || {}), hash, size: write[2], complete: true, storedAt: Date.now() });
      } else if (kind === 'discard') {
        chunks.delete(chunkRange(hash));
        blobs.delete(hash);
      }
    }
    await tx.done;
    // names and types for files fetched from peers: from the pin or the field that asked for it
    for (const write of writes.filter((w) => w[0] === 'complete')) await this.describe(write[1]);
  }

  async describe(hash) {
    const db = await this.db();
    const meta = await db.get('blobs', hash);
    if (!meta || meta.type) return;
    const ref = this.wanted.get(hash) || (await db.get('pins', hash));
    await db.put('blobs', { ...meta, name: ref ? ref.name : 'attachment', type: ref ? (ref.media_type || ref.type) : 'application/octet-stream' });
  }

  async serve(reads) {
    const db = await this.db();
    for (const [link, digest, offset, length] of reads) {
      const hash = `sha256:${digest}`;
      const meta = await db.get('blobs', hash);
      let data = null;
      if (meta && meta.complete && offset < meta.size) {
        const parts = await db.getAll('chunks', chunkRange(hash, Math.max(0, offset - PIECE + 1), offset + length, true));
        const keys = await db.getAllKeys('chunks', chunkRange(hash, Math.max(0, offset - PIECE + 1), offset + length, true));
        const out = new Uint8Array(Math.min(length, meta.size - offset));
        keys.forEach(([, at], i) => {
          const part = parts[i];
          const from = Math.max(offset, at);
          const to = Math.min(offset + out.length, at + part.length);
          if (to > from) out.set(part.subarray(from - at, to - at), from - offset);
        });
        data = out;
      }
      await this.host.serial(() => {
        if (data) this.links.piece(link, digest, offset, meta.size, data);
        else this.links.none(link, digest, offset, 'not_here');
      });
    }
  }
}
