// "/watch/<stream>": LL-HLS with hls.js in low-latency mode (Safari's own HLS where MSE is
// missing), a quality menu, the live latency, "go to live", the viewer count, and what happens
// when the stream is not live or ends: it says so and offers the stream's last public recording
// (its VOD playlist, in the same player). The stream's name comes from the URL and is only ever
// rendered as text.
import Hls from 'hls.js';
import type { Level } from 'hls.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { lastRecording, liveNow } from './api';
import type { LiveStream, PublicRecording } from './api';
import { bitrate, duration, pathName, since, when } from './format';
import { Layout, mount } from './ui';

const POLL_MS = 5000;
/* Behind the live edge by more than this past the player's own target: offer "go to live". */
const BEHIND_S = 2.5;

type Phase = 'loading' | 'offline' | 'live' | 'ended' | 'recording' | 'unsupported' | 'error';

interface Rung {
  index: number;
  label: string;
}

function rungLabel(l: Level): string {
  const size = l.height ? `${l.height}p` : 'audio only';
  return l.bitrate ? `${size} · ${bitrate(l.bitrate)}` : size;
}

/* The player: hls.js where MSE exists, else the browser's own HLS (Safari, iOS). */
interface Player {
  destroy(): void;
  latency(): number | null;
  target(): number | null;
  goLive(): void;
  setLevel(i: number): void;
}

function hlsPlayer(video: HTMLVideoElement, url: string, on: {
  levels(r: Rung[]): void;
  level(i: number): void;
  fatal(msg: string): void;
}, live = true): Player {
  // maxLiveSyncPlaybackRate: hls.js joins at a keyframe, up to a GOP behind its target
  // latency (PART-HOLD-BACK), and at its default of 1 it never catches up: 3.2-3.7 s behind
  // live with 0.5 s parts. At up to 1.1x it converges on the target (bench/player_latency.mjs).
  const hls = new Hls(live ? { lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.1 } : {});
  let recovered = 0;
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
    on.levels(d.levels.map((l, index) => ({ index, label: rungLabel(l) })));
    void video.play().catch(() => undefined);
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => on.level(d.level));
  hls.on(Hls.Events.ERROR, (_e, d) => {
    if (!d.fatal) return;
    if (d.type === Hls.ErrorTypes.MEDIA_ERROR && recovered++ < 3) hls.recoverMediaError();
    else on.fatal(d.details);
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  return {
    destroy: () => hls.destroy(),
    latency: () => (Number.isFinite(hls.latency) && hls.latency > 0 ? hls.latency : null),
    target: () => hls.targetLatency,
    goLive: () => {
      const edge = hls.liveSyncPosition;
      if (edge !== null && edge !== undefined) video.currentTime = edge;
      void video.play().catch(() => undefined);
    },
    setLevel: (i) => {
      hls.currentLevel = i; /* -1: automatic */
    },
  };
}

function nativePlayer(video: HTMLVideoElement, url: string): Player {
  video.src = url;
  void video.play().catch(() => undefined);
  const v = video as HTMLVideoElement & { getStartDate?: () => Date };
  return {
    destroy: () => {
      video.removeAttribute('src');
      video.load();
    },
    latency: () => {
      const start = v.getStartDate?.().getTime();
      return start && !Number.isNaN(start) ? (Date.now() - start) / 1000 - video.currentTime : null;
    },
    target: () => null,
    goLive: () => {
      const s = video.seekable;
      if (s.length) video.currentTime = Math.max(0, s.end(s.length - 1) - 1);
      void video.play().catch(() => undefined);
    },
    setLevel: () => undefined,
  };
}

function Watch({ name }: { name: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const player = useRef<Player | null>(null);
  const [phase, setPhase] = useState<Phase>('loading');
  const phaseRef = useRef<Phase>('loading');
  const go = (p: Phase) => {
    phaseRef.current = p;
    setPhase(p);
  };
  const [info, setInfo] = useState<LiveStream | null>(null);
  const [rungs, setRungs] = useState<Rung[]>([]);
  const [choice, setChoice] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [latency, setLatency] = useState<number | null>(null);
  const [behind, setBehind] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [rec, setRec] = useState<PublicRecording | null>(null);
  const native = !Hls.isSupported();

  /* The last public recording, in the same player (VOD: no low-latency mode). */
  const playRecording = (r: PublicRecording) => {
    const v = video.current;
    if (!v) return;
    stop();
    setProblem(null);
    setRungs([]);
    if (!native) {
      player.current = hlsPlayer(v, r.playlist_url, {
        levels: () => undefined,
        level: () => undefined,
        fatal: (msg) => {
          stop();
          setProblem(msg);
          go('error');
        },
      }, false);
    } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
      player.current = nativePlayer(v, r.playlist_url);
    } else {
      go('unsupported');
      return;
    }
    go('recording');
  };

  const start = (s: LiveStream) => {
    const v = video.current;
    if (!v) return;
    stop();
    setProblem(null);
    if (!native) {
      player.current = hlsPlayer(v, s.hls_url, {
        levels: setRungs,
        level: setPlaying,
        fatal: (msg) => {
          stop();
          setProblem(msg);
          go('error');
        },
      });
    } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
      player.current = nativePlayer(v, s.hls_url);
    } else {
      go('unsupported');
      return;
    }
    go('live');
  };
  const stop = () => {
    player.current?.destroy();
    player.current = null;
  };

  /* What is live, every 5 s: starts the player when the stream goes live, says when it ends. */
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const poll = async () => {
      try {
        const s = (await liveNow()).find((l) => l.name === name) ?? null;
        if (stopped) return;
        setInfo(s);
        const p = phaseRef.current;
        if (s && p !== 'live' && p !== 'unsupported') start(s);
        else if (!s && p === 'live') go('ended');
        else if (!s && p === 'loading') go('offline');
        /* not live: the last public recording, if the owner made one public (asked again on
         * each poll: it may become ready or public meanwhile; kept while it plays) */
        if (!s && phaseRef.current !== 'recording') {
          const r = await lastRecording(name);
          if (!stopped) setRec(r);
        }
      } catch {
        /* the server is away for a moment: keep what is shown, try again */
      }
      if (!stopped) timer = window.setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
      stop();
    };
  }, [name]);

  /* The latency, once a second. */
  useEffect(() => {
    const t = window.setInterval(() => {
      const p = player.current;
      const l = p ? p.latency() : null;
      setLatency(l);
      const target = p?.target() ?? 3;
      setBehind(l !== null && l > target + BEHIND_S);
    }, 1000);
    return () => clearInterval(t);
  }, []);

  const live = phase === 'live';
  const auto = rungs.find((r) => r.index === playing);
  return (
    <article class="watch">
      <h1 class="stream-name" data-testid="stream-name">
        {name}
      </h1>
      <p class="status" role="status" data-testid="status" data-phase={phase}>
        {phase === 'loading' && 'Looking for this stream…'}
        {phase === 'offline' && 'This stream is not live right now. This page starts playing when it goes live.'}
        {phase === 'live' && 'Live'}
        {phase === 'ended' && 'This stream has ended.'}
        {phase === 'recording' && 'This stream is not live. Playing its last recording.'}
        {phase === 'unsupported' && 'This browser cannot play HLS video.'}
        {phase === 'error' && `Playback failed (${problem ?? 'error'}); retrying while the stream is live.`}
      </p>
      <div class="player">
        <video
          ref={video}
          controls
          muted
          autoplay
          playsInline
          aria-label={phase === 'recording' ? `Last recording of ${name}` : `Live video of ${name}`}
          data-testid="video"
        />
      </div>
      <div class="controls" aria-label="Playback">
        <label class="field">
          <span>Quality</span>
          <select
            data-testid="quality"
            value={String(choice)}
            disabled={!live || native}
            onChange={(e) => {
              const i = Number((e.currentTarget as HTMLSelectElement).value);
              setChoice(i);
              player.current?.setLevel(i);
            }}
          >
            <option value="-1">{choice === -1 && auto ? `Auto (${auto.label})` : 'Auto'}</option>
            {rungs.map((r) => (
              <option key={r.index} value={String(r.index)}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <p class="fact" data-testid="latency">
          <span class="fact-label">Latency</span> {latency !== null && live ? `${latency.toFixed(1)} s` : '–'}
        </p>
        <p class="fact" data-testid="viewers">
          <span class="fact-label">Viewers</span> {info?.viewers ?? '–'}
        </p>
        <button type="button" data-testid="go-live" disabled={!live || !behind} onClick={() => player.current?.goLive()}>
          Go to live
        </button>
      </div>
      {rec && (phase === 'offline' || phase === 'ended' || phase === 'recording') && (
        <section class="panel recording-offer" aria-labelledby="rec-h" data-testid="last-recording">
          <h2 id="rec-h">Last recording</h2>
          <p>
            Recorded {when(rec.started_at)} · {duration(rec.duration_seconds)}
          </p>
          {phase !== 'recording' && (
            <button type="button" data-testid="play-recording" onClick={() => playRecording(rec)}>
              Play the last recording
            </button>
          )}
        </section>
      )}
      {info && phase === 'live' && (
        <p class="muted" data-testid="about">
          Live for {since(info.started_at)} · published by {info.owner ?? 'an open publish'}
        </p>
      )}
    </article>
  );
}

function NoStream() {
  return (
    <section class="panel">
      <h1>No stream named</h1>
      <p>
        The address should be <code>/watch/</code> followed by a stream's name. <a href="/">See what is live</a>.
      </p>
    </section>
  );
}

const name = pathName('/watch/');
if (name) document.title = `${name} · kibitka`; /* text, like every use of the name */
mount(<Layout page="watch">{name ? <Watch name={name} /> : <NoStream />}</Layout>);
