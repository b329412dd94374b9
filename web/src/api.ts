// The JSON API as the pages use it (api/README.md has every route). The session token lives in
// sessionStorage only: never in a URL, gone when the tab closes.

export interface User {
  name: string;
  role: string;
}

export interface Session {
  token: string;
  expires_at: string;
  user: User;
}

export interface LiveStream {
  name: string;
  owner?: string | null;
  started_at: string;
  hls_url: string;
  protocol?: string;
  viewers?: number;
}

/** A public voice room as anyone may see it (GET /api/public/rooms): display names only. */
export interface PublicRoom {
  name: string;
  members: { display: string; speaking: boolean }[];
}

/** A stream's last public recording (GET /api/streams/{name}/recording): a signed VOD playlist. */
export interface PublicRecording {
  stream: string;
  started_at: string;
  ended_at: string | null;
  duration_seconds: number;
  playlist_url: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const KEY = 'kibitka.session';

export function currentSession(): Session | null {
  try {
    const s = sessionStorage.getItem(KEY);
    return s ? (JSON.parse(s) as Session) : null;
  } catch {
    return null;
  }
}

function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const s = currentSession();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r: Response;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  if (r.status === 204) return undefined as T;
  let json: unknown = null;
  try {
    json = await r.json();
  } catch {
    /* not JSON: an error page of a proxy */
  }
  if (!r.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
    if (r.status === 401 && s) saveSession(null); /* expired or revoked: forget it */
    throw new ApiError(r.status, e?.code ?? 'http', e?.message ?? `HTTP ${r.status}`);
  }
  return json as T;
}

export async function login(username: string, password: string): Promise<Session> {
  const s = await call<Session>('POST', '/api/auth/login', { username, password });
  saveSession(s);
  return s;
}

export async function logout(): Promise<void> {
  try {
    await call<void>('POST', '/api/auth/logout');
  } finally {
    saveSession(null);
  }
}

export async function liveNow(): Promise<LiveStream[]> {
  return (await call<{ live: LiveStream[] }>('GET', '/api/live')).live;
}

export async function publicRooms(): Promise<PublicRoom[]> {
  return (await call<{ rooms: PublicRoom[] }>('GET', '/api/public/rooms')).rooms;
}

/** The stream's last public recording, or null when it has none (404). */
export async function lastRecording(name: string): Promise<PublicRecording | null> {
  try {
    return await call<PublicRecording>('GET', `/api/streams/${encodeURIComponent(name)}/recording`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** Any JSON API call with the session's token, errors and 401 handling, for a page's own API
 *  module (admin_api.ts, publish_api.ts) and the voice page. */
export { call as apiCall };
