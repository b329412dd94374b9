// An S3 for tests: s3rver (npm) behind a proxy that makes it strict where real S3 is strict
// and breaks it on demand. Started by tests/lib/s3-start, in one node process:
//
//   node tests/lib/s3proxy.mjs --dir DIR [--bucket kibitka-test] [--region us-east-1]
//
// s3rver listens on a free 127.0.0.1 port and stores under DIR/data; the proxy listens on
// another and writes its url to DIR/endpoint once both are up. Credentials: S3RVER/S3RVER.
//
// What the proxy adds to s3rver (which checks no V4 signature, no Content-MD5, no payload hash,
// implements no AbortMultipartUpload and answers a multipart ETag that is not S3's):
//   - every request's Signature V4 is recomputed with the npm aws4 package (an implementation
//     independent of ours and libcurl's), for the Authorization header and for presigned query
//     strings; a mismatch is 403 SignatureDoesNotMatch, an unknown key 403 InvalidAccessKeyId,
//     an expired URL or a skewed clock 403, unsigned x-amz-* headers 403 AccessDenied;
//   - x-amz-content-sha256 must be the SHA-256 of the body (or UNSIGNED-PAYLOAD), Content-MD5 its
//     MD5 (400 XAmzContentSHA256Mismatch, 400 BadDigest);
//   - AbortMultipartUpload removes the upload's parts from s3rver's store;
//   - CompleteMultipartUpload answers S3's ETag, hex(md5(part md5s)) "-" N.
//
// Faults, set through POST /__fault with a JSON body, each for the next `count` matching
// requests (default 1):
//   {"kind":"slowdown-uploadpart"}  503 SlowDown to UploadPart
//   {"kind":"reset-uploadpart"}     TCP reset after half of an UploadPart's body has arrived
//   {"kind":"fail-complete","status":200}  CompleteMultipartUpload fails: by default a 200 whose
//                                   body is an <Error> (as S3 does once it has started to answer),
//                                   or the given status with InternalError
//   {"kind":"outage","seconds":30}  every S3 request's connection reset, for that long
//   {"kind":"clear"}                no more faults
// GET /__stats answers counters as JSON: requests per operation, rejected signatures, faults.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

// The packages live with the end-to-end tests' (tests/e2e/package.json, scripts/install-deps).
const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const S3rver = require('s3rver');
const aws4 = require('aws4');

const CREDENTIALS = { S3RVER: 'S3RVER' }; // s3rver's default account
const MAX_SKEW_MS = 15 * 60 * 1000;

function args() {
  const out = { dir: null, bucket: 'kibitka-test', region: 'us-east-1' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!out.dir) throw new Error('usage: s3proxy.mjs --dir DIR [--bucket B] [--region R]');
  return out;
}

const cfg = args();
const faults = { slowdown: 0, reset: 0, failComplete: 0, failCompleteStatus: 200, outageUntil: 0 };
const stats = { requests: 0, signatureRejected: 0, faultsInjected: 0, ops: {} };

function log(...a) {
  console.log(new Date().toISOString(), ...a);
}

function xmlError(res, status, code, message, extra = '') {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message>${extra}<RequestId>proxy</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return { status, code };
}

// ---- which S3 operation ----

function operation(method, url) {
  const q = url.searchParams;
  const key = url.pathname.split('/').length > 2 && url.pathname.split('/')[2] !== '';
  if (!key) return method === 'PUT' ? 'CreateBucket' : `${method}Bucket`;
  if (method === 'PUT' && q.has('partNumber') && q.has('uploadId')) return 'UploadPart';
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  return { PUT: 'PutObject', GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[method] || method;
}

// ---- Signature V4, checked with aws4 ----

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

function amzTime(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

function sameHex(a, b) {
  return a.length === b.length && crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

// The signed headers of req as aws4 wants them: names lower-case, only those signed.
function signedHeaderSet(req, names) {
  const headers = {};
  const include = {};
  for (const n of names) {
    const v = req.headers[n];
    if (v === undefined) return null;
    headers[n] = v;
    include[n] = true;
  }
  return { headers, include };
}

// Returns null when the request is properly signed, else [status, code, message].
function checkHeaderAuth(req, body) {
  const m = AUTH_RE.exec(req.headers.authorization);
  if (!m) return [400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed'];
  const [, keyId, date, region, signedNames, signature] = m;
  const secret = CREDENTIALS[keyId];
  if (!secret) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  if (region !== cfg.region)
    return [400, 'AuthorizationHeaderMalformed', `the region '${region}' is wrong; expecting '${cfg.region}'`];
  const names = signedNames.split(';');
  if (!names.includes('host')) return [403, 'AccessDenied', 'host must be signed'];
  const unsigned = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-') && !names.includes(h));
  if (unsigned.length) return [403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned}`];
  const t = amzTime(req.headers['x-amz-date']);
  if (Number.isNaN(t) || req.headers['x-amz-date'].slice(0, 8) !== date)
    return [403, 'AccessDenied', 'x-amz-date is missing or does not match the credential scope'];
  if (Math.abs(Date.now() - t) > MAX_SKEW_MS)
    return [403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'];
  const payload = req.headers['x-amz-content-sha256'];
  if (!payload) return [400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256'];
  if (payload !== 'UNSIGNED-PAYLOAD' && payload !== crypto.createHash('sha256').update(body).digest('hex'))
    return [400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed."];
  const set = signedHeaderSet(req, names);
  if (!set) return [403, 'AccessDenied', 'a signed header is missing'];
  const signer = new aws4.RequestSigner(
    { method: req.method, host: req.headers.host, path: req.url, service: 's3', region,
      headers: set.headers, extraHeadersToInclude: set.include },
    { accessKeyId: keyId, secretAccessKey: secret },
  );
  // prepareRequest first: it takes the request's own X-Amz-Date. signature() alone would put
  // the proxy's clock into the string to sign whenever a second boundary falls in between.
  signer.prepareRequest();
  const want = signer.signature();
  if (!sameHex(want, signature)) {
    log('signature mismatch; canonical request was:\n' + signer.canonicalString());
    return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
  }
  return null;
}

function checkQueryAuth(req, url) {
  const q = url.searchParams;
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return [400, 'AuthorizationQueryParametersError', 'bad X-Amz-Algorithm'];
  const cred = /^([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request$/.exec(q.get('X-Amz-Credential') || '');
  if (!cred) return [400, 'AuthorizationQueryParametersError', 'bad X-Amz-Credential'];
  const [, keyId, date, region] = cred;
  const secret = CREDENTIALS[keyId];
  if (!secret) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  if (region !== cfg.region) return [400, 'AuthorizationQueryParametersError', `wrong region '${region}'`];
  const t = amzTime(q.get('X-Amz-Date'));
  const expires = Number(q.get('X-Amz-Expires'));
  if (Number.isNaN(t) || q.get('X-Amz-Date').slice(0, 8) !== date || !(expires >= 1 && expires <= 604800))
    return [400, 'AuthorizationQueryParametersError', 'bad X-Amz-Date or X-Amz-Expires'];
  if (Date.now() > t + expires * 1000) return [403, 'AccessDenied', 'Request has expired'];
  if (t - Date.now() > MAX_SKEW_MS) return [403, 'AccessDenied', 'Request is not valid yet'];
  const names = (q.get('X-Amz-SignedHeaders') || '').split(';');
  const set = signedHeaderSet(req, names);
  if (!set || !names.includes('host')) return [403, 'AccessDenied', 'a signed header is missing'];
  const rest = [...q.entries()].filter(([k]) => k !== 'X-Amz-Signature');
  const pathNoSig = url.pathname + '?' + rest.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const signer = new aws4.RequestSigner(
    { method: req.method, host: req.headers.host, path: pathNoSig, service: 's3', region, signQuery: true,
      headers: set.headers, extraHeadersToInclude: set.include },
    { accessKeyId: keyId, secretAccessKey: secret },
  );
  // prepareRequest first: it takes the request's own X-Amz-Date. signature() alone would put
  // the proxy's clock into the string to sign whenever a second boundary falls in between.
  signer.prepareRequest();
  const want = signer.signature();
  if (!sameHex(want, q.get('X-Amz-Signature') || '')) {
    log('presigned signature mismatch; canonical request was:\n' + signer.canonicalString());
    return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
  }
  return null;
}

function checkAuth(req, url, body) {
  if (req.headers.authorization) return checkHeaderAuth(req, body);
  if (url.searchParams.has('X-Amz-Algorithm')) return checkQueryAuth(req, url);
  return [403, 'AccessDenied', 'Anonymous access is not allowed'];
}

// ---- S3 behaviour s3rver lacks ----

function abortUpload(res, url, s3rver) {
  const bucket = url.pathname.split('/')[1];
  const id = url.searchParams.get('uploadId');
  if (!/^[A-Za-z0-9._-]+$/.test(id)) return xmlError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
  const dir = path.join(s3rver.store.getResourcePath(bucket, undefined, 'uploads'), id);
  if (!fs.existsSync(dir)) return xmlError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
  fs.rmSync(dir, { recursive: true, force: true });
  res.writeHead(204);
  res.end();
  return { status: 204 };
}

// S3's ETag of a completed multipart upload, from the part ETags of the request body.
function multipartEtag(xml) {
  const etags = [...xml.matchAll(/<ETag>\s*(?:"|&quot;)?([0-9a-fA-F]{32})(?:"|&quot;)?\s*<\/ETag>/g)].map((m) => m[1]);
  const md5 = crypto.createHash('md5');
  for (const e of etags) md5.update(Buffer.from(e, 'hex'));
  return `${md5.digest('hex')}-${etags.length}`;
}

function forward(req, res, body, op, s3port) {
  const headers = { ...req.headers, 'content-length': String(body.length) };
  delete headers.expect;
  delete headers['transfer-encoding'];
  return new Promise((resolve) => {
    const up = http.request({ host: '127.0.0.1', port: s3port, method: req.method, path: req.url, headers }, (ur) => {
      const chunks = [];
      ur.on('data', (c) => chunks.push(c));
      ur.on('end', () => {
        let out = Buffer.concat(chunks);
        const h = { ...ur.headers };
        if (op === 'CompleteMultipartUpload' && ur.statusCode === 200) {
          const etag = multipartEtag(body.toString());
          out = Buffer.from(out.toString().replace(/<ETag>[^<]*<\/ETag>/, `<ETag>&quot;${etag}&quot;</ETag>`));
        }
        if (req.method !== 'HEAD') h['content-length'] = String(out.length);
        delete h['transfer-encoding'];
        res.writeHead(ur.statusCode, h);
        res.end(req.method === 'HEAD' ? undefined : out);
        resolve({ status: ur.statusCode });
      });
    });
    up.on('error', (e) => resolve(xmlError(res, 500, 'InternalError', `s3rver: ${e.message}`)));
    up.end(body);
  });
}

// ---- faults and control ----

function control(req, res, url) {
  const send = (status, obj) => {
    const b = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(b);
  };
  if (req.method === 'GET' && url.pathname === '/__stats') return send(200, stats);
  if (req.method !== 'POST' || url.pathname !== '/__fault') return send(404, { error: 'no such control' });
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    let f;
    try {
      f = JSON.parse(raw);
    } catch {
      return send(400, { error: 'bad json' });
    }
    const count = f.count ?? 1;
    if (f.kind === 'slowdown-uploadpart') faults.slowdown = count;
    else if (f.kind === 'reset-uploadpart') faults.reset = count;
    else if (f.kind === 'fail-complete') {
      faults.failComplete = count;
      faults.failCompleteStatus = f.status ?? 200;
    } else if (f.kind === 'outage') faults.outageUntil = Date.now() + (f.seconds ?? 30) * 1000;
    else if (f.kind === 'clear') Object.assign(faults, { slowdown: 0, reset: 0, failComplete: 0, outageUntil: 0 });
    else return send(400, { error: `unknown fault kind ${f.kind}` });
    log('fault', JSON.stringify(f));
    send(200, { ok: true, faults });
  });
}

// Reads the body; resolves null when a reset fault cut the connection.
function readBody(req, op) {
  const resetting = op === 'UploadPart' && faults.reset > 0;
  if (resetting) faults.reset--;
  const half = Number(req.headers['content-length'] || 0) / 2;
  return new Promise((resolve) => {
    const chunks = [];
    let got = 0;
    let cut = false;
    req.on('data', (c) => {
      if (cut) return;
      chunks.push(c);
      got += c.length;
      if (resetting && got >= half) {
        cut = true;
        stats.faultsInjected++;
        log('fault: reset mid-part after', got, 'bytes');
        req.socket.resetAndDestroy();
        resolve(null);
      }
    });
    req.on('end', () => !cut && resolve(Buffer.concat(chunks)));
    req.on('error', () => !cut && resolve(null));
  });
}

function injected(res, op) {
  if (op === 'UploadPart' && faults.slowdown > 0) {
    faults.slowdown--;
    stats.faultsInjected++;
    return xmlError(res, 503, 'SlowDown', 'Please reduce your request rate.');
  }
  if (op === 'CompleteMultipartUpload' && faults.failComplete > 0) {
    faults.failComplete--;
    stats.faultsInjected++;
    return xmlError(res, faults.failCompleteStatus, 'InternalError', 'We encountered an internal error. Please try again.');
  }
  return null;
}

async function handle(req, res, s3rver, s3port) {
  const url = new URL(req.url, 'http://proxy');
  if (url.pathname.startsWith('/__')) return control(req, res, url);
  stats.requests++;
  if (Date.now() < faults.outageUntil) {
    stats.faultsInjected++;
    return req.socket.resetAndDestroy();
  }
  const op = operation(req.method, url);
  stats.ops[op] = (stats.ops[op] || 0) + 1;
  const body = await readBody(req, op);
  if (!body) return;
  let result;
  const denied = checkAuth(req, url, body);
  if (denied) {
    if (denied[1] === 'SignatureDoesNotMatch') stats.signatureRejected++;
    result = xmlError(res, ...denied);
  } else if (req.headers['content-md5'] &&
             req.headers['content-md5'] !== crypto.createHash('md5').update(body).digest('base64')) {
    result = xmlError(res, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  } else {
    result = injected(res, op) ||
      (op === 'AbortMultipartUpload' ? abortUpload(res, url, s3rver) : await forward(req, res, body, op, s3port));
  }
  log(req.method, req.url.slice(0, 160), op, body.length, '->', result.status, result.code || '');
}

async function main() {
  fs.mkdirSync(path.join(cfg.dir, 'data'), { recursive: true });
  const s3rver = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: path.join(cfg.dir, 'data'),
    configureBuckets: [{ name: cfg.bucket }], vhostBuckets: false,
  });
  const { port: s3port } = await s3rver.run();
  const proxy = http.createServer((req, res) => {
    handle(req, res, s3rver, s3port).catch((e) => {
      log('error', e.stack);
      if (!res.headersSent) xmlError(res, 500, 'InternalError', 'proxy error');
    });
  });
  proxy.keepAliveTimeout = 30000;
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${proxy.address().port}`;
  fs.writeFileSync(path.join(cfg.dir, 'endpoint.tmp'), endpoint + '\n');
  fs.renameSync(path.join(cfg.dir, 'endpoint.tmp'), path.join(cfg.dir, 'endpoint'));
  log(`s3rver on 127.0.0.1:${s3port}, proxy on ${endpoint}, bucket ${cfg.bucket}, region ${cfg.region}`);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
