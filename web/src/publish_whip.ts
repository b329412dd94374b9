// The publishing half of /publish: a WHIP client (RFC 9725) with its connection indicator and
// its automatic retry. One Publisher publishes one MediaStream to one WHIP URL with one key;
// the page only renders the PubStatus it reports.
//
// - The offer has one sendonly transceiver per track; H.264 is put first with
//   setCodecPreferences where the browser has it (kibitka's source rendition is then passed
//   through, not re-encoded; a VP8 source goes through the ladder).
// - POST /whip[/<stream>] with `Authorization: Bearer <key>`: 201 with the answer and a Location
//   (the session), which Stop DELETEs. kibitka is ICE-lite and learns the browser's address
//   from its checks, so the offer is sent at once, without waiting for candidates.
// - 401 (a refused key), 403 (a key of another stream) and 409 (the stream is already live)
//   are said and end the attempt; a lost connection (ICE or DTLS failed or closed, or
//   "disconnected" for DISCONNECT_GRACE_MS) is retried after 2, 4, 8, 16, 30 s with a visible
//   countdown, MAX_TRIES times, the old session DELETEd first so its name is free again.
// - Once a second, getStats(): the outgoing bitrate (bytesSent of every outbound-rtp), the
//   packets the receiver reports lost and the round-trip time (remote-inbound-rtp, else the
//   selected ICE candidate pair's).

export const MAX_TRIES = 5;
const BACKOFF_S = [2, 4, 8, 16, 30];
const DISCONNECT_GRACE_MS = 4000;
const STATS_MS = 1000;

export type Phase = 'connecting' | 'live' | 'retrying' | 'stopped' | 'failed';
/* Why the publish is not live, for the page to word. */
export type Problem = 'refused' | 'wrong-stream' | 'busy' | 'lost' | 'gave-up' | 'other';

export interface PubStatus {
  phase: Phase;
  connection: string; /* RTCPeerConnectionState, or '–' between attempts */
  bps: number | null;
  lost: number | null;
  rttMs: number | null;
  codec: string | null;
  retryIn: number | null; /* seconds until the next try */
  tries: number; /* tries made since the connection was last up */
  problem: Problem | null;
  detail: string | null; /* the server's or the browser's words */
}

async function errorText(r: Response): Promise<string> {
  const t = (await r.text().catch(() => '')).trim();
  try {
    const j = JSON.parse(t) as { error?: { message?: string } };
    if (j.error?.message) return j.error.message;
  } catch {
    /* plain text, as kibitka's WHIP answers are */
  }
  return t.slice(0, 200) || `HTTP ${r.status}`;
}

function preferH264(t: RTCRtpTransceiver): void {
  if (typeof t.setCodecPreferences !== 'function' || !RTCRtpSender.getCapabilities) return;
  const all = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
  const h264 = all.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
  if (!h264.length) return;
  try {
    t.setCodecPreferences([...h264, ...all.filter((c) => c.mimeType.toLowerCase() !== 'video/h264')]);
  } catch {
    /* a browser that refuses the list publishes with its own order */
  }
}

export class Publisher {
  private pc: RTCPeerConnection | null = null;
  private location: string | null = null;
  private timers: number[] = [];
  private statsTimer = 0;
  private graceTimer = 0;
  private last: { bytes: number; at: number } | null = null;
  private ended = false;
  private s: PubStatus = {
    phase: 'connecting',
    connection: 'new',
    bps: null,
    lost: null,
    rttMs: null,
    codec: null,
    retryIn: null,
    tries: 0,
    problem: null,
    detail: null,
  };

  constructor(
    private readonly url: string,
    private readonly key: string,
    private readonly media: MediaStream,
    private readonly report: (s: PubStatus) => void,
  ) {}

  start(): void {
    void this.attempt();
  }

  /** Ends the publish: the session DELETEd (the stream ends at once), the connection closed. */
  async stop(): Promise<void> {
    this.ended = true;
    this.clearTimers();
    const loc = this.location;
    this.set({ phase: 'stopped', connection: 'closed', retryIn: null, problem: null, detail: null, bps: null });
    /* The DELETE first (the server then ends the publish for that reason, and logs it so), the
     * connection closed after its answer or 3 s. */
    if (loc) await Promise.race([this.remove(loc), new Promise((r) => setTimeout(r, 3000))]);
    this.teardown();
  }

  private set(p: Partial<PubStatus>): void {
    this.s = { ...this.s, ...p };
    this.report(this.s);
  }

  private clearTimers(): void {
    this.timers.forEach((t) => clearTimeout(t));
    this.timers = [];
    clearTimeout(this.graceTimer);
    clearInterval(this.statsTimer);
  }

  private teardown(): void {
    clearInterval(this.statsTimer);
    clearTimeout(this.graceTimer);
    const pc = this.pc;
    this.pc = null;
    this.location = null;
    this.last = null;
    if (pc) {
      pc.onconnectionstatechange = null;
      pc.close(); /* the tracks stay: they are the page's preview */
    }
  }

  private remove(loc: string): Promise<void> {
    /* keepalive: a DELETE sent as the page goes away (pagehide) still reaches the server. */
    return fetch(loc, { method: 'DELETE', headers: { Authorization: `Bearer ${this.key}` }, keepalive: true })
      .then(() => undefined)
      .catch(() => undefined);
  }

  private async attempt(): Promise<void> {
    this.set({ phase: this.s.tries ? 'retrying' : 'connecting', connection: 'new', retryIn: null });
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.pc = pc;
    for (const track of this.media.getTracks()) {
      const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [this.media] });
      if (track.kind === 'video') preferH264(t);
    }
    pc.onconnectionstatechange = () => this.onState(pc);
    let r: Response;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      r = await fetch(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${this.key}` },
        body: pc.localDescription?.sdp ?? '',
      });
    } catch (e) {
      if (this.pc === pc) this.lost(e instanceof Error ? e.message : String(e));
      return;
    }
    if (this.pc !== pc) return; /* stopped meanwhile */
    if (r.status !== 201) {
      const detail = await errorText(r);
      if (this.pc !== pc) return;
      if (r.status === 401) return this.fail('refused', detail);
      if (r.status === 403) return this.fail('wrong-stream', detail);
      /* A retry may find its own previous session still holding the name for a moment. */
      if (r.status === 409 && !this.s.tries) return this.fail('busy', detail);
      if (r.status === 409 || r.status === 503 || r.status >= 500) return this.lost(detail);
      return this.fail('other', `${r.status}: ${detail}`);
    }
    const loc = r.headers.get('Location');
    this.location = loc ? new URL(loc, new URL(this.url, location.href)).href : null;
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
    } catch (e) {
      if (this.pc === pc) this.fail('other', e instanceof Error ? e.message : String(e));
      return;
    }
    /* A DTLS close_notify from the server (the publish ended by an admin, a key rotated with
     * end_live) closes the transport without always failing the connection. */
    const dtls = pc.getSenders()[0]?.transport;
    if (dtls)
      dtls.onstatechange = () => {
        if (this.pc === pc && (dtls.state === 'closed' || dtls.state === 'failed')) this.lost(`DTLS ${dtls.state}`);
      };
    this.statsTimer = window.setInterval(() => void this.stats(pc), STATS_MS);
  }

  private onState(pc: RTCPeerConnection): void {
    if (this.pc !== pc || this.ended) return;
    const st = pc.connectionState;
    this.set({ connection: st });
    clearTimeout(this.graceTimer);
    if (st === 'connected') this.set({ phase: 'live', tries: 0, problem: null, detail: null });
    else if (st === 'failed') this.lost('the connection failed');
    else if (st === 'disconnected')
      this.graceTimer = window.setTimeout(() => {
        if (this.pc === pc && pc.connectionState === 'disconnected') this.lost('the connection was interrupted');
      }, DISCONNECT_GRACE_MS);
  }

  private fail(problem: Problem, detail: string): void {
    const loc = this.location;
    this.ended = true;
    this.clearTimers();
    this.teardown();
    if (loc) void this.remove(loc);
    this.set({ phase: 'failed', connection: '–', problem, detail, retryIn: null, bps: null });
  }

  /* The connection is gone: the old session deleted, a new try after the backoff. */
  private lost(detail: string): void {
    if (this.ended) return;
    const loc = this.location;
    this.teardown();
    if (loc) void this.remove(loc);
    if (this.s.tries >= MAX_TRIES) return this.fail('gave-up', detail);
    const wait = BACKOFF_S[Math.min(this.s.tries, BACKOFF_S.length - 1)];
    const tries = this.s.tries + 1;
    this.set({ phase: 'retrying', connection: '–', problem: 'lost', detail, tries, retryIn: wait, bps: null });
    for (let left = wait - 1; left >= 0; left--)
      this.timers.push(
        window.setTimeout(() => {
          if (this.ended) return;
          if (left > 0) this.set({ retryIn: left });
          else void this.attempt();
        }, (wait - left) * 1000),
      );
  }

  private async stats(pc: RTCPeerConnection): Promise<void> {
    let report: RTCStatsReport;
    try {
      report = await pc.getStats();
    } catch {
      return;
    }
    if (this.pc !== pc || this.ended) return;
    let bytes = 0;
    let lost: number | null = null;
    let rtt: number | null = null;
    let pairRtt: number | null = null;
    let codecId: string | null = null;
    const codecs = new Map<string, string>();
    report.forEach((s: Record<string, unknown> & { type: string; id: string }) => {
      if (s.type === 'outbound-rtp') {
        bytes += Number(s.bytesSent ?? 0) + Number(s.headerBytesSent ?? 0);
        if (s.kind === 'video' && typeof s.codecId === 'string') codecId = s.codecId;
      } else if (s.type === 'remote-inbound-rtp') {
        if (typeof s.packetsLost === 'number') lost = (lost ?? 0) + Math.max(0, s.packetsLost);
        if (typeof s.roundTripTime === 'number') rtt = Math.max(rtt ?? 0, s.roundTripTime);
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        if (typeof s.currentRoundTripTime === 'number') pairRtt = s.currentRoundTripTime;
      } else if (s.type === 'codec' && typeof s.mimeType === 'string') {
        codecs.set(s.id, s.mimeType.replace(/^video\//, ''));
      }
    });
    const now = performance.now();
    let bps: number | null = this.s.bps;
    if (this.last && now > this.last.at) bps = Math.max(0, ((bytes - this.last.bytes) * 8 * 1000) / (now - this.last.at));
    this.last = { bytes, at: now };
    const r = rtt ?? pairRtt;
    this.set({
      bps,
      lost,
      rttMs: r === null ? null : Math.round(r * 1000),
      codec: codecId ? (codecs.get(codecId) ?? null) : null,
    });
  }
}
