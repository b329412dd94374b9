// The routes the /admin page uses (api/README.md has them all), typed as /api/openapi.json
// describes their bodies.
import { apiCall as request } from './api';

export interface UserRow {
  name: string;
  role: 'user' | 'admin';
  created_at: string;
}

export interface StreamRow {
  name: string;
  owner: string | null;
  record: boolean;
  created_at: string;
  hls_url: string;
  live: boolean;
  started_at?: string;
  bitrate_bps?: number;
  viewers?: number;
}

export interface LiveRow {
  name: string;
  owner: string | null;
  started_at: string;
  viewers: number;
  bytes_in: number;
  bitrate_bps: number;
  transcode_lag_seconds: number;
}

export interface Recording {
  id: string;
  stream: string;
  user: string;
  state: 'recording' | 'finished' | 'ready' | 'failed';
  started_at: string;
  ended_at: string | null;
  duration_seconds: number;
  bytes: number;
  chunks: number;
  chunks_uploaded: number;
  incomplete: boolean;
  /** anyone may play it on /watch/<stream> (the stream's last public ready one) */
  public: boolean;
}

export interface Chunk {
  seq: number;
  bytes: number;
  duration_seconds: number;
  state: string;
  url?: string;
}

export interface RecordingDetail extends Recording {
  chunk_list: Chunk[];
  playlist_url: string;
}

export interface Room {
  name: string;
  owner: string | null;
  public: boolean;
  created_at: string;
}

export interface Participant {
  id: string;
  user: string | null;
  display: string;
  speaking: boolean;
  muted: boolean;
  joined_at: string | null;
}

export interface ServerStatus {
  version: string;
  started_at: string;
  uptime_seconds: number;
  live_streams: number;
  upload_queue_chunks: number;
  upload_oldest_pending_seconds: number;
  upload_failures_total: number;
  uploads_total: number;
  spool_bytes: number;
  storage_errors_total: number;
  storage_access_denied: boolean;
  recorder_disk_full: boolean;
  recordings_active: number;
  webhook_deliveries_total: number;
  webhook_failures_total: number;
  webhook_dropped_total: number;
}

const seg = encodeURIComponent;

export const users = async () => (await request<{ users: UserRow[] }>('GET', '/api/users')).users;
export const createUser = (name: string, password: string, role: string) =>
  request<UserRow>('POST', '/api/users', { name, password, role });
export const patchUser = (name: string, change: { role?: string; password?: string }) =>
  request<UserRow>('PATCH', `/api/users/${seg(name)}`, change);
export const deleteUser = (name: string) => request<void>('DELETE', `/api/users/${seg(name)}`);

export const streams = async () =>
  (await request<{ streams: StreamRow[] }>('GET', '/api/streams')).streams;
export const createStream = (name: string, record: boolean) =>
  request<StreamRow & { key: string }>('POST', '/api/streams', { name, record });
export const rotateKey = (name: string, endLive: boolean) =>
  request<StreamRow & { key: string }>(
    'POST',
    `/api/streams/${seg(name)}/key${endLive ? '?end_live=true' : ''}`,
  );
export const setRecord = (name: string, record: boolean) =>
  request<StreamRow>('PATCH', `/api/streams/${seg(name)}`, { record });
export const deleteStream = (name: string) => request<void>('DELETE', `/api/streams/${seg(name)}`);

export const live = async () => (await request<{ live: LiveRow[] }>('GET', '/api/live')).live;

export interface RecordingFilter {
  stream?: string;
  from?: string;
  to?: string;
}
export const recordings = async (f: RecordingFilter) => {
  const q = new URLSearchParams({ limit: '100' });
  if (f.stream) q.set('stream', f.stream);
  if (f.from) q.set('from', f.from);
  if (f.to) q.set('to', f.to);
  return request<{ recordings: Recording[]; total: number }>('GET', `/api/recordings?${q}`);
};
export const recording = (id: string) => request<RecordingDetail>('GET', `/api/recordings/${seg(id)}`);
export const setRecordingPublic = (id: string, pub: boolean) =>
  request<Recording>('PATCH', `/api/recordings/${seg(id)}`, { public: pub });
export const deleteRecording = (id: string) => request<void>('DELETE', `/api/recordings/${seg(id)}`);

export const rooms = async () => (await request<{ rooms: Room[] }>('GET', '/api/rooms')).rooms;
export const room = (name: string) =>
  request<Room & { participants: Participant[] }>('GET', `/api/rooms/${seg(name)}`);
export const kick = (room: string, id: string) =>
  request<void>('POST', `/api/rooms/${seg(room)}/participants/${seg(id)}/kick`);
export const mute = (room: string, id: string, muted: boolean) =>
  request<void>('POST', `/api/rooms/${seg(room)}/participants/${seg(id)}/mute`, { muted });

export const serverStatus = () => request<ServerStatus>('GET', '/api/server');
