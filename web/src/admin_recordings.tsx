// /admin: recordings, filtered by stream and date; played in the page through their signed VOD
// playlist with hls.js (loaded only when something is played), chunks to download, public or
// not (a public one is offered on /watch/<stream> once the stream has ended), delete.
import type HlsType from 'hls.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import * as A from './admin_api';
import type { Recording, RecordingDetail, RecordingFilter, StreamRow } from './admin_api';
import { Confirm, ErrorLine, Section, bytes, seconds, sentence, when } from './admin_ui';

/** "2026-01-02" from a date input -> the RFC 3339 start of that day, local time, in UTC. */
function dayStart(day: string, plusDays = 0): string | undefined {
  if (!day) return undefined;
  const d = new Date(`${day}T00:00:00`);
  if (Number.isNaN(d.getTime())) return undefined;
  d.setDate(d.getDate() + plusDays);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function Player(props: { rec: RecordingDetail; onClose: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const v = video.current;
    if (!v) return undefined;
    let hls: HlsType | null = null;
    let gone = false;
    void (async () => {
      const { default: Hls } = await import('hls.js');
      if (gone) return;
      if (Hls.isSupported()) {
        hls = new Hls();
        hls.on(Hls.Events.ERROR, (_e, d) => {
          if (d.fatal) setError(`The recording cannot be played: ${d.details}.`);
        });
        // "Play" starts playback here, once the source is attached: a play() made on the
        // element before hls.js attaches it would be undone by that attach (the new load
        // aborts it), and the recording would sit paused at 0.
        hls.on(Hls.Events.MANIFEST_PARSED, () => void v.play().catch(() => undefined));
        hls.loadSource(props.rec.playlist_url);
        hls.attachMedia(v);
      } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
        v.src = props.rec.playlist_url;
        void v.play().catch(() => undefined);
      } else {
        setError('This browser cannot play HLS.');
      }
    })();
    return () => {
      gone = true;
      hls?.destroy();
    };
  }, [props.rec.id]);
  return (
    <div class="vod" data-testid="vod-player">
      <h3>
        {props.rec.stream}, {when(props.rec.started_at)}
      </h3>
      <video ref={video} controls playsInline aria-label={`Recording of ${props.rec.stream}`} data-testid="vod-video" />
      <ErrorLine text={error} />
      <button type="button" class="plain" onClick={props.onClose}>
        Close the player
      </button>
    </div>
  );
}

function Chunks(props: { rec: RecordingDetail }) {
  const up = props.rec.chunk_list.filter((c) => c.url);
  if (up.length === 0) return <p class="muted">No chunk is in the store yet.</p>;
  return (
    <ul class="chunks" aria-label={`Chunks of the recording of ${props.rec.stream}`}>
      {up.map((c) => (
        <li key={c.seq}>
          <a href={c.url} download={`${props.rec.stream}-${props.rec.id.slice(0, 8)}-${c.seq}.mp4`} data-testid={`chunk-${c.seq}`}>
            Chunk {c.seq}
          </a>{' '}
          <span class="muted">
            {seconds(c.duration_seconds)}, {bytes(c.bytes)}
          </span>
        </li>
      ))}
    </ul>
  );
}

export function Recordings(props: { streams: StreamRow[]; admin: boolean }) {
  const [filter, setFilter] = useState<RecordingFilter>({});
  const [list, setList] = useState<Recording[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [playing, setPlaying] = useState<RecordingDetail | null>(null);
  const [open, setOpen] = useState<RecordingDetail | null>(null);
  const load = async (f: RecordingFilter = filter) => {
    try {
      const r = await A.recordings(f);
      setList(r.recordings);
      setTotal(r.total);
      setError(null);
    } catch (e) {
      setError(sentence('load the recordings', e));
    }
  };
  useEffect(() => void load(), []);
  const apply = (e: Event) => {
    e.preventDefault();
    const d = new FormData(e.currentTarget as HTMLFormElement);
    const f: RecordingFilter = {
      stream: String(d.get('stream') || '') || undefined,
      from: dayStart(String(d.get('from') || '')),
      to: dayStart(String(d.get('to') || ''), 1),
    };
    setFilter(f);
    void load(f);
  };
  const detail = async (id: string, then: (r: RecordingDetail) => void) => {
    try {
      then(await A.recording(id));
    } catch (e) {
      setError(sentence('open the recording', e));
    }
  };
  return (
    <Section id="recordings" title={props.admin ? 'Recordings' : 'Your recordings'}>
      <form class="inline-form" onSubmit={apply} aria-label="Filter the recordings">
        <div class="field-col">
          <label for="rf-stream">Stream</label>
          <select id="rf-stream" name="stream">
            <option value="">every stream</option>
            {props.streams.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field-col">
          <label for="rf-from">From (day)</label>
          <input id="rf-from" name="from" type="date" />
        </div>
        <div class="field-col">
          <label for="rf-to">To (day, included)</label>
          <input id="rf-to" name="to" type="date" />
        </div>
        <button type="submit">Filter</button>
        <button type="button" class="plain" onClick={() => void load()}>
          Refresh
        </button>
      </form>
      <ErrorLine text={error} testid="recordings-error" />
      {playing && <Player rec={playing} onClose={() => setPlaying(null)} />}
      {list && list.length === 0 && <p class="muted">No recordings match.</p>}
      {list && list.length > 0 && (
        <>
          <p class="muted">
            {total} recording{total === 1 ? '' : 's'}
            {total > list.length ? `, the newest ${list.length} shown` : ''}.
          </p>
          <table class="grid">
            <thead>
              <tr>
                <th scope="col">Stream</th>
                {props.admin && <th scope="col">User</th>}
                <th scope="col">Started</th>
                <th scope="col">Length</th>
                <th scope="col">State</th>
                <th scope="col">Public</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <tr key={r.id} data-recording={r.id}>
                  <td data-label="Stream">{r.stream}</td>
                  {props.admin && <td data-label="User">{r.user}</td>}
                  <td data-label="Started">{when(r.started_at)}</td>
                  <td data-label="Length">
                    {seconds(r.duration_seconds)}, {bytes(r.bytes)}
                  </td>
                  <td data-label="State">
                    {r.state}
                    {r.incomplete ? ' (incomplete)' : ''}
                  </td>
                  <td data-label="Public">
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={r.public}
                        data-testid={`public-${r.id}`}
                        aria-label={`Public: anyone may play the recording of ${r.stream} from ${when(r.started_at)} on its watch page`}
                        onChange={async (e) => {
                          const on = (e.currentTarget as HTMLInputElement).checked;
                          try {
                            await A.setRecordingPublic(r.id, on);
                            await load();
                          } catch (err) {
                            setError(sentence(`make the recording of ${r.stream} ${on ? 'public' : 'private'}`, err));
                            await load();
                          }
                        }}
                      />
                      <span aria-hidden="true">{r.public ? 'yes' : 'no'}</span>
                    </label>
                  </td>
                  <td data-label="Actions" class="actions">
                    <button type="button" disabled={r.chunks_uploaded === 0} aria-label={`Play the recording of ${r.stream} from ${when(r.started_at)}`} onClick={() => void detail(r.id, setPlaying)}>
                      Play
                    </button>
                    <button
                      type="button"
                      class="plain"
                      aria-expanded={open?.id === r.id}
                      aria-label={`Chunks of the recording of ${r.stream} from ${when(r.started_at)}`}
                      onClick={() => (open?.id === r.id ? setOpen(null) : void detail(r.id, setOpen))}
                    >
                      Chunks
                    </button>
                    <Confirm
                      label="Delete"
                      question={`Delete this recording of ${r.stream}?`}
                      yes="Yes, delete"
                      testid={`delete-recording-${r.id}`}
                      onYes={async () => {
                        try {
                          await A.deleteRecording(r.id);
                          if (playing?.id === r.id) setPlaying(null);
                          await load();
                        } catch (e) {
                          setError(sentence(`delete the recording of ${r.stream}`, e));
                        }
                      }}
                    />
                    {open?.id === r.id && <Chunks rec={open} />}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Section>
  );
}
