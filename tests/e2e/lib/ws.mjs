// A small WebSocket client (RFC 6455) on node:net for the voice signaling tests: Node 20 has no
// WebSocket without a flag. Text frames out (masked), text/close/ping frames in (pings answered).
import net from 'node:net';
import crypto from 'node:crypto';

// Opens ws://host:port/path. Resolves to a client, or rejects with the HTTP status line when
// the server does not switch protocols. localAddress: the loopback address to connect from;
// headers: more request headers ({name: value}).
export function wsConnect(port, path = '/rtc', host = '127.0.0.1', { localAddress, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let open = false;
    const client = {
      messages: [], waiters: [], closed: null, closeWaiters: [],
      send(obj) { sock.write(frame(1, Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj)))); },
      close() { sock.destroy(); },
      // The next message (parsed), waiting up to ms.
      next(ms = 10000) {
        if (client.messages.length) return Promise.resolve(client.messages.shift());
        return new Promise((res, rej) => {
          const t = setTimeout(() => rej(new Error(`no message in ${ms} ms (closed: ${JSON.stringify(client.closed)})`)), ms);
          t.unref(); // a reader waiting on a socket nobody uses any more must not keep node alive
          client.waiters.push((m) => { clearTimeout(t); res(m); });
        });
      },
      // Resolves to {code, reason} once the server closed.
      whenClosed(ms = 20000) {
        if (client.closed) return Promise.resolve(client.closed);
        return new Promise((res, rej) => {
          const t = setTimeout(() => rej(new Error(`not closed in ${ms} ms`)), ms);
          client.closeWaiters.push((c) => { clearTimeout(t); res(c); });
        });
      },
    };
    const setClosed = (c) => {
      if (client.closed) return;
      client.closed = c;
      for (const w of client.closeWaiters.splice(0)) w(c);
    };
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`));
    sock.on('error', (e) => { if (!open) reject(e); setClosed({ code: -1, reason: e.message }); });
    sock.on('close', () => { if (!open) reject(new Error('closed during the handshake')); setClosed({ code: -1, reason: 'EOF' }); });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        if (!head.startsWith('HTTP/1.1 101')) { sock.destroy(); reject(new Error(head.split('\r\n')[0])); return; }
        open = true;
        resolve(client);
      }
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f, h = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); h = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); h = 10; }
        if (buf.length < h + len) return;
        const op = buf[0] & 0x0f, payload = buf.subarray(h, h + len);
        buf = buf.subarray(h + len);
        if (op === 1) {
          const m = JSON.parse(payload.toString());
          const w = client.waiters.shift();
          if (w) w(m); else client.messages.push(m);
        } else if (op === 8) {
          setClosed({ code: len >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() });
          sock.end(frame(8, payload.subarray(0, 2))); // the close echoed, as browsers do
        } else if (op === 9) {
          sock.write(frame(10, payload));
        }
      }
    });
  });
}

function frame(op, payload) {
  const mask = crypto.randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | op, 0x80 | len])
    : len < 65536 ? Buffer.from([0x80 | op, 0x80 | 126, len >> 8, len & 255])
      : Buffer.concat([Buffer.from([0x80 | op, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}
