// The voice room's client (sfu/README.md has the protocol): one WebSocket for signaling, one
// RTCPeerConnection with the microphone (sendrecv) and the room's `slots` recvonly transceivers,
// each slot played in its own <audio>. A socket that closes unexpectedly, or a connection that
// fails, is rejoined with the `resume` key (same id and slots) with a backoff, for as long as the
// server keeps it (30 s); after that a fresh join, then giving up with a Rejoin button.

export interface Member {
  id: string;
  display: string;
  muted: boolean;
  level: number; /* the SFU's loudness 0-127 from `speakers`; 0 when not in a slot */
}

export type Phase = 'connecting' | 'joined' | 'reconnecting' | 'left' | 'failed';

export interface VoiceState {
  phase: Phase;
  id: string | null;
  members: Member[]; /* the others, in joining order */
  problem: string | null; /* a sentence for people */
  retryIn: number | null; /* seconds to the next attempt while reconnecting */
}

export interface JoinOptions {
  wsUrl: string;
  room: string;
  token: string;
  display: string;
  mic: MediaStreamTrack;
  onChange: (s: VoiceState) => void;
}

const GRACE_MS = 30000; /* the server keeps a dropped member this long (sfu_detach) */
/* The SFU's "speaking" loudness (sfu/sfu_priv.h SFU_SPEAKING_LOUDNESS). */
export const SPEAKING_LEVEL = 40;

interface Msg {
  type: string;
  [k: string]: unknown;
}

function member(p: Record<string, unknown>): Member {
  return { id: String(p.id), display: String(p.display ?? ''), muted: Boolean(p.muted), level: 0 };
}

export class VoiceClient {
  private ws: WebSocket | null = null;
  private pc: PeerConnectionLike | null = null;
  private resume: string | null = null;
  private droppedAt = 0;
  private attempt = 0;
  private timer: number | undefined;
  private audio: HTMLAudioElement[] = [];
  private muted = false;
  private state: VoiceState = { phase: 'connecting', id: null, members: [], problem: null, retryIn: null };

  constructor(private readonly o: JoinOptions) {
    window.addEventListener('online', this.online);
    this.open();
  }

  /* The network is back (a new Wi-Fi, a cable): try now rather than at the end of the backoff. */
  private readonly online = () => {
    if (this.state.phase !== 'reconnecting' || this.ws) return;
    window.clearTimeout(this.timer);
    this.attempt = 0;
    this.retry();
  };

  get peer(): RTCPeerConnection | null {
    return this.pc;
  }

  get snapshot(): VoiceState {
    return this.state;
  }

  private set(p: Partial<VoiceState>): void {
    this.state = { ...this.state, ...p };
    this.o.onChange(this.state);
  }

  private open(): void {
    const ws = new WebSocket(this.o.wsUrl);
    this.ws = ws;
    ws.onopen = () => {
      const join: Record<string, unknown> = { type: 'join', room: this.o.room, token: this.o.token, display: this.o.display };
      if (this.resume && Date.now() - this.droppedAt < GRACE_MS) join.resume = this.resume;
      ws.send(JSON.stringify(join));
    };
    ws.onmessage = (e) => {
      let m: Msg;
      try {
        m = JSON.parse(String(e.data)) as Msg;
      } catch {
        return;
      }
      void this.onMessage(m);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.state.phase === 'left' || this.state.phase === 'failed') return;
      if (e.code === 4000) {
        this.end('failed', `The server ended your place in the room${e.reason ? ` (${e.reason})` : ''}.`);
        return;
      }
      this.dropped();
    };
  }

  private async onMessage(m: Msg): Promise<void> {
    switch (m.type) {
      case 'joined': {
        this.resume = String(m.resume);
        this.attempt = 0;
        const list = Array.isArray(m.participants) ? (m.participants as Record<string, unknown>[]) : [];
        this.set({ phase: 'joined', id: String(m.id), members: list.map(member), problem: null, retryIn: null });
        await this.negotiate(Number(m.slots) || 0);
        return;
      }
      case 'answer':
        await this.pc?.setRemoteDescription({ type: 'answer', sdp: String(m.sdp) });
        return;
      case 'participant_joined': {
        const p = member((m.participant ?? {}) as Record<string, unknown>);
        this.set({ members: [...this.state.members.filter((x) => x.id !== p.id), p] });
        return;
      }
      case 'participant_left': {
        const id = typeof m.participant === 'string' ? m.participant : String((m.participant as { id?: string })?.id);
        this.set({ members: this.state.members.filter((x) => x.id !== id) });
        return;
      }
      case 'mute': {
        const id = String(m.participant);
        if (id === this.state.id) return;
        this.set({ members: this.state.members.map((x) => (x.id === id ? { ...x, muted: Boolean(m.muted) } : x)) });
        return;
      }
      case 'speakers': {
        const levels = new Map<string, number>();
        for (const s of (m.slots as { participant: string; level: number }[]) ?? []) levels.set(s.participant, s.level);
        this.set({ members: this.state.members.map((x) => ({ ...x, level: levels.get(x.id) ?? 0 })) });
        return;
      }
      case 'error': {
        const code = String(m.code);
        if (code === 'resume_expired' || code === 'already_connected') {
          this.resume = null; /* join afresh on the next attempt */
          return;
        }
        if (this.state.phase === 'connecting' || this.state.phase === 'reconnecting')
          this.end('failed', String(m.message || code));
        else this.set({ problem: String(m.message || code) });
        return;
      }
      default:
        return;
    }
  }

  private async negotiate(slots: number): Promise<void> {
    this.closePeer();
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver(this.o.mic, { direction: 'sendrecv' });
    for (let i = 0; i < slots; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.onicecandidate = (e) => {
      if (e.candidate && this.ws?.readyState === WebSocket.OPEN)
        this.ws.send(
          JSON.stringify({ type: 'trickle', candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }),
        );
    };
    pc.onconnectionstatechange = () => {
      if (this.pc === pc && pc.connectionState === 'failed' && this.state.phase === 'joined') {
        this.ws?.close(); /* the socket's close handler rejoins */
        this.dropped();
      }
    };
    for (const t of pc.getTransceivers().slice(1)) {
      const a = new Audio();
      a.autoplay = true;
      a.srcObject = new MediaStream([t.receiver.track]);
      void a.play().catch(() => {});
      this.audio.push(a);
    }
    await pc.setLocalDescription();
    this.ws?.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription?.sdp ?? '' }));
    if (this.muted) this.ws?.send(JSON.stringify({ type: 'mute', muted: true }));
  }

  private closePeer(): void {
    for (const a of this.audio) {
      a.pause();
      a.srcObject = null;
    }
    this.audio = [];
    this.pc?.close();
    this.pc = null;
  }

  /* The socket or the connection went: try again with the resume key, backing off. */
  private dropped(): void {
    if (this.state.phase === 'reconnecting' || this.state.phase === 'left' || this.state.phase === 'failed') return;
    if (this.state.phase === 'connecting') {
      this.end('failed', 'The voice server cannot be reached.');
      return;
    }
    this.droppedAt = Date.now();
    this.closePeer();
    this.ws = null;
    this.retry();
  }

  private retry(): void {
    const since = this.droppedAt ? Date.now() - this.droppedAt : 0;
    if (since > 2 * GRACE_MS) {
      this.end('failed', 'The connection to the room was lost and could not be made again.');
      return;
    }
    const delay = Math.min(1000 * 2 ** this.attempt, 8000);
    this.attempt++;
    this.set({ phase: 'reconnecting', retryIn: Math.round(delay / 1000), problem: 'The connection was lost: rejoining…' });
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      const before = this.ws;
      this.open();
      const ws = this.ws as WebSocket | null;
      if (ws && ws !== before) {
        ws.addEventListener('close', () => {
          if (this.state.phase === 'reconnecting') this.retry();
        });
      }
    }, delay);
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'mute', muted }));
  }

  async replaceMic(track: MediaStreamTrack): Promise<void> {
    this.o.mic = track;
    const sender = this.pc?.getTransceivers()[0]?.sender;
    if (sender) await sender.replaceTrack(track);
  }

  /** The microphone's level 0-1 as Chromium measures it (media-source audioLevel). */
  async localLevel(): Promise<number> {
    if (!this.pc) return 0;
    let level = 0;
    (await this.pc.getStats()).forEach((s: { type: string; kind?: string; audioLevel?: number }) => {
      if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') level = s.audioLevel;
    });
    return level;
  }

  leave(): void {
    window.clearTimeout(this.timer);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'leave' }));
    this.end('left', null);
  }

  private end(phase: Phase, problem: string | null): void {
    window.clearTimeout(this.timer);
    window.removeEventListener('online', this.online);
    this.closePeer();
    const ws = this.ws;
    this.ws = null;
    if (ws && phase !== 'left') ws.close();
    this.set({ phase, problem, retryIn: null, members: [] });
  }
}

type PeerConnectionLike = RTCPeerConnection;

/** Where the signaling is: GET /api/config (api/README.md). */
export function signalingUrl(cfg: { ws_port: number | null; ws_path: string; proxied: boolean }): string | null {
  const secure = location.protocol === 'https:';
  if (cfg.proxied || secure) return `${secure ? 'wss' : 'ws'}://${location.host}${cfg.ws_path}`;
  if (!cfg.ws_port) return null;
  return `ws://${location.hostname}:${cfg.ws_port}${cfg.ws_path}`; /* an IPv6 hostname has its [] */
}
