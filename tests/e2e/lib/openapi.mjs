// Checks HTTP answers against an OpenAPI 3.0 document with ajv: the operation a request reached
// (method + templated path), the status among the ones it lists, the body against the schema it
// gives for that status and media type, its required headers, and (for a request the server
// accepted) the path and query parameters against their schemas, so a URL the server hands out
// that its own document refuses is caught. Records which operations answered which statuses.
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

// The document's "#/components/schemas/X" as "doc#/definitions/X", so that ajv (strict: no
// unknown keywords) can hold the schemas without the rest of the document.
function rebase(v) {
  if (Array.isArray(v)) return v.map(rebase);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v))
      out[k] = k === '$ref' ? x.replace('#/components/schemas/', 'doc#/definitions/') : rebase(x);
    return out;
  }
  return v;
}

export function openapiChecker(doc) {
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'doc', definitions: rebase(doc.components.schemas) });
  const compiled = new Map();
  const validator = (schema) => {
    const key = JSON.stringify(schema);
    if (!compiled.has(key)) compiled.set(key, ajv.compile(rebase(schema)));
    return compiled.get(key);
  };
  const validate = (schema, value, what) => {
    const v = validator(schema);
    if (!v(value))
      throw new Error(`${what} does not match the document: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 800)}`);
  };

  const ops = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    const names = [];
    const re = new RegExp('^' + template.replace(/[.]/g, '\\.').replace(/\{([^}]+)\}/g, (_, n) => {
      names.push(n);
      return '([^/]+)';
    }) + '$');
    for (const [method, op] of Object.entries(item))
      ops.push({ key: `${method.toUpperCase()} ${template}`, method: method.toUpperCase(), re, names, op });
  }
  const seen = new Map(); // operation key -> Set of statuses

  const resolve = (resp) => {
    const ref = resp.$ref?.match(/^#\/components\/responses\/(.+)$/);
    return ref ? doc.components.responses[ref[1]] : resp;
  };

  // res: { status, headers (a Headers), buf (a Buffer) }; throws on anything undocumented.
  function check(method, url, res) {
    const u = new URL(url, 'http://x');
    const found = ops.map((o) => ({ o, m: u.pathname.match(o.re) })).filter((x) => x.m);
    const hit = found.find((x) => x.o.method === method || (method === 'HEAD' && x.o.method === 'GET'));
    const media = (res.headers.get('content-type') || '').split(';')[0].trim();
    if (!hit) {
      // Not an operation: the router's own 404 or 405, with the error body.
      if (![404, 405].includes(res.status) || (found.length > 0) !== (res.status === 405))
        throw new Error(`${method} ${u.pathname}: ${res.status} for no documented operation`);
      validate({ $ref: '#/components/schemas/Error' }, JSON.parse(res.buf.toString()), `${method} ${u.pathname} ${res.status}`);
      return;
    }
    const { o, m } = hit;
    const what = `${o.key} (${method} ${u.pathname}${u.search}) answered ${res.status}`;
    const documented = o.op.responses[String(res.status)];
    if (!documented) throw new Error(`${what}, a status the document does not list (${Object.keys(o.op.responses)})`);
    const resp = resolve(documented);
    if (!resp) throw new Error(`${what}: dangling ${documented.$ref}`);
    for (const [h, spec] of Object.entries(resp.headers || {}))
      if (spec.required && !res.headers.get(h)) throw new Error(`${what} without its ${h} header`);
    if (resp.content) {
      const body = resp.content[media];
      if (!body) throw new Error(`${what} as ${media || 'nothing'}; documented: ${Object.keys(resp.content)}`);
      if (method !== 'HEAD') {
        if (media === 'application/json') validate(body.schema, JSON.parse(res.buf.toString()), what);
        else validate(body.schema, res.buf.toString('latin1'), what);
      }
    } else if (res.buf.length) {
      throw new Error(`${what} with a ${res.buf.length}-byte body; documented: none`);
    }
    if (res.status < 400) {
      // The server took this request: its parameters must be ones the document allows.
      for (const p of o.op.parameters || []) {
        let v = p.in === 'path' ? decodeURIComponent(m[o.names.indexOf(p.name) + 1]) : u.searchParams.get(p.name);
        if (v === null) {
          if (p.required) throw new Error(`${what} without its required parameter ${p.name}`);
          continue;
        }
        if (p.schema.type === 'integer' && /^-?\d+$/.test(v)) v = Number(v);
        if (p.schema.type === 'boolean' && (v === 'true' || v === 'false')) v = v === 'true';
        validate(p.schema, v, `${what}: parameter ${p.name}`);
      }
    }
    if (!seen.has(o.key)) seen.set(o.key, new Set());
    seen.get(o.key).add(res.status);
  }

  return { check, validate, ops, seen };
}
