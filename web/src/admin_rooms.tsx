// /admin: voice rooms with who is in them (refreshed every 5 s), kick and server mute.
import { useState } from 'preact/hooks';
import * as A from './admin_api';
import type { Participant, Room } from './admin_api';
import { Confirm, ErrorLine, Section, sentence, usePoll, when } from './admin_ui';

type RoomNow = Room & { participants: Participant[] };

export function Rooms() {
  const [list, setList] = useState<RoomNow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    try {
      const rooms = await A.rooms();
      setList(await Promise.all(rooms.map((r) => A.room(r.name))));
      setError(null);
    } catch (e) {
      setError(sentence('load the voice rooms', e));
    }
  };
  usePoll(load, 5000);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      await load();
    } catch (e) {
      setError(sentence(what, e));
    }
  };
  return (
    <Section id="rooms" title="Voice rooms">
      <ErrorLine text={error} testid="rooms-error" />
      {list && list.length === 0 && <p class="muted">No voice rooms.</p>}
      {list && list.length > 0 && (
        <ul class="rooms">
          {list.map((r) => (
            <li key={r.name} class="room" data-room={r.name}>
              <h3>
                <a href={`/voice/${encodeURIComponent(r.name)}`}>{r.name}</a>{' '}
                <span class="muted">
                  {r.public ? 'public' : 'private'}, by {r.owner ?? '—'}
                </span>
              </h3>
              {r.participants.length === 0 ? (
                <p class="muted" data-testid={`room-empty-${r.name}`}>
                  Nobody is in this room.
                </p>
              ) : (
                <table class="grid">
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">User</th>
                      <th scope="col">State</th>
                      <th scope="col">Joined</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.participants.map((p) => (
                      <tr key={p.id}>
                        <td data-label="Name">{p.display}</td>
                        <td data-label="User">{p.user ?? 'guest'}</td>
                        <td data-label="State">{p.muted ? 'muted' : p.speaking ? 'speaking' : 'listening'}</td>
                        <td data-label="Joined">{when(p.joined_at)}</td>
                        <td data-label="Actions" class="actions">
                          <button type="button" class="plain" aria-label={`${p.muted ? 'Unmute' : 'Mute'} ${p.display}`} onClick={() => void act(`${p.muted ? 'unmute' : 'mute'} ${p.display}`, () => A.mute(r.name, p.id, !p.muted))}>
                            {p.muted ? 'Unmute' : 'Mute'}
                          </button>
                          <Confirm label="Kick" question={`Disconnect ${p.display} from ${r.name}?`} yes="Yes, kick" onYes={() => act(`kick ${p.display}`, () => A.kick(r.name, p.id))} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}
