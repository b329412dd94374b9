// "/": what is live now (refreshed every 5 s, with each stream's thumbnail every 10 s) and the
// login.
import { useEffect, useState } from 'preact/hooks';
import { currentSession, liveNow, logout } from './api';
import type { LiveStream, Session } from './api';
import { since } from './format';
import { SignInFields, useSignIn } from './signin';
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
  const { busy, error, submit } = useSignIn(setSession);

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
        <SignInFields busy={busy} error={error} />
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
