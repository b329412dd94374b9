// A tiny hand-rolled RTMP client for sending malformed input: raw bytes, a plain handshake,
// chunked messages with chosen header fields, and AMF0 commands.
import net from 'node:net';

// localAddress: another loopback address (127.0.0.2, ...) to connect from, as a second host would.
export function connect(port, { localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    const c = { sock: s, data: Buffer.alloc(0), closed: false };
    c.closedAt = new Promise((r) => s.on('close', () => { c.closed = true; r(Date.now()); }));
    s.on('data', (d) => { c.data = Buffer.concat([c.data, d]); });
    s.on('error', () => {});
    s.once('connect', () => resolve(c));
    s.once('error', reject);
  });
}

export function send(c, buf) {
  return new Promise((resolve) => {
    if (c.closed) return resolve(false);
    c.sock.write(buf, () => resolve(true));
  });
}

async function waitBytes(c, n, timeout = 5000) {
  const end = Date.now() + timeout;
  while (c.data.length < n) {
    if (c.closed || Date.now() > end) throw new Error(`wanted ${n} bytes, got ${c.data.length}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function handshake(c) {
  const c1 = Buffer.alloc(1536);
  for (let i = 8; i < 1536; i++) c1[i] = (i * 7) & 0xff;
  await send(c, Buffer.concat([Buffer.from([3]), c1]));
  await waitBytes(c, 1 + 1536 + 1536);
  const s1 = c.data.subarray(1, 1537);
  c.data = c.data.subarray(3073);
  await send(c, s1); // C2 echoes S1
}

// Returns true if the server closed the connection within `ms`.
export async function closedWithin(c, ms) {
  const t = await Promise.race([c.closedAt, new Promise((r) => setTimeout(() => r(null), ms))]);
  return t !== null;
}

// --- AMF0 ---
export function amfString(s) {
  const b = Buffer.from(s, 'utf8');
  const h = Buffer.alloc(3); h[0] = 2; h.writeUInt16BE(b.length, 1);
  return Buffer.concat([h, b]);
}
export function amfNumber(n) { const b = Buffer.alloc(9); b[0] = 0; b.writeDoubleBE(n, 1); return b; }
export const amfNull = () => Buffer.from([5]);
export function amfObject(obj) {
  const parts = [Buffer.from([3])];
  for (const [k, v] of Object.entries(obj)) {
    const kb = Buffer.from(k); const kh = Buffer.alloc(2); kh.writeUInt16BE(kb.length);
    parts.push(kh, kb, typeof v === 'number' ? amfNumber(v) : amfString(String(v)));
  }
  parts.push(Buffer.from([0, 0, 9]));
  return Buffer.concat(parts);
}
export function command(name, txn, ...args) {
  return Buffer.concat([amfString(name), amfNumber(txn), ...args]);
}

// --- chunks: one message, fmt 0, split at chunkSize ---
// A timestamp of 0xFFFFFF or more (up to 2^32 - 1) goes in the extended timestamp field, which
// every continuation chunk (fmt 3) repeats, as FFmpeg and OBS send it.
export function chunked({ csid = 3, type = 20, streamId = 0, ts = 0, payload, chunkSize = 128, declaredLength }) {
  const len = declaredLength ?? payload.length;
  const basic = (fmt) => {
    if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
    if (csid < 320) return Buffer.from([(fmt << 6), csid - 64]);
    return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
  };
  const mh = Buffer.alloc(11);
  mh.writeUIntBE(Math.min(ts, 0xffffff), 0, 3);
  mh.writeUIntBE(len, 3, 3);
  mh[6] = type;
  mh.writeUInt32LE(streamId, 7);
  const ext = [];
  if (ts >= 0xffffff) { const e = Buffer.alloc(4); e.writeUInt32BE(ts); ext.push(e); }
  const out = [basic(0), mh, ...ext];
  for (let off = 0; off < payload.length; off += chunkSize) {
    if (off > 0) out.push(basic(3), ...ext);
    out.push(payload.subarray(off, off + chunkSize));
  }
  return Buffer.concat(out);
}

export function setChunkSize(size) {
  const p = Buffer.alloc(4); p.writeUInt32BE(size >>> 0);
  return chunked({ csid: 2, type: 1, payload: p });
}

export const connectCmd = () => chunked({ type: 20, payload: command('connect', 1, amfObject({ app: 'live', type: 'nonprivate', tcUrl: 'rtmp://127.0.0.1/live' })) });
export const createStreamCmd = () => chunked({ type: 20, payload: command('createStream', 2, amfNull()) });
export const publishCmd = (key, streamId = 1) => chunked({ type: 20, streamId, payload: command('publish', 3, amfNull(), amfString(key), amfString('live')) });

// --- publishing FLV files tag by tag (what an encoder changing its resolution sends) ---

// The audio (8) and video (9) tags of an FLV file: { type, ts, data }.
export function flvTags(buf) {
  const tags = [];
  let off = buf.readUInt32BE(5) + 4; // header, then PreviousTagSize0
  while (off + 11 <= buf.length) {
    const type = buf[off];
    const size = buf.readUIntBE(off + 1, 3);
    const ts = buf.readUIntBE(off + 4, 3) | (buf[off + 7] << 24);
    if (off + 11 + size > buf.length) break;
    if (type === 8 || type === 9) tags.push({ type, ts, data: buf.subarray(off + 11, off + 11 + size) });
    off += 11 + size + 4;
  }
  return tags;
}

// Publishes under key, then sends each file's tags in turn at real-time pace, the timestamps of
// each file continuing after the previous one. Returns the socket's connection object.
// mapTs(ts) gives the timestamp sent for a tag at media time ts (ms), to make a publisher whose
// clock jumps or wraps (taken modulo 2^32); the pace follows the media time.
export async function publishFlvSequence(port, key, files, { mapTs = (ts) => ts } = {}) {
  const c = await connect(port);
  await handshake(c);
  await send(c, Buffer.concat([setChunkSize(65536), connectCmd(), createStreamCmd(), publishCmd(key)]));
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  let base = 0;
  for (const tags of files) {
    let last = 0;
    for (const t of tags) {
      const ts = base + t.ts;
      const wait = ts - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const sent = ((mapTs(ts) % 2 ** 32) + 2 ** 32) % 2 ** 32;
      await send(c, chunked({ csid: t.type === 9 ? 6 : 4, type: t.type, streamId: 1, ts: sent, payload: t.data, chunkSize: 65536 }));
      last = Math.max(last, t.ts);
    }
    base += last + 33;
  }
  return c;
}
