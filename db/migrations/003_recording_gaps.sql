-- Gaps in recordings (issue 11): media time the recorder could not write (the disk full, the
-- spool past --spool-max-bytes, a disk too slow). A recording with a gap is incomplete; the API
-- says where, and its VOD playlist has an EXT-X-DISCONTINUITY there.
-- recording_chunks.gap_before_us: the media time missing just before the chunk (since the end of
-- the recording's last chunk written, or the start of the stream for the first one);
-- recordings.gap_end_us: the media time missing at the end (the stream ended while paused).
ALTER TABLE recording_chunks ADD COLUMN gap_before_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE recordings ADD COLUMN gap_end_us BIGINT NOT NULL DEFAULT 0;
