// The bare data channel inside a Chromium page, the ceiling the app's transfers are measured
// against. Installed into a page as `window.__bare`; the bench relays descriptions and candidates.
//
// Sender: BARE_MESSAGE_BYTES views into one pseudo-random 4 MiB pool, sent again and again (zeroed
// bytes would flatter 'keep': Chromium stores zeroed IndexedDB values ~3x cheaper than random ones,
// see exp-storage.ts idbEachZeros, and the app's blocks are ciphertext), pausing while more than
// BARE_HIGH_WATER bytes are buffered and resuming on bufferedamountlow (threshold BARE_LOW_WATER):
// the app's own message size and window, so the ceiling is not handicapped against the app
// (exp-channels.ts measures other sizes and windows).
// Receiver, in one of three modes:
// - 'discard': counts what arrives and throws it away. The channel alone: the ceiling.
// - 'keep': copies every message into 256 KiB records (BARE_RECORD_BYTES, one copy per byte, as
//   reassembling a frame costs) and writes each full record to IndexedDB (a fresh database, one
//   object store, key = record number, value = the record's Uint8Array), group-committed the way
//   src/store/idb.ts does: one readwrite transaction at a time, the records queued meanwhile go
//   together in the next, at most BARE_BATCH_RECORDS per transaction. Done when the transaction
//   holding the last record has committed.
// - 'verify': the same 256 KiB records, each hashed (SHA-256) and run through AES-GCM by WebCrypto,
//   then dropped: the least work a receiver that checks and opens what it gets must do, without
//   storing it. Done when the last record's crypto has ended.
// `received()` resolves with {bytes, ms}: ms from the first message to the last (discard), to
// the last commit (keep) or to the end of the last record's crypto (verify).
//
// The page code is a string, not a function: functions compiled by tsx carry helpers that do not
// exist in the page.
import type { Page } from '@playwright/test';
import { MAX_MESSAGE_BYTES, SEND_HIGH_WATER, SEND_LOW_WATER } from '../../src/net/limits.js';

/** The app's own message size and send window (link.ts; simple-peer sets the low mark at 64 KiB). */
export const BARE_MESSAGE_BYTES = MAX_MESSAGE_BYTES;
export const BARE_HIGH_WATER = SEND_HIGH_WATER;
export const BARE_LOW_WATER = SEND_LOW_WATER;
export const BARE_RECORD_BYTES = 256 * 1024;
export const BARE_BATCH_RECORDS = 64;

export type BareMode = 'discard' | 'keep' | 'verify';

export interface BareResult {
  bytes: number;
  ms: number;
}

type Description = { type: string; sdp: string };

export interface BarePage {
  offer(): Promise<Description>;
  answer(offer: Description, total: number, mode: BareMode): Promise<Description>;
  accept(answer: Description): Promise<void>;
  /** The page offers and receives (the sender is a Node process that answers). */
  offerToReceive(total: number, mode: BareMode): Promise<Description>;
  /** A signal from a Node sender: its answer or a candidate. */
  signal(data: Record<string, unknown>): Promise<void>;
  /** This side's candidates once gathering is complete. */
  candidates(): Promise<RTCIceCandidateInit[]>;
  addCandidates(list: RTCIceCandidateInit[]): Promise<void>;
  /** Resolves once this side's channel is open. */
  opened(): Promise<void>;
  send(total: number): Promise<void>;
  received(): Promise<BareResult>;
  close(): Promise<void>;
}

declare global {
  interface Window {
    __bare?: BarePage;
  }
}

const PAGE_CODE = `
(() => {
  const MESSAGE = ${BARE_MESSAGE_BYTES}, HIGH = ${BARE_HIGH_WATER}, LOW = ${BARE_LOW_WATER};
  const RECORD = ${BARE_RECORD_BYTES}, BATCH = ${BARE_BATCH_RECORDS};
  let pc, channel, openedP, receivedP, dbName;
  const early = [];
  const fresh = () => {
    pc?.close();
    pc = new RTCPeerConnection({ iceServers: [] });
    const list = [];
    const gathered = new Promise((resolve) => {
      pc.onicecandidate = (e) => (e.candidate ? list.push(e.candidate.toJSON()) : resolve(list));
    });
    window.__bare.candidates = () => gathered;
  };
  const watchOpen = (ch) => {
    openedP = ch.readyState === 'open' ? Promise.resolve() : new Promise((resolve) => ch.addEventListener('open', () => resolve(), { once: true }));
  };
  const openDb = (name) => new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('records');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const receive = (ch, total, mode) => {
    ch.binaryType = 'arraybuffer';
    let resolveDone, rejectDone;
    receivedP = new Promise((res, rej) => { resolveDone = res; rejectDone = rej; });
    let received = 0, started = 0;
    // One byte back tells a Node sender that everything arrived.
    const done = (result) => { resolveDone(result); try { ch.send(new Uint8Array(1)); } catch {} };
    if (mode === 'discard') {
      ch.onmessage = (e) => {
        if (received === 0) started = performance.now();
        received += e.data.byteLength;
        if (received >= total) done({ bytes: received, ms: performance.now() - started });
      };
      return;
    }
    let dbP;
    let record = new Uint8Array(RECORD), filled = 0, next = 0, committed = 0, flushing = false;
    const queue = [];
    const flush = async () => {
      if (flushing || queue.length === 0) return;
      flushing = true;
      const batch = queue.splice(0, BATCH);
      try {
        const db = await dbP;
        const tx = db.transaction('records', 'readwrite');
        const store = tx.objectStore('records');
        for (const [key, value] of batch) store.put(value, key);
        await new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = () => rej(tx.error); tx.onabort = () => rej(tx.error); });
        committed += batch.reduce((s, [, v]) => s + v.length, 0);
      } catch (error) { rejectDone(error); return; }
      flushing = false;
      if (committed >= total) done({ bytes: committed, ms: performance.now() - started });
      else flush();
    };
    let push = (bytes) => { queue.push([next++, bytes]); flush(); };
    if (mode === 'verify') {
      // Hash and AES-GCM every record (encrypt costs what decrypt does; random bytes would fail
      // a decrypt's tag check), then let it go: the least a receiver that checks and opens blocks does.
      const keyP = crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), 'AES-GCM', false, ['encrypt']);
      const iv = new Uint8Array(12);
      let verified = 0;
      push = async (bytes) => {
        try {
          await Promise.all([crypto.subtle.digest('SHA-256', bytes), crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await keyP, bytes)]);
        } catch (error) { rejectDone(error); return; }
        verified += bytes.length;
        if (verified >= total) done({ bytes: verified, ms: performance.now() - started });
      };
    } else {
      dbName = 'bare-keep-' + Math.random().toString(36).slice(2);
      dbP = openDb(dbName);
    }
    ch.onmessage = (e) => {
      if (received === 0) started = performance.now();
      const data = new Uint8Array(e.data);
      received += data.length;
      for (let o = 0; o < data.length; ) {
        const n = Math.min(RECORD - filled, data.length - o);
        record.set(data.subarray(o, o + n), filled);
        filled += n; o += n;
        if (filled === RECORD) { push(record); record = new Uint8Array(RECORD); filled = 0; }
      }
      if (received >= total && filled > 0) { push(record.slice(0, filled)); filled = 0; }
    };
  };
  window.__bare = {
    async offer() {
      fresh();
      channel = pc.createDataChannel('bare', { ordered: true });
      channel.binaryType = 'arraybuffer';
      channel.bufferedAmountLowThreshold = LOW;
      watchOpen(channel);
      await pc.setLocalDescription(await pc.createOffer());
      return pc.localDescription.toJSON();
    },
    async answer(offer, total, mode) {
      fresh();
      let resolveOpen;
      openedP = new Promise((r) => (resolveOpen = r));
      pc.ondatachannel = ({ channel: ch }) => {
        channel = ch;
        receive(ch, total, mode);
        if (ch.readyState === 'open') resolveOpen(); else ch.addEventListener('open', () => resolveOpen(), { once: true });
      };
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      return pc.localDescription.toJSON();
    },
    async accept(answer) { await pc.setRemoteDescription(answer); },
    async offerToReceive(total, mode) {
      fresh();
      channel = pc.createDataChannel('bare', { ordered: true });
      receive(channel, total, mode);
      watchOpen(channel);
      await pc.setLocalDescription(await pc.createOffer());
      return pc.localDescription.toJSON();
    },
    async signal(data) {
      // Candidates that come before the answer wait for it (adding them early fails).
      if (data.sdp) {
        await pc.setRemoteDescription({ type: data.type, sdp: data.sdp });
        for (const c of early.splice(0)) await pc.addIceCandidate(c).catch(() => {});
      } else if (data.candidate) {
        if (pc.remoteDescription) await pc.addIceCandidate(data.candidate).catch(() => {});
        else early.push(data.candidate);
      }
    },
    async addCandidates(list) { for (const c of list) await pc.addIceCandidate(c).catch(() => {}); },
    opened: () => openedP,
    async send(total) {
      const pool = new Uint8Array(4 * 1024 * 1024);
      for (let o = 0; o < pool.length; o += 65536) crypto.getRandomValues(pool.subarray(o, o + 65536));
      for (let sent = 0, i = 0; sent < total; sent += MESSAGE, i++) {
        const at = (i * 4096) % (pool.length - MESSAGE);
        channel.send(pool.subarray(at, at + MESSAGE));
        if (channel.bufferedAmount > HIGH) await new Promise((r) => channel.addEventListener('bufferedamountlow', r, { once: true }));
      }
    },
    received: () => receivedP,
    async close() {
      pc?.close();
      pc = undefined;
      if (dbName) { indexedDB.deleteDatabase(dbName); dbName = undefined; }
    },
  };
})();
`;

/** Installs (or resets) `window.__bare` in `page`. */
export async function installBare(page: Page): Promise<void> {
  await page.evaluate(PAGE_CODE);
}
