// The sign-in form's fields and what submitting them does, shared by /, /publish and /admin
// (each page wraps them in its own heading and <form>).
import { useState } from 'preact/hooks';
import { ApiError, login } from './api';
import type { Session } from './api';

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The submit handler of a sign-in form, with its busy flag and error line: a 401 says "Wrong
 *  user name or password.", any other failure describe(err) (default: its message). */
export function useSignIn(onSession: (s: Session) => void, describe: (err: unknown) => string = message) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      onSession(await login(String(data.get('username')), String(data.get('password'))));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'Wrong user name or password.' : describe(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

/** The fields, the error line and the button; their ids are idPrefix + "username"/"password". */
export function SignInFields(props: { busy: boolean; error: string | null; idPrefix?: string }) {
  const p = props.idPrefix ?? '';
  return (
    <>
      <label for={`${p}username`}>User name</label>
      <input id={`${p}username`} name="username" autocomplete="username" required />
      <label for={`${p}password`}>Password</label>
      <input id={`${p}password`} name="password" type="password" autocomplete="current-password" required />
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <button type="submit" disabled={props.busy}>
        {props.busy ? 'Signing in…' : 'Sign in'}
      </button>
    </>
  );
}
