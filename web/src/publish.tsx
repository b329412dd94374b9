// "/publish": a signed-in user picks one of their streams (or anyone pastes a stream key), a
// camera or the screen plus a microphone, sees a preview, and publishes over WHIP; the page
// shows the connection, the outgoing bitrate, the watch link, and says what went wrong (a denied
// camera, a refused key, a stream already live, a lost connection, retried automatically).
// The WHIP client is publish_whip.ts, the capture publish_media.ts.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, currentSession } from './api';
import type { Session } from './api';
import { bitrate } from './format';
import { myStreams, newKey } from './publish_api';
import { SignInFields, useSignIn } from './signin';
import type { OwnStream } from './publish_api';
import { getMedia, listDevices, mediaErrorText, stopMedia } from './publish_media';
import type { Devices, Source } from './publish_media';
import { MAX_TRIES, Publisher } from './publish_whip';
import type { PubStatus } from './publish_whip';
import { Layout, mount } from './ui';
import './publish.css';

/* Stream names as the API makes them (api/routes.c NAME_RE). */
const NAME_RE = /^[a-z0-9_-]{1,64}$/;

function SignIn(props: { onSession: (s: Session) => void }) {
  const { busy, error, submit } = useSignIn(props.onSession);
  return (
    <form class="stack" onSubmit={submit} aria-labelledby="signin-h">
      <h2 id="signin-h">Sign in to pick one of your streams</h2>
      <SignInFields busy={busy} error={error} idPrefix="pub-" />
      <p class="muted">Or paste a stream key below without signing in.</p>
    </form>
  );
}

/* What the page says about the publish, in words. */
function problemText(s: PubStatus): string | null {
  switch (s.problem) {
    case 'refused':
      return 'This stream key was refused. Check it (a key is shown only when it is made), or make a new one.';
    case 'wrong-stream':
      return `This key belongs to another stream: ${s.detail ?? ''}`;
    case 'busy':
      return 'This stream is already live: another publish is using it. Stop that one first, or pick another stream.';
    case 'lost':
      return `The connection was lost (${s.detail ?? 'no reason given'}).`;
    case 'gave-up':
      return `The connection was lost and ${MAX_TRIES} tries to reconnect failed. Press Go live to try again.`;
    case 'other':
      return `Publishing failed: ${s.detail ?? 'unknown error'}`;
    default:
      return null;
  }
}

function Stats({ s }: { s: PubStatus }) {
  const bps = s.bps !== null ? Math.round(s.bps) : null;
  return (
    <dl class="pub-stats" aria-label="Connection">
      <div>
        <dt>Connection</dt>
        <dd data-testid="connection" data-state={s.connection}>
          {s.connection}
        </dd>
      </div>
      <div>
        <dt>Sending</dt>
        <dd data-testid="bitrate" data-bps={bps ?? ''}>
          {bps !== null ? bitrate(bps) : '–'}
        </dd>
      </div>
      <div>
        <dt>Lost packets</dt>
        <dd data-testid="lost">{s.lost ?? '–'}</dd>
      </div>
      <div>
        <dt>Round trip</dt>
        <dd data-testid="rtt">{s.rttMs !== null ? `${s.rttMs} ms` : '–'}</dd>
      </div>
      {s.codec && (
        <div>
          <dt>Video</dt>
          <dd data-testid="codec">{s.codec}</dd>
        </div>
      )}
    </dl>
  );
}

function Publish() {
  const [session, setSession] = useState<Session | null>(currentSession());
  const [streams, setStreams] = useState<OwnStream[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [choice, setChoice] = useState('');
  const [typedName, setTypedName] = useState('');
  const [key, setKey] = useState('');
  const [confirmKey, setConfirmKey] = useState(false);
  const [keyNote, setKeyNote] = useState<string | null>(null);
  const [source, setSource] = useState<Source>('camera');
  const [devices, setDevices] = useState<Devices>({ cameras: [], mics: [] });
  const [camera, setCamera] = useState('');
  const [mic, setMic] = useState('default');
  const [media, setMedia] = useState<MediaStream | null>(null);
  const [mediaError, setMediaError] = useState<string | null>(null);
  const [status, setStatus] = useState<PubStatus | null>(null);
  const [busy, setBusy] = useState(false);
  const preview = useRef<HTMLVideoElement>(null);
  const goLiveButton = useRef<HTMLButtonElement>(null);
  const pub = useRef<Publisher | null>(null);
  const mediaRef = useRef<MediaStream | null>(null);

  const refreshDevices = () => void listDevices().then(setDevices);
  useEffect(refreshDevices, []);
  useEffect(() => {
    if (!session) return;
    myStreams()
      .then((l) => {
        setStreams(l);
        setListError(null);
        if (l.length) setChoice((c) => c || l[0].name);
      })
      .catch((e) => {
        if (e instanceof ApiError && e.status === 401) setSession(null);
        else setListError(e instanceof Error ? e.message : String(e));
      });
  }, [session]);
  useEffect(() => {
    if (preview.current) preview.current.srcObject = media;
  }, [media]);
  /* Leaving the page ends the publish at once (a keepalive DELETE), not by ICE consent 30 s on. */
  useEffect(() => {
    const leave = () => {
      void pub.current?.stop();
      pub.current = null;
    };
    window.addEventListener('pagehide', leave);
    return () => {
      window.removeEventListener('pagehide', leave);
      leave();
      stopMedia(mediaRef.current);
    };
  }, []);
  /* Another kind of source: the old preview goes (Preview or Go live captures the new one). */
  const pickSource = (src: Source) => {
    if (src === source) return;
    stopMedia(mediaRef.current);
    mediaRef.current = null;
    setMedia(null);
    setMediaError(null);
    setSource(src);
  };

  const publishing = status !== null && (status.phase === 'connecting' || status.phase === 'live' || status.phase === 'retrying');
  const byList = session !== null && streams !== null && choice !== '';
  const name = byList ? choice : typedName.trim();
  const badName = name !== '' && !NAME_RE.test(name);
  const watchPath = name && !badName ? `/watch/${encodeURIComponent(name)}` : null;

  const startPreview = async (): Promise<MediaStream | null> => {
    setMediaError(null);
    stopMedia(mediaRef.current);
    mediaRef.current = null;
    setMedia(null);
    try {
      const m = await getMedia(source, source === 'camera' ? camera : '', mic);
      mediaRef.current = m;
      setMedia(m);
      refreshDevices(); /* the labels come with the permission */
      return m;
    } catch (e) {
      setMediaError(mediaErrorText(e, source));
      return null;
    }
  };

  const goLive = async (e: Event) => {
    e.preventDefault();
    if (publishing || busy || badName) return;
    setBusy(true);
    try {
      const m = mediaRef.current ?? (await startPreview());
      if (!m) return;
      const url = name ? `/whip/${encodeURIComponent(name)}` : '/whip';
      const p = new Publisher(url, key.trim(), m, setStatus);
      pub.current = p;
      p.start();
    } finally {
      setBusy(false);
    }
  };

  const stop = async () => {
    const p = pub.current;
    pub.current = null;
    await p?.stop();
    goLiveButton.current?.focus(); /* Stop is disabled now: keep the keyboard user's place */
  };

  const makeKey = async () => {
    setConfirmKey(false);
    try {
      setKey(await newKey(choice));
      setKeyNote(`A new key for ${choice} is in the field. Copy it to your other publishing tools: the old key no longer works.`);
    } catch (e) {
      setKeyNote(`No new key: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const problem = status ? problemText(status) : null;
  return (
    <div class="publish">
      <h1>Publish</h1>
      <div class="pub-grid">
        <div class="pub-form">
          {!session && (
            <section class="panel">
              <SignIn onSession={setSession} />
            </section>
          )}
          <form class="panel stack" onSubmit={goLive} aria-labelledby="what-h">
            <h2 id="what-h">What to publish</h2>
            {session && streams !== null && (
              <>
                <label for="pub-stream">Stream</label>
                <select
                  id="pub-stream"
                  value={choice}
                  disabled={publishing}
                  onChange={(e) => {
                    setChoice((e.currentTarget as HTMLSelectElement).value);
                    setKeyNote(null);
                    setConfirmKey(false);
                  }}
                >
                  {streams.map((s) => (
                    <option key={s.name} value={s.name}>
                      {s.owner && s.owner !== session.user.name ? `${s.name} (${s.owner})` : s.name}
                      {s.live ? ' · live' : ''}
                    </option>
                  ))}
                  <option value="">Another stream (by its key)</option>
                </select>
                {streams.length === 0 && <p class="muted">You have no streams yet: an admin or the API makes them.</p>}
              </>
            )}
            {listError && (
              <p class="error" role="alert">
                Cannot load your streams: {listError}
              </p>
            )}
            {!byList && (
              <>
                <label for="pub-name">Stream name (optional, for the watch link)</label>
                <input
                  id="pub-name"
                  value={typedName}
                  disabled={publishing}
                  autocomplete="off"
                  spellcheck={false}
                  aria-invalid={badName}
                  aria-describedby={badName ? 'pub-name-error' : undefined}
                  onInput={(e) => setTypedName((e.currentTarget as HTMLInputElement).value)}
                />
                {badName && (
                  <p id="pub-name-error" class="error" data-testid="name-error">
                    “{name}” is not a stream name: a name is 1 to 64 lowercase letters, digits, - and _.
                  </p>
                )}
              </>
            )}
            <label for="pub-key">Stream key</label>
            <input
              id="pub-key"
              type="password"
              value={key}
              required
              disabled={publishing}
              autocomplete="off"
              spellcheck={false}
              aria-describedby="pub-key-hint"
              onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
            />
            <p id="pub-key-hint" class="muted">
              The key starts with sk_ and is shown only when it is made.
            </p>
            {byList && !publishing && !confirmKey && (
              <button type="button" class="secondary" onClick={() => setConfirmKey(true)}>
                Make a new key for {choice}
              </button>
            )}
            {confirmKey && (
              <div class="confirm" role="group" aria-label="Confirm a new key">
                <p>The old key of {choice} stops working (OBS or other tools using it must be updated).</p>
                <button type="button" onClick={makeKey}>
                  Make the new key
                </button>
                <button type="button" class="secondary" onClick={() => setConfirmKey(false)}>
                  Keep the old key
                </button>
              </div>
            )}
            {keyNote && (
              <p role="status" data-testid="key-note">
                {keyNote}
              </p>
            )}

            <fieldset disabled={publishing}>
              <legend>Video</legend>
              <label class="choice">
                <input type="radio" name="source" checked={source === 'camera'} onChange={() => pickSource('camera')} />
                Camera
              </label>
              <label class="choice">
                <input type="radio" name="source" checked={source === 'screen'} onChange={() => pickSource('screen')} />
                Screen
              </label>
            </fieldset>
            {source === 'camera' && (
              <>
                <label for="pub-camera">Camera</label>
                <select id="pub-camera" value={camera} disabled={publishing} onChange={(e) => setCamera((e.currentTarget as HTMLSelectElement).value)}>
                  <option value="">Default camera</option>
                  {devices.cameras.map((d) => (
                    <option key={d.id} value={d.id}>
                      {d.label}
                    </option>
                  ))}
                </select>
              </>
            )}
            <label for="pub-mic">Microphone</label>
            <select id="pub-mic" value={mic} disabled={publishing} onChange={(e) => setMic((e.currentTarget as HTMLSelectElement).value)}>
              <option value="default">Default microphone</option>
              {devices.mics
                .filter((d) => d.id !== 'default')
                .map((d) => (
                  <option key={d.id} value={d.id}>
                    {d.label}
                  </option>
                ))}
              <option value="">No microphone</option>
            </select>
            {mediaError && (
              <p class="error" role="alert" data-testid="media-error">
                {mediaError}
              </p>
            )}
            <div class="pub-buttons">
              <button type="button" class="secondary" disabled={publishing} onClick={() => void startPreview()}>
                Preview
              </button>
              {/* Both always there (one disabled): a key press on Stop never lands on a Go
               * live that took its place. */}
              <button type="submit" ref={goLiveButton} disabled={busy || publishing || badName} data-testid="go-live">
                Go live
              </button>
              <button type="button" class="stop" disabled={!publishing} onClick={() => void stop()} data-testid="stop">
                Stop
              </button>
            </div>
          </form>
        </div>

        <section class="panel pub-side" aria-labelledby="preview-h">
          <h2 id="preview-h">Preview</h2>
          <div class="player">
            <video ref={preview} muted autoplay playsInline aria-label="Preview of what you publish" data-testid="preview" />
          </div>
          <p class="status" role="status" data-testid="pub-status" data-phase={status?.phase ?? 'idle'}>
            {!status && (media ? 'Ready. Press Go live to publish.' : 'Press Preview to see your camera or screen.')}
            {status?.phase === 'connecting' && 'Connecting…'}
            {status?.phase === 'live' && 'Live'}
            {status?.phase === 'retrying' &&
              (status.retryIn !== null
                ? `Reconnecting in ${status.retryIn} s (try ${status.tries} of ${MAX_TRIES})…`
                : `Reconnecting (try ${status.tries} of ${MAX_TRIES})…`)}
            {status?.phase === 'stopped' && 'Stopped. The stream has ended.'}
            {status?.phase === 'failed' && 'Not live.'}
          </p>
          {problem && (
            <p class="error" role="alert" data-testid="pub-problem" data-problem={status?.problem ?? ''}>
              {problem}
            </p>
          )}
          {status && <Stats s={status} />}
          {watchPath && (
            <p data-testid="watch-link">
              Viewers watch at{' '}
              <a href={watchPath} target="_blank" rel="noopener">
                {`${location.origin}${watchPath}`}
              </a>
            </p>
          )}
          {!watchPath && status?.phase === 'live' && (
            <p>
              Viewers find the stream under <a href="/">Live now</a>.
            </p>
          )}
        </section>
      </div>
    </div>
  );
}

mount(
  <Layout page="publish">
    <Publish />
  </Layout>,
);
