// /voice/<room>: join a voice room with a display name, pick the microphone, mute or push to
// talk, see who is in the room and who speaks, leave. The signaling and the media are in
// voice_client.ts. The token: a signed-in user's own (public rooms), or a join link's
// (`#token=...`, read once, moved to sessionStorage and removed from the URL).
import { useEffect, useRef, useState } from 'preact/hooks';
import { apiCall, currentSession } from './api';
import { pathName } from './format';
import { Layout, mount } from './ui';
import { SPEAKING_LEVEL, signalingUrl, VoiceClient, type VoiceState } from './voice_client';
import './voice.css';

const room = pathName('/voice/');
const LINK_KEY = `kibitka.voice.${room ?? ''}`;

/* A join link's token: out of the URL at once (the fragment never reached the server), kept for
 * this tab in sessionStorage. */
function linkToken(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    try {
      sessionStorage.setItem(LINK_KEY, decodeURIComponent(m[1]));
    } catch {
      /* storage refused: the token lives in memory below */
    }
    history.replaceState(null, '', location.pathname + location.search);
    return decodeURIComponent(m[1]);
  }
  try {
    return sessionStorage.getItem(LINK_KEY);
  } catch {
    return null;
  }
}
const guestToken = linkToken();

interface Config {
  ws_port: number | null;
  ws_path: string;
  proxied: boolean;
}

function micWords(e: unknown): string {
  const n = (e as { name?: string })?.name;
  if (n === 'NotAllowedError') return 'The microphone was refused: allow it in the browser to talk.';
  if (n === 'NotFoundError') return 'No microphone was found.';
  if (n === 'NotReadableError') return 'The microphone is in use by another program.';
  return 'The microphone could not be opened.';
}

const PHASE: Record<string, string> = {
  connecting: 'Joining…',
  joined: 'In the room',
  reconnecting: 'Connection lost: rejoining',
  left: 'You left the room.',
  failed: 'Not in the room.',
};

function Meter(props: { level: number; label: string }) {
  const v = Math.max(0, Math.min(100, Math.round(props.level)));
  return (
    <meter class="v-meter" min={0} max={100} low={30} high={90} optimum={50} value={v} aria-label={props.label}>
      {v}
    </meter>
  );
}

function VoicePage() {
  const session = currentSession();
  const token = guestToken ?? session?.token ?? null;
  const [display, setDisplay] = useState(session?.user.name ?? '');
  const [mics, setMics] = useState<MediaDeviceInfo[]>([]);
  const [micId, setMicId] = useState('');
  const [ptt, setPtt] = useState(false);
  const [muted, setMuted] = useState(false);
  const [talking, setTalking] = useState(false);
  const [state, setState] = useState<VoiceState | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [myLevel, setMyLevel] = useState(0);
  const client = useRef<VoiceClient | null>(null);
  const mic = useRef<MediaStreamTrack | null>(null);
  const cfg = useRef<Config | null>(null);

  const listMics = async () => {
    try {
      const all = await navigator.mediaDevices.enumerateDevices();
      setMics(all.filter((d) => d.kind === 'audioinput'));
    } catch {
      /* no device list: the default microphone */
    }
  };
  useEffect(() => {
    void listMics();
    apiCall<Config>('GET', '/api/config')
      .then((c) => (cfg.current = c))
      .catch(() => setProblem('The server cannot be reached.'));
    return () => client.current?.leave();
  }, []);

  /* The track is live only when not muted, and with push-to-talk only while Space is held. */
  const live = !muted && (!ptt || talking);
  useEffect(() => {
    if (mic.current) mic.current.enabled = live;
    client.current?.setMuted(!live);
  }, [live]);

  useEffect(() => {
    if (!ptt) return;
    const typing = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      return !!t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA');
    };
    const down = (e: KeyboardEvent) => {
      if (e.code !== 'Space' || typing(e)) return;
      e.preventDefault();
      if (!e.repeat) setTalking(true);
    };
    const up = (e: KeyboardEvent) => {
      if (e.code !== 'Space') return;
      if (!typing(e)) e.preventDefault();
      setTalking(false);
    };
    const blur = () => setTalking(false);
    window.addEventListener('keydown', down);
    window.addEventListener('keyup', up);
    window.addEventListener('blur', blur);
    return () => {
      window.removeEventListener('keydown', down);
      window.removeEventListener('keyup', up);
      window.removeEventListener('blur', blur);
    };
  }, [ptt]);

  const inRoom = state !== null && (state.phase === 'joined' || state.phase === 'reconnecting' || state.phase === 'connecting');
  useEffect(() => {
    if (!inRoom) return;
    const t = window.setInterval(() => {
      void client.current?.localLevel().then((l) => setMyLevel(Math.sqrt(l) * 100));
    }, 250);
    return () => window.clearInterval(t);
  }, [inRoom]);

  const openMic = async (id: string): Promise<MediaStreamTrack | null> => {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: id ? { deviceId: { exact: id } } : true });
      void listMics(); /* labels are given once allowed */
      return s.getAudioTracks()[0] ?? null;
    } catch (e) {
      setProblem(micWords(e));
      return null;
    }
  };

  const join = async (e: Event) => {
    e.preventDefault();
    setProblem(null);
    if (!room || !token) return;
    const c = cfg.current ?? (await apiCall<Config>('GET', '/api/config').catch(() => null));
    cfg.current = c;
    const url = c ? signalingUrl(c) : null;
    if (!url) {
      setProblem('Voice rooms are not running on this server.');
      return;
    }
    const track = await openMic(micId);
    if (!track) return;
    mic.current?.stop();
    mic.current = track;
    track.enabled = live;
    client.current = new VoiceClient({ wsUrl: url, room, token, display: display.trim(), mic: track, onChange: setState });
    if (!live) client.current.setMuted(true);
    (window as unknown as { kibitkaVoice: unknown }).kibitkaVoice = client.current;
  };

  const leave = () => {
    client.current?.leave();
    mic.current?.stop();
    mic.current = null;
  };

  const pickMic = async (id: string) => {
    setMicId(id);
    if (!client.current || !inRoom) return;
    const track = await openMic(id);
    if (!track) return;
    track.enabled = live;
    mic.current?.stop();
    mic.current = track;
    await client.current.replaceMic(track);
  };

  if (!room) {
    return (
      <section class="panel">
        <h1>Voice room</h1>
        <p class="error">This address names no room.</p>
      </section>
    );
  }

  const members = state?.members ?? [];
  const me = state?.id;
  return (
    <div class="voice">
      <h1 class="v-title">
        Voice room: <span class="v-room">{room}</span>
      </h1>
      <div class="v-grid">
        <section class="panel" aria-labelledby="v-you">
          <h2 id="v-you">You</h2>
          {!token && (
            <p class="error" role="alert" data-testid="no-token">
              To join, <a href="/">sign in</a> (public rooms) or open the join link you were given.
            </p>
          )}
          <form class="stack" onSubmit={(e) => void join(e)}>
            <label for="v-display">Display name</label>
            <input id="v-display" maxLength={64} value={display} disabled={inRoom} autoComplete="nickname"
              onInput={(e) => setDisplay((e.target as HTMLInputElement).value)} />
            <label for="v-mic">Microphone</label>
            <select id="v-mic" value={micId} onChange={(e) => void pickMic((e.target as HTMLSelectElement).value)}>
              <option value="">Default microphone</option>
              {mics.filter((d) => d.deviceId && d.deviceId !== 'default').map((d, i) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.label || `Microphone ${i + 1}`}
                </option>
              ))}
            </select>
            <label class="choice">
              <input type="checkbox" checked={ptt} onChange={(e) => setPtt((e.target as HTMLInputElement).checked)} data-testid="ptt" />
              Push to talk (hold Space)
            </label>
            {!inRoom && (
              <button type="submit" disabled={!token || display.trim() === ''} data-testid="join">
                Join
              </button>
            )}
          </form>
          {inRoom && (
            <div class="v-buttons">
              <button type="button" class="secondary" aria-pressed={muted} onClick={() => setMuted(!muted)} data-testid="mute">
                {muted ? 'Unmute' : 'Mute'}
              </button>
              <button type="button" class="stop" onClick={leave} data-testid="leave">
                Leave
              </button>
            </div>
          )}
          {inRoom && (
            <p class="v-me">
              <Meter level={live ? myLevel : 0} label="Your microphone level" />
              <span data-testid="talk-state">{live ? (ptt ? 'Talking' : 'Microphone on') : muted ? 'Muted' : 'Hold Space to talk'}</span>
            </p>
          )}
          <p class="status" role="status" data-testid="voice-status" data-phase={state?.phase ?? 'idle'}>
            {state ? PHASE[state.phase] : 'Not joined yet.'}
            {state?.phase === 'reconnecting' && state.retryIn !== null ? ` (next try in ${state.retryIn} s)` : ''}
          </p>
          {(problem ?? state?.problem) && (
            <p class="error" role="alert" data-testid="voice-problem">
              {problem ?? state?.problem}
            </p>
          )}
        </section>
        <section class="panel" aria-labelledby="v-who">
          <h2 id="v-who">In the room</h2>
          {!inRoom ? (
            <p class="muted">Join to see who is here.</p>
          ) : (
            <ul class="v-people" data-testid="participants">
              <li class="v-person" data-me="true">
                <span class="v-name">{display.trim()}</span> <span class="muted">(you)</span>
                {!live && <span class="v-tag">muted</span>}
              </li>
              {members.map((m) => {
                const speaking = m.level >= SPEAKING_LEVEL && !m.muted;
                return (
                  <li key={m.id} class="v-person" data-testid="participant" data-id={m.id} data-muted={String(m.muted)}
                    data-speaking={String(speaking)}>
                    <span class="v-name">{m.display || 'Someone'}</span>
                    {m.muted && <span class="v-tag">muted</span>}
                    {speaking && <span class="v-tag v-speaking">speaking</span>}
                    <Meter level={(m.level * 100) / 127} label={`Level of ${m.display || 'someone'}`} />
                  </li>
                );
              })}
              {members.length === 0 && <li class="muted">Nobody else yet.</li>}
            </ul>
          )}
          {me && <p class="muted v-id">Your id in the room: {me}</p>}
        </section>
      </div>
    </div>
  );
}

mount(
  <Layout page="voice">
    <VoicePage />
  </Layout>,
);
