-- Public recordings (issue 15). is_public: the recording's owner (or an admin) made it public
-- (PATCH /api/recordings/{id}); then anyone may play the last public ready recording of a
-- stream from /watch/<stream> once the stream has ended (GET /api/streams/{name}/recording, no
-- token). Private (0) by default, as every recording before this migration stays. The index
-- serves that lookup: a stream's recordings, newest first.
ALTER TABLE recordings ADD COLUMN is_public INTEGER NOT NULL DEFAULT 0;
CREATE INDEX recordings_stream_started ON recordings (stream_name, started_at);
