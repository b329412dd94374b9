// "/": what is live now (refreshed every 5 s, with each stream's thumbnail every 10 s), the
// public voice rooms with who is in them (refreshed as often), and the login.
import { useEffect, useState } from 'preact/hooks';
import { currentSession, liveNow, logout, publicRooms } from './api';
import type { LiveStream, PublicRoom, Session } from './api';
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

// Calls load now and every REFRESH_MS after the previous answer; the last answer, or the
// error of the last try, and when it came.
function usePoll<T>(load: () => Promise<T>): { data: T | null; error: string | null; now: number } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const tick = async () => {
      try {
        const d = await load();
        if (stopped) return;
        setData(d);
        setError(null);
      } catch (e) {
        if (!stopped) setError(e instanceof Error ? e.message : String(e));
      }
      if (!stopped) {
        setNow(Date.now());
        timer = window.setTimeout(tick, REFRESH_MS);
      }
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  return { data, error, now };
}

const liveSorted = async () =>
  (await liveNow()).sort((a, b) => a.started_at.localeCompare(b.started_at));

function LiveList() {
  const { data: live, error, now } = usePoll<LiveStream[]>(liveSorted);

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

// The public voice rooms and who is in them (display names, who speaks), each a link to join.
function VoiceRooms() {
  const { data: rooms, error } = usePoll<PublicRoom[]>(publicRooms);
  return (
    <section class="panel" aria-labelledby="rooms-h">
      <h2 id="rooms-h">Voice rooms</h2>
      {error && (
        <p class="error" role="alert">
          Cannot load the voice rooms: {error}
        </p>
      )}
      {rooms === null && !error && <p class="muted">Loading…</p>}
      {rooms !== null && rooms.length === 0 && (
        <p class="muted" data-testid="no-rooms">
          No public voice rooms.
        </p>
      )}
      {rooms !== null && rooms.length > 0 && (
        <ul class="rooms">
          {rooms.map((r) => (
            <li key={r.name} class="card" data-room={r.name}>
              <a class="room-title" href={`/voice/${encodeURIComponent(r.name)}`}>
                {r.name}
              </a>{' '}
              <span class="muted">
                {r.members.length === 0
                  ? 'nobody yet'
                  : r.members.length === 1
                    ? '1 person'
                    : `${r.members.length} people`}
              </span>
              {r.members.length > 0 && (
                <ul class="members" aria-label={`In ${r.name}`}>
                  {r.members.map((m, i) => (
                    <li key={i} class={m.speaking ? 'member speaking' : 'member'}>
                      {m.display}
                      {m.speaking && <span class="speaking-tag"> · speaking</span>}
                    </li>
                  ))}
                </ul>
              )}
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
      <div class="home-main">
        <LiveList />
        <VoiceRooms />
      </div>
      <Login />
    </div>
  </Layout>,
);
