// /admin: the live streams with small live charts (bitrate, viewers, transcode lag; uPlot, a
// ring of the last two minutes polled every 2 s) and the server's health (GET /api/server).
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as A from './admin_api';
import type { LiveRow, ServerStatus } from './admin_api';
import { ErrorLine, Section, bytes, seconds, sentence, usePoll } from './admin_ui';
import { bitrate, since } from './format';

export const POLL_MS = 2000;
export const RING = 60; /* points: 2 minutes at 2 s */

/** The last RING samples of one stream: times (unix s) and one column per figure. */
interface Ring {
  t: number[];
  kbps: number[];
  viewers: number[];
  lag: number[];
  lastBytes: number;
  lastAt: number;
}

function push(r: Ring, at: number, row: LiveRow): void {
  /* the rate over our own interval, from the byte counter; the average until there are two */
  let bps = row.bitrate_bps;
  if (r.lastAt > 0 && at > r.lastAt && row.bytes_in >= r.lastBytes)
    bps = ((row.bytes_in - r.lastBytes) * 8) / ((at - r.lastAt) / 1000);
  r.lastBytes = row.bytes_in;
  r.lastAt = at;
  r.t.push(at / 1000);
  r.kbps.push(bps / 1000);
  r.viewers.push(row.viewers);
  r.lag.push(row.transcode_lag_seconds);
  for (const col of [r.t, r.kbps, r.viewers, r.lag]) while (col.length > RING) col.shift();
}

const COLOURS = { kbps: '#1f7ab8', viewers: '#2e8540', lag: '#b5651d' };

/** One small chart; data changes redraw it in place (no new canvas every 2 s). */
function Spark(props: { label: string; unit: string; t: number[]; y: number[]; colour: string; testid: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const width = () => Math.max(120, el.clientWidth);
    const u = new uPlot(
      {
        width: width(),
        height: 80,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
        axes: [
          { show: false },
          { size: 44, stroke: '#7a8490', grid: { stroke: 'rgba(128,128,128,0.25)' }, ticks: { show: false } },
        ],
        series: [{}, { stroke: props.colour, width: 2, fill: `${props.colour}22`, points: { show: false } }],
      },
      [props.t, props.y],
      el,
    );
    plot.current = u;
    const onResize = () => u.setSize({ width: width(), height: 80 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      u.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData([props.t.slice(), props.y.slice()]);
  }, [props.t.length, props.t[props.t.length - 1]]);
  const last = props.y.length ? props.y[props.y.length - 1] : 0;
  return (
    <figure class="spark">
      <figcaption>
        {props.label}: <strong data-testid={`${props.testid}-value`}>{props.unit === 'kbit/s' ? bitrate(last * 1000) : props.unit === 's' ? `${last.toFixed(2)} s` : String(last)}</strong>
      </figcaption>
      <div
        ref={box}
        class="spark-plot"
        role="img"
        aria-label={`${props.label} over the last ${Math.round((props.t.length * POLL_MS) / 1000)} seconds`}
        data-testid={props.testid}
        data-points={props.t.length}
      />
    </figure>
  );
}

/** Live streams (all for admins; `only` the user's own names otherwise). */
export function LiveCharts(props: { only: Set<string> | null }) {
  const rings = useRef(new Map<string, Ring>());
  const [rows, setRows] = useState<LiveRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [, setTick] = useState(0);
  const only = props.only;
  usePoll(
    async () => {
      try {
        const at = Date.now();
        const all = (await A.live()).filter((r) => !only || only.has(r.name));
        for (const r of all) {
          let ring = rings.current.get(r.name);
          if (!ring) rings.current.set(r.name, (ring = { t: [], kbps: [], viewers: [], lag: [], lastBytes: 0, lastAt: 0 }));
          push(ring, at, r);
        }
        for (const name of [...rings.current.keys()]) if (!all.some((r) => r.name === name)) rings.current.delete(name);
        setRows(all);
        setError(null);
        setTick((n) => n + 1);
      } catch (e) {
        setError(sentence('load the live streams', e));
      }
    },
    POLL_MS,
    [only ? [...only].sort().join(',') : '*'],
  );
  return (
    <Section id="live" title="Live now">
      <ErrorLine text={error} />
      {rows.length === 0 && <p class="muted">Nothing is live{only ? ' on your streams' : ''}.</p>}
      <ul class="live-list">
        {rows.map((r) => {
          const ring = rings.current.get(r.name);
          if (!ring) return null;
          return (
            <li key={r.name} class="live-card" data-testid={`live-${r.name}`}>
              <h3>
                <a href={`/watch/${encodeURIComponent(r.name)}`}>{r.name}</a>{' '}
                <span class="muted">
                  {r.owner ?? 'open publish'} · live for {since(r.started_at)}
                </span>
              </h3>
              <div class="sparks">
                <Spark label="Bitrate" unit="kbit/s" t={ring.t} y={ring.kbps} colour={COLOURS.kbps} testid={`chart-bitrate-${r.name}`} />
                <Spark label="Viewers" unit="" t={ring.t} y={ring.viewers} colour={COLOURS.viewers} testid={`chart-viewers-${r.name}`} />
                <Spark label="Transcode lag" unit="s" t={ring.t} y={ring.lag} colour={COLOURS.lag} testid={`chart-lag-${r.name}`} />
              </div>
            </li>
          );
        })}
      </ul>
    </Section>
  );
}

function Fig(props: { label: string; value: string; bad?: boolean; testid: string }) {
  return (
    <div class={props.bad ? 'bad' : undefined}>
      <dt>{props.label}</dt>
      <dd data-testid={props.testid}>{props.value}</dd>
    </div>
  );
}

/** The server's health, every 5 s. */
export function Health() {
  const [s, setS] = useState<ServerStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  usePoll(async () => {
    try {
      setS(await A.serverStatus());
      setError(null);
    } catch (e) {
      setError(sentence('load the server health', e));
    }
  }, 5000);
  return (
    <Section id="health" title="Server health">
      <ErrorLine text={error} />
      {s && (
        <dl class="health">
          <Fig label="Version" value={s.version} testid="h-version" />
          <Fig label="Up for" value={seconds(s.uptime_seconds)} testid="h-uptime" />
          <Fig label="Live streams" value={String(s.live_streams)} testid="h-live" />
          <Fig label="Recording now" value={String(s.recordings_active)} testid="h-recording" />
          <Fig label="Upload queue" value={`${s.upload_queue_chunks} chunks`} bad={s.upload_queue_chunks > 10} testid="h-queue" />
          <Fig label="Oldest waiting" value={seconds(s.upload_oldest_pending_seconds)} bad={s.upload_oldest_pending_seconds > 60} testid="h-oldest" />
          <Fig label="Chunks uploaded" value={String(s.uploads_total)} testid="h-uploads" />
          <Fig label="Upload failures" value={String(s.upload_failures_total)} bad={s.upload_failures_total > 0} testid="h-upload-failures" />
          <Fig label="Spool" value={bytes(s.spool_bytes)} testid="h-spool" />
          <Fig
            label="Storage errors"
            value={`${s.storage_errors_total}${s.storage_access_denied ? ' (access denied now)' : ''}`}
            bad={s.storage_errors_total > 0 || s.storage_access_denied}
            testid="h-storage-errors"
          />
          <Fig label="Disk" value={s.recorder_disk_full ? 'full: recording paused' : 'ok'} bad={s.recorder_disk_full} testid="h-disk" />
          <Fig label="Webhooks delivered" value={String(s.webhook_deliveries_total)} testid="h-webhooks" />
          <Fig
            label="Webhook failures"
            value={`${s.webhook_failures_total} failed, ${s.webhook_dropped_total} dropped`}
            bad={s.webhook_failures_total + s.webhook_dropped_total > 0}
            testid="h-webhook-failures"
          />
        </dl>
      )}
    </Section>
  );
}
