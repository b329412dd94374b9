// "/": what is live now (refreshed every 5 s, with each stream's thumbnail every 10 s) and the
// login.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, currentSession, liveNow, login, logout } from './api';
import type { LiveStream, Session } from './api';
import { since } from './format';
import { Layout, mount } from './ui';

const REFRESH_MS = 5000;
// The server makes a thumbnail at most every 10 s (and says max-age=10): the URL changes with
// each 10 s bucket, so the browser fetches a new one exactly that often.
const THUMB_MS = 10000;

function thumbUrl(name: string, now: number): string {
  return `/api/streams/${encodeURIComponent(name)}/thumbnail.jpg?t=${Math.floor(now / THUMB_MS)}`;
}

// The stream's latest keyframe; a placeholder until it has one (404) or when it fails, tried
// again with the next URL.
function Thumb({ name, now }: { name: string; now: number }) {
  const src = thumbUrl(name, now);
  const [failed, setFailed] = useState<string | null>(null);
  if (failed === src)
    return (
      <div class="thumb thumb-none" aria-hidden="true">
        No picture yet
      </div>
    );
  return (
    <img
      class="thumb"
      src={src}
      alt={`Latest picture of ${name}`}
      width={320}
      height={180}
      loading="lazy"
      onError={() => setFailed(src)}
    />
  );
}

function LiveList() {
  const [live, setLive] = useState<LiveStream[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const load = async () => {
      try {
        const l = await liveNow();
        if (stopped) return;
        l.sort((a, b) => a.started_at.localeCompare(b.started_at));
        setLive(l);
        setError(null);
      } catch (e) {
        if (!stopped) setError(e instanceof Error ? e.message : String(e));
      }
      if (!stopped) {
        setNow(Date.now());
        timer = window.setTimeout(load, REFRESH_MS);
      }
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  return (
    <section class="panel" aria-labelledby="live-h">
      <h1 id="live-h">Live now</h1>
      {error && (
        <p class="error" role="alert">
          Cannot load what is live: {error}
        </p>
      )}
      {live === null && !error && <p class="muted">Loading…</p>}
      {live !== null && live.length === 0 && (
        <p class="muted" data-testid="nothing-live">
          Nothing is live right now.
        </p>
      )}
      {live !== null && live.length > 0 && (
        <ul class="cards">
          {live.map((s) => (
            <li key={s.name} class="card" data-stream={s.name}>
              <Thumb name={s.name} now={now} />
              <a class="card-title" href={`/watch/${encodeURIComponent(s.name)}`}>
                {s.name}
              </a>
              <dl class="facts">
                <div>
                  <dt>By</dt>
                  <dd>{s.owner ?? 'open publish'}</dd>
                </div>
                <div>
                  <dt>Live for</dt>
                  <dd>{since(s.started_at, now)}</dd>
                </div>
                {s.viewers !== undefined && (
                  <div>
                    <dt>Viewers</dt>
                    <dd>{s.viewers}</dd>
                  </div>
                )}
              </dl>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Login() {
  const [session, setSession] = useState<Session | null>(currentSession());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    setBusy(true);
    setError(null);
    try {
      setSession(await login(String(data.get('username')), String(data.get('password'))));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('Wrong user name or password.');
      else if (err instanceof ApiError && err.status === 429) setError(err.message);
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  if (session)
    return (
      <section class="panel" aria-labelledby="login-h">
        <h2 id="login-h">Signed in</h2>
        <p data-testid="signed-in">
          Signed in as <strong>{session.user.name}</strong> ({session.user.role}).
        </p>
        <button
          type="button"
          onClick={async () => {
            await logout().catch(() => undefined);
            setSession(null);
          }}
        >
          Sign out
        </button>
      </section>
    );
  return (
    <section class="panel" aria-labelledby="login-h">
      <h2 id="login-h">Sign in</h2>
      <form class="stack" onSubmit={submit}>
        <label for="username">User name</label>
        <input id="username" name="username" autocomplete="username" required />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}

mount(
  <Layout page="live">
    <div class="home">
      <LiveList />
      <Login />
    </div>
  </Layout>,
);
