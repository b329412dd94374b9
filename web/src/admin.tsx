// /admin: the console. Admins see everything (health, users, every stream, recording and room);
// a plain user sees their own streams, recordings and rooms. Sections: admin_*.tsx.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, currentSession, logout } from './api';
import type { Session } from './api';
import * as A from './admin_api';
import type { StreamRow, UserRow } from './admin_api';
import { Health, LiveCharts } from './admin_live';
import { Recordings } from './admin_recordings';
import { Rooms } from './admin_rooms';
import { Confirm, ErrorLine, Section, sentence, usePoll, when } from './admin_ui';
import './admin.css';
import { SignInFields, useSignIn } from './signin';
import { Layout, mount } from './ui';

function SignIn(props: { onSession: (s: Session) => void }) {
  const { busy, error, submit } = useSignIn(props.onSession, (err) => sentence('sign in', err));
  return (
    <section class="panel narrow" aria-labelledby="signin-h">
      <h1 id="signin-h">Admin: sign in</h1>
      <form class="stack" onSubmit={submit}>
        <SignInFields busy={busy} error={error} />
      </form>
    </section>
  );
}

/** A stream key, shown once: masked until "Show", with a copy button. */
function KeyBox(props: { stream: string; secret: string; onDone: () => void }) {
  const [shown, setShown] = useState(false);
  const [copied, setCopied] = useState<string | null>(null);
  const id = `key-${props.stream}`;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied('Copied to the clipboard.');
    } catch {
      const input = document.getElementById(id) as HTMLInputElement | null;
      input?.select();
      setCopied('The clipboard is not available here: the key is selected, copy it with Ctrl+C.');
    }
  };
  return (
    <div class="keybox" data-testid="new-key" role="group" aria-labelledby={`${id}-l`}>
      <label id={`${id}-l`} for={id}>
        New key for {props.stream} (shown only this once)
      </label>
      <div class="row">
        <input id={id} class="key" type={shown ? 'text' : 'password'} readOnly value={props.secret} autocomplete="off" />
        <button type="button" class="plain" aria-pressed={shown} onClick={() => setShown(!shown)}>
          {shown ? 'Hide' : 'Show'}
        </button>
        <button type="button" onClick={copy} data-testid="copy-key">
          Copy
        </button>
        <button type="button" class="plain" onClick={props.onDone}>
          Done
        </button>
      </div>
      <p class="muted" aria-live="polite">
        {copied ?? 'Publish to rtmp://HOST/live/<key> or with WHIP; keep the key secret.'}
      </p>
    </div>
  );
}

function Users(props: { me: string }) {
  const [list, setList] = useState<UserRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reset, setReset] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setList(await A.users());
    } catch (e) {
      setError(sentence('load the users', e));
    }
  }, []);
  useEffect(() => void load(), [load]);
  const act = async (what: string, fn: () => Promise<unknown>, done?: string) => {
    setError(null);
    setNote(null);
    try {
      await fn();
      if (done) setNote(done);
      return true;
    } catch (e) {
      setError(sentence(what, e));
      return false;
    } finally {
      await load(); /* a refused role change shows the role the user still has */
    }
  };
  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const d = new FormData(form);
    const name = String(d.get('name'));
    if (await act(`create the user “${name}”`, () => A.createUser(name, String(d.get('password')), String(d.get('role'))), `User ${name} created.`))
      form.reset();
  };
  return (
    <Section id="users" title="Users">
      <form class="inline-form" onSubmit={create} aria-label="Create a user">
        <div class="field-col">
          <label for="nu-name">Name</label>
          <input id="nu-name" name="name" required autocomplete="off" aria-describedby="nu-hint" />
        </div>
        <div class="field-col">
          <label for="nu-pw">Password</label>
          <input id="nu-pw" name="password" type="password" required minLength={8} autocomplete="new-password" />
        </div>
        <div class="field-col">
          <label for="nu-role">Role</label>
          <select id="nu-role" name="role">
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
        </div>
        <button type="submit">Create user</button>
        <p id="nu-hint" class="muted hint">
          Names: lowercase letters, digits, - and _; passwords: 8 characters or more.
        </p>
      </form>
      <ErrorLine text={error} testid="users-error" />
      {note && (
        <p class="ok" role="status">
          {note}
        </p>
      )}
      {list && (
        <table class="grid">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((u) => (
              <tr key={u.name} data-user={u.name}>
                <td data-label="Name">
                  {u.name}
                  {u.name === props.me ? ' (you)' : ''}
                </td>
                <td data-label="Role">
                  <select
                    aria-label={`Role of ${u.name}`}
                    value={u.role}
                    onChange={(e) => {
                      const role = (e.currentTarget as HTMLSelectElement).value;
                      void act(`change the role of ${u.name}`, () => A.patchUser(u.name, { role }), `${u.name} is now ${role === 'admin' ? 'an admin' : 'a user'}.`);
                    }}
                  >
                    <option value="user">user</option>
                    <option value="admin">admin</option>
                  </select>
                </td>
                <td data-label="Created">{when(u.created_at)}</td>
                <td data-label="Actions" class="actions">
                  {reset === u.name ? (
                    <form
                      class="row"
                      onSubmit={async (e) => {
                        e.preventDefault();
                        const pw = String(new FormData(e.currentTarget as HTMLFormElement).get('password'));
                        if (await act(`reset the password of ${u.name}`, () => A.patchUser(u.name, { password: pw }), `The password of ${u.name} was changed.`))
                          setReset(null);
                      }}
                    >
                      <label class="sr" for={`pw-${u.name}`}>
                        New password for {u.name}
                      </label>
                      <input id={`pw-${u.name}`} name="password" type="password" required minLength={8} autocomplete="new-password" placeholder="new password" />
                      <button type="submit">Save</button>
                      <button type="button" class="plain" onClick={() => setReset(null)}>
                        Cancel
                      </button>
                    </form>
                  ) : (
                    <button type="button" class="plain" aria-label={`Reset the password of ${u.name}`} onClick={() => setReset(u.name)}>
                      Reset password
                    </button>
                  )}
                  <Confirm
                    label="Delete"
                    question={`Delete ${u.name} with their streams and sessions?`}
                    yes="Yes, delete"
                    testid={`delete-user-${u.name}`}
                    onYes={() => void act(`delete the user ${u.name}`, () => A.deleteUser(u.name), `User ${u.name} deleted.`)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function Streams(props: { list: StreamRow[] | null; admin: boolean; reload: () => Promise<void>; error: string | null }) {
  const [error, setError] = useState<string | null>(null);
  const [key, setKey] = useState<{ stream: string; key: string } | null>(null);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await props.reload();
      return true;
    } catch (e) {
      setError(sentence(what, e));
      return false;
    }
  };
  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const d = new FormData(form);
    const name = String(d.get('name'));
    if (
      await act(`create the stream “${name}”`, async () => {
        const s = await A.createStream(name, d.get('record') === 'on');
        setKey({ stream: s.name, key: s.key });
      })
    )
      form.reset();
  };
  return (
    <Section id="streams" title={props.admin ? 'Streams' : 'Your streams'}>
      <form class="inline-form" onSubmit={create} aria-label="Create a stream">
        <div class="field-col">
          <label for="ns-name">Stream name</label>
          <input id="ns-name" name="name" required autocomplete="off" />
        </div>
        <label class="check">
          <input type="checkbox" name="record" defaultChecked />
          Record
        </label>
        <button type="submit">Create stream</button>
      </form>
      <ErrorLine text={error ?? props.error} testid="streams-error" />
      {key && <KeyBox stream={key.stream} secret={key.key} onDone={() => setKey(null)} />}
      {props.list && props.list.length === 0 && <p class="muted">No streams yet.</p>}
      {props.list && props.list.length > 0 && (
        <table class="grid">
          <thead>
            <tr>
              <th scope="col">Name</th>
              {props.admin && <th scope="col">Owner</th>}
              <th scope="col">State</th>
              <th scope="col">Record</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {props.list.map((s) => (
              <tr key={s.name} data-stream={s.name}>
                <td data-label="Name">
                  <a href={`/watch/${encodeURIComponent(s.name)}`}>{s.name}</a>
                </td>
                {props.admin && <td data-label="Owner">{s.owner ?? '—'}</td>}
                <td data-label="State">{s.live ? <span class="live-tag">live</span> : 'offline'}</td>
                <td data-label="Record">
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={s.record}
                      aria-label={`Record ${s.name}`}
                      onChange={(e) => {
                        const on = (e.currentTarget as HTMLInputElement).checked;
                        void act(`turn recording ${on ? 'on' : 'off'} for ${s.name}`, () => A.setRecord(s.name, on));
                      }}
                    />
                    <span aria-hidden="true">{s.record ? 'on' : 'off'}</span>
                  </label>
                </td>
                <td data-label="Actions" class="actions">
                  <Confirm
                    label="Rotate key"
                    question={`Replace the key of ${s.name}? The old key stops working for new publishes.`}
                    yes="Yes, rotate"
                    testid={`rotate-${s.name}`}
                    onYes={() =>
                      void act(`rotate the key of ${s.name}`, async () => {
                        const r = await A.rotateKey(s.name, false);
                        setKey({ stream: r.name, key: r.key });
                      })
                    }
                  />
                  <Confirm
                    label="Delete"
                    question={`Delete the stream ${s.name}? A live publish on it ends.`}
                    yes="Yes, delete"
                    testid={`delete-stream-${s.name}`}
                    onYes={() => void act(`delete the stream ${s.name}`, () => A.deleteStream(s.name))}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function Console(props: { session: Session; onSignOut: () => void }) {
  const admin = props.session.user.role === 'admin';
  const [streams, setStreams] = useState<StreamRow[] | null>(null);
  const [streamsError, setStreamsError] = useState<string | null>(null);
  const reload = useCallback(async () => {
    try {
      setStreams(await A.streams());
      setStreamsError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) props.onSignOut();
      else setStreamsError(sentence('load the streams', e));
    }
  }, []);
  usePoll(reload, 5000); /* the live state and what others changed */
  const mine = streams ? new Set(streams.map((s) => s.name)) : null;
  return (
    <div class="admin">
      <div class="admin-head">
        <h1>{admin ? 'Admin' : 'Your streams and recordings'}</h1>
        <p data-testid="admin-who">
          Signed in as <strong>{props.session.user.name}</strong> ({props.session.user.role}).{' '}
          <button
            type="button"
            class="plain"
            onClick={async () => {
              await logout().catch(() => undefined);
              props.onSignOut();
            }}
          >
            Sign out
          </button>
        </p>
      </div>
      {admin && <Health />}
      <LiveCharts only={admin ? null : (mine ?? new Set<string>())} />
      <Streams list={streams} admin={admin} reload={reload} error={streamsError} />
      {admin && <Users me={props.session.user.name} />}
      <Recordings streams={streams ?? []} admin={admin} />
      <Rooms />
    </div>
  );
}

function AdminPage() {
  const [session, setSession] = useState<Session | null>(currentSession());
  return (
    <Layout page="admin">
      {session ? <Console session={session} onSignOut={() => setSession(null)} /> : <SignIn onSession={setSession} />}
    </Layout>
  );
}

mount(<AdminPage />);
