-- Recordings (issue 6). 001 made recordings and recording_chunks before anything wrote them;
-- they are made again here, still empty, with what the recorder needs:
-- - stream_id and user_id may be NULL: an --open-publish stream has no row, and a recording
--   outlives the deletion of its stream or user (ON DELETE SET NULL), since its objects do;
-- - user_name: the owner's name at the start, the <user> of the object keys ('_open' for
--   --open-publish streams);
-- - the states, checked.
-- recordings.state: 'recording' (live), 'finished' (ended; chunks may still be uploading),
-- 'ready' (finished and every chunk uploaded; recording.ready was sent), 'failed' (a chunk
-- could not be uploaded).
-- recording_chunks.state: 'recording' (being written to the spool), 'pending' (closed, waiting
-- for the upload worker), 'uploading', 'uploaded' (the store confirmed it; the spool file is
-- deleted), 'failed' (a permanent error after retries; the spool file is kept).
DROP TABLE recording_chunks;
DROP TABLE recordings;

CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    stream_id TEXT REFERENCES streams (id) ON DELETE SET NULL,
    stream_name TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    user_name TEXT NOT NULL,
    node_id TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    state TEXT NOT NULL CHECK (state IN ('recording', 'finished', 'ready', 'failed')),
    created_at BIGINT NOT NULL
);
CREATE INDEX recordings_stream_id ON recordings (stream_id);
CREATE INDEX recordings_user_id ON recordings (user_id);
CREATE INDEX recordings_started_at ON recordings (started_at);

CREATE TABLE recording_chunks (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    bytes BIGINT NOT NULL DEFAULT 0,
    duration_us BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL
        CHECK (state IN ('recording', 'pending', 'uploading', 'uploaded', 'failed')),
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    uploaded_at BIGINT,
    PRIMARY KEY (recording_id, seq)
);
CREATE INDEX recording_chunks_state ON recording_chunks (state);
