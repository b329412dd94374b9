// The API calls /publish makes (api/README.md): the signed-in user's streams, and a new key for
// one of them (a key is shown only when it is made: the API keeps its hash, not the key).
import { apiCall } from './api';

export interface OwnStream {
  name: string;
  owner?: string | null;
  live: boolean;
  protocol?: string;
}

export async function myStreams(): Promise<OwnStream[]> {
  return (await apiCall<{ streams: OwnStream[] }>('GET', '/api/streams')).streams;
}

/** A new key for `name`; the old one stops working for new publishes (a live one goes on). */
export async function newKey(name: string): Promise<string> {
  return (await apiCall<{ key: string }>('POST', `/api/streams/${encodeURIComponent(name)}/key`)).key;
}
