// The command line as a new user meets it (issue 10, items 12 and 13): every command and
// subcommand answers --help and -h with what it accepts (exit 0); errors name what the user set
// (a KIBITKA_ variable is not reported as a flag); a port in use is found before the data
// directory is touched, and HTTP's and RTMP's messages say the same thing; an empty stream key
// is named as such; the "target duration" line says which rendition it is about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, testClip, publish, waitFor, freePort, binary, workDir, DEFAULT_LADDER } from './lib/server.mjs';

const run = (args, { env = {}, input } = {}) => spawnSync(binary, args,
  { encoding: 'utf8', input, timeout: 20000, env: { ...process.env, ...env } });

const helps = [
  [['--help'], 'kibitka [serve] [FLAGS]'], [['-h'], 'kibitka [serve] [FLAGS]'],
  [['help'], 'kibitka user add NAME'],
  [['serve', '--help'], 'usage: kibitka [serve] [FLAGS]'], [['serve', '-h'], 'usage: kibitka [serve]'],
  [['serve', '--part', '0.3', '--help'], 'usage: kibitka [serve]'], [['help', 'serve'], 'usage: kibitka [serve]'],
  [['user', '--help'], 'kibitka user list'], [['user', '-h'], 'kibitka user add NAME'],
  [['user', 'add', '--help'], 'usage: kibitka user add NAME'], [['user', 'add', '-h'], 'usage: kibitka user add'],
  [['user', 'add', 'ann', '--admin', '-h'], 'usage: kibitka user add'],
  [['user', 'list', '--help'], 'usage: kibitka user list'], [['user', 'list', '-h'], 'usage: kibitka user list'],
  [['stream', '--help'], 'kibitka stream add'], [['stream', '-h'], 'kibitka stream add'],
  [['stream', 'add', '--help'], 'usage: kibitka stream add'], [['stream', 'add', '-h'], 'usage: kibitka stream add'],
  [['version', '--help'], 'usage: kibitka version'], [['version', '-h'], 'usage: kibitka version'],
  [['help', 'user', 'add'], 'usage: kibitka user add'],
];

test('every command and subcommand prints its help for --help and -h, and exits 0', () => {
  for (const [args, want] of helps) {
    const r = run(args);
    assert.equal(r.status, 0, `kibitka ${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
    assert.ok(r.stdout.includes(want), `kibitka ${args.join(' ')} prints '${want}':\n${r.stdout}`);
    assert.equal(r.stderr, '', `kibitka ${args.join(' ')} writes nothing on stderr`);
  }
  // A value spelled -h is a value, not a request for help.
  const secret = run(['serve', '--webhook-secret', '-h', '--part', '99']);
  assert.equal(secret.status, 2);
  assert.match(secret.stderr, /--part 99 is out of range/);
});

test('serve --help is truthful: every flag it lists is accepted, and every flag is listed', () => {
  const help = run(['serve', '--help']).stdout;
  const listed = [...help.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => m[1]).filter((f) => f !== 'help');
  assert.ok(listed.length >= 20, `serve --help lists its flags (${listed.length})`);
  for (const f of listed) {
    // A value no flag takes, then --part out of range: the command stops at the check, and what
    // it complains about must not be an unknown flag.
    const r = run(['serve', `--${f}=\u0001`, ...(f === 'part' ? [] : ['--part', '99'])]);
    assert.equal(r.status, 2, `--${f}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /unknown flag/, `--${f} is accepted`);
  }
  for (const f of ['http', 'rtmp', 'data', 'db', 'ladder', 'storage', 'record-chunk', 'webhook'])
    assert.ok(listed.includes(f), `--${f} is listed`);
  // The tests and benches that name the default ladder (lib/server.mjs) name the server's.
  assert.ok(help.replace(/\s+/g, ' ').includes(`(default ${DEFAULT_LADDER})`), `--ladder's default is ${DEFAULT_LADDER}`);
});

test('user and stream subcommands accept what their help lists, and refuse the rest', () => {
  const data = mkdtempSync(path.join(workDir, 'cli-'));
  const db = `sqlite:${data}/other.db`;
  const addHelp = run(['user', 'add', '--help']).stdout;
  for (const w of ['NAME', '--admin', '--password-stdin', '--data DIR', '--db URL', '--help, -h'])
    assert.ok(addHelp.includes(w), `user add --help lists ${w}`);
  const add = run(['user', 'add', 'ann', '--admin', '--password-stdin', `--data=${data}`, '--db', db],
    { input: 'ann-password\n' });
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stdout, /user ann created \(admin\)/);
  const list = run(['user', 'list', '--data', data, `--db=${db}`]);
  assert.equal(list.status, 0, list.stderr);
  assert.equal(list.stdout, 'ann\tadmin\n');
  const stream = run(['stream', 'add', '--user=ann', '--name', 'anncam', '--data', data, '--db', db]);
  assert.equal(stream.status, 0, stream.stderr);
  assert.match(stream.stdout, /^sk_/);
  // Not in their help: refused, exit 2, naming the argument.
  for (const [args, want] of [
    [['stream', 'add', '--admin', '--user', 'ann', '--name', 'x'], /stream add does not take '--admin'/],
    [['user', 'list', '--user', 'ann'], /user list does not take '--user'/],
    [['user', 'list', 'ann'], /user list does not take 'ann'/],
    [['user', 'add', 'bob', '--password-stdin', '--bogus'], /unexpected argument '--bogus'/],
    [['stream', 'add', '--user'], /--user needs a value/],
    [['user', 'frob'], /user has no subcommand 'frob'/],
  ]) {
    const r = run([...args.slice(0, 2), '--data', data, '--db', db, ...args.slice(2)]);
    assert.equal(r.status, 2, `kibitka ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
  assert.ok(!existsSync(path.join(data, 'lock')), 'the database commands do not take the lock');
});

test('a bad value names the variable it came from, or the flag', () => {
  const env = run(['serve'], { env: { KIBITKA_PART: '9' } });
  assert.equal(env.status, 2);
  assert.equal(env.stderr, 'kibitka: KIBITKA_PART=9 is out of range (0.1 to 2 seconds)\n');
  const flag = run(['serve', '--part', '9'], { env: { KIBITKA_PART: '0.3' } });
  assert.equal(flag.status, 2);
  assert.equal(flag.stderr, 'kibitka: --part 9 is out of range (0.1 to 2 seconds)\n');
  const overridden = run(['serve', '--part', '0.3', '--http', 'x'], { env: { KIBITKA_PART: '9' } });
  assert.match(overridden.stderr, /^kibitka: --http 'x' is not ADDR:PORT/, 'the flag wins over the variable');
  const text = run(['serve'], { env: { KIBITKA_HTTP: 'nonsense' } });
  assert.equal(text.status, 2);
  assert.match(text.stderr, /^kibitka: KIBITKA_HTTP='nonsense' is not ADDR:PORT/);
  const ladder = run(['serve'], { env: { KIBITKA_LADDER: 'source,721p:1M' } });
  assert.equal(ladder.status, 2);
  assert.match(ladder.stderr, /^kibitka: KIBITKA_LADDER='source,721p:1M': ladder rung '721p:1M': height must be even/);
  const num = run(['serve'], { env: { KIBITKA_IDLE_TIMEOUT: 'soon' } });
  assert.match(num.stderr, /^kibitka: KIBITKA_IDLE_TIMEOUT='soon' is not a number\n$/);
});

// Holds a port on 127.0.0.1 as another program would.
async function holdPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return { port: s.address().port, close: () => new Promise((r) => s.close(r)) };
}

test('a port in use is found before the data directory is touched; HTTP and RTMP say it alike', async () => {
  const held = await holdPort();
  try {
    const free = await freePort();
    const msgs = {};
    for (const proto of ['HTTP', 'RTMP']) {
      mkdirSync(workDir, { recursive: true });
      const fresh = mkdtempSync(path.join(workDir, 'bind-'));
      const missing = path.join(fresh, 'not-yet');
      for (const data of [fresh, missing]) {
        const [http, rtmp] = proto === 'HTTP' ? [held.port, free] : [free, held.port];
        const r = run(['serve', '--data', data, '--http', `127.0.0.1:${http}`, '--rtmp', `127.0.0.1:${rtmp}`]);
        assert.equal(r.status, 1, r.stderr);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one line, nothing else done:\n${r.stderr}`);
        assert.match(lines[0], new RegExp(`ERROR main cannot listen on 127\\.0\\.0\\.1:${held.port} for ${proto}: Address already in use$`));
        msgs[proto] = lines[0].replace(/^\S+ /, '').replace(proto, 'X');
        if (data === fresh) assert.deepEqual(readdirSync(fresh), [], 'the empty data directory stays empty');
        else assert.ok(!existsSync(missing), 'a missing data directory is not created');
      }
    }
    assert.equal(msgs.HTTP, msgs.RTMP, 'the same words for both protocols');
  } finally {
    await held.close();
  }
});

test('a publish with an empty stream key is refused as such', async () => {
  const clip = testClip({ seconds: 16, size: '640x360' });
  for (const extra of [[], ['--open-publish']]) {
    const srv = await startServer(['--no-record', ...extra]);
    try {
      for (const url of [`rtmp://127.0.0.1:${srv.rtmp}/live/`, `rtmp://127.0.0.1:${srv.rtmp}/live`]) {
        const res = await publish(url, clip, { extra: ['-t', '2'] }).exited;
        assert.notEqual(res.code, 0, 'ffmpeg fails');
        assert.match(res.err, /an empty stream key/, 'the publisher is told why');
      }
      const lines = srv.log().split('\n').filter((l) => l.includes('refused'));
      assert.equal(lines.length, 2, srv.log());
      for (const l of lines)
        assert.match(l, /WARN {2}rtmp publish refused from 127\.0\.0\.1:\d+: an empty stream key \(publish to rtmp:\/\/HOST:PORT\/live\/<key>\)$/);
    } finally {
      await srv.stop();
    }
  }
});

test('each "target duration" line names its rendition', { timeout: 60000 }, async () => {
  const clip = testClip({ seconds: 16, size: '640x360' });
  const srv = await startServer(['--open-publish', '--no-record', '--ladder', 'source,240p:300k']);
  const pub = publish(srv.rtmpUrl('td'), clip);
  try {
    await waitFor(() => (srv.log().match(/target duration/g) || []).length >= 2,
      { timeout: 30000, what: 'the target duration lines' });
    const lines = srv.log().split('\n').filter((l) => l.includes('target duration'));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.ok(lines.some((l) => /stream=td source: target duration 2 s \(first segment/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /stream=td 240p: target duration 2 s \(first segment/.test(l)), lines.join('\n'));
  } finally {
    await pub.stop();
    await srv.stop();
  }
});
