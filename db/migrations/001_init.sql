-- The first schema. Valid on SQLite 3.35+ and PostgreSQL 12+ alike: ids are TEXT (random hex
-- made in C), times are BIGINT unix microseconds, flags are INTEGER 0/1, and no SERIAL or
-- AUTOINCREMENT. Applied once, inside a transaction, by db_open (db/README.md).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    record INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX streams_owner_id ON streams (owner_id);

-- One recording per publish of a recorded stream; state is 'recording', 'finished' or 'failed'.
-- stream_name and user_id are kept so the objects' keys stay known after a rename.
CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    stream_name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node_id TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX recordings_stream_id ON recordings (stream_id);

-- One object-store chunk of a recording; state is 'spooled', 'uploading', 'uploaded' or 'failed'.
CREATE TABLE recording_chunks (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    bytes BIGINT NOT NULL DEFAULT 0,
    duration_us BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    uploaded_at BIGINT,
    PRIMARY KEY (recording_id, seq)
);

-- The cluster's nodes (scale-out): each upserts itself with its address while running.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    last_seen BIGINT NOT NULL
);
