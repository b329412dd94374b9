-- Voice rooms (issue 14). A room is a row (it survives restarts); who is in it is live state in
-- the SFU, never stored. is_public: any logged-in user may join with their API token and mint
-- a join token for themselves; otherwise only join tokens minted by the owner or an admin let
-- anyone in. Valid on SQLite and PostgreSQL alike (ids TEXT, times BIGINT unix us, flags 0/1).
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    is_public INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX rooms_owner_id ON rooms (owner_id);

-- Server-wide values every node shares, made once by whichever node needs them first
-- (INSERT ... ON CONFLICT DO NOTHING, then read back: two nodes racing agree on the winner's).
-- 'room_token_key': the HMAC-SHA256 key of the rooms' join tokens (64 hex characters), so a
-- token minted on one node is accepted by the others.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
