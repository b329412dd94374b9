/* LL-HLS playlist text, written from a plain description of segments and parts. Pure functions:
 * no locks, no clocks, no I/O, so golden tests pin the exact text.
 *
 * URIs are relative to the playlist and carry the publish session id (sid), because init,
 * segments and parts are served as immutable: a republish under the same name must never reuse
 * a URI a cache may still hold.
 *   init-<sid>.mp4            init section (init-<sid>-<V>.mp4 for version V >= 1: the source
 *                             changed its codec configuration mid-stream)
 *   seg-<sid>-<M>.m4s         segment with media sequence number M
 *   part-<sid>-<M>.<K>.m4s    part K (from 0) of segment M */
#ifndef KIBITKA_PACKAGER_PLAYLIST_H
#define KIBITKA_PACKAGER_PLAYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define PL_SID_MAX 24

struct pl_part {
    int64_t duration_us;
    bool independent; /* starts with a keyframe (or is audio only) */
};

struct pl_segment {
    int64_t msn;
    int64_t duration_us; /* of a complete segment: the sum of its parts */
    int64_t wall_us;     /* EXT-X-PROGRAM-DATE-TIME of its first sample; 0: none */
    bool complete;       /* false only for the last one, the segment being cut */
    int init_version;    /* its init section; a change from the previous segment is written as
                            EXT-X-DISCONTINUITY with a new EXT-X-MAP */
    bool discontinuity;  /* EXT-X-DISCONTINUITY before it, same init (a timestamp jump) */
    const struct pl_part *parts;
    int nparts;
};

/* EXT-X-RENDITION-REPORT for another rendition of the stream (RFC 8216bis 4.4.5.4): its last
 * part, so a player switching to it can ask for the next one with a blocking reload. */
struct pl_report {
    const char *rendition; /* URI="../<rendition>/media.m3u8" */
    int64_t last_msn;      /* the segment of its last part */
    int last_part;         /* that part's index in it */
};

struct pl_media {
    const char *sid;
    int target_duration;           /* seconds, EXT-X-TARGETDURATION */
    int64_t part_target_us;        /* EXT-X-PART-INF:PART-TARGET */
    const struct pl_segment *segs; /* oldest first; segs[0].msn is EXT-X-MEDIA-SEQUENCE */
    int nsegs;
    bool ended;       /* EXT-X-ENDLIST instead of a preload hint */
    int64_t disc_seq; /* EXT-X-DISCONTINUITY-SEQUENCE: discontinuities before segs[0] */
    int init_version; /* the init section when there is no segment yet */
    const struct pl_report *reports; /* written after the preload hint, unless ended */
    int nreports;
};

/* Index of the first segment whose parts the playlist lists: those ending less than three target
 * durations before the end of the playlist, and the incomplete one. nsegs when none. */
int pl_parts_from(const struct pl_media *m);
/* How many segments a delta update (_HLS_skip=YES) replaces with EXT-X-SKIP: the longest prefix
 * such that what remains still lasts at least CAN-SKIP-UNTIL (6 target durations). */
int pl_skippable(const struct pl_media *m);
/* Appends the media playlist; skip > 0 writes the delta update form skipping that many
 * segments (pass pl_skippable's answer). */
void pl_write_media(struct buf *out, const struct pl_media *m, int skip);

struct pl_variant {
    int64_t bandwidth;     /* peak, bits/s */
    int64_t avg_bandwidth; /* 0: omitted */
    int width, height;     /* 0: no RESOLUTION (audio only) */
    double frame_rate;     /* 0: omitted */
    const char *codecs;    /* "avc1.64001f,mp4a.40.2" */
    const char *uri;       /* "source/media.m3u8" */
};

/* Appends the multivariant playlist: one EXT-X-STREAM-INF per variant, each carrying its own
 * audio (there is no audio group: a player then runs one loader per rendition). no_captions: no
 * variant carries closed captions, and every variant says CLOSED-CAPTIONS=NONE (RFC 8216bis
 * 4.4.6.2: all of them or none). Players then need not look for captions in the media: Shaka
 * Player 5.2 otherwise probes the segments for them, and on a playlist of one or two segments
 * probes the part-only segment being cut, which has no URI, and fails to load. */
void pl_write_multivariant(struct buf *out, const struct pl_variant *v, int n, bool no_captions);

/* RFC 6381 codec strings from extradata: "avc1.PPCCLL" from an avcC record (or Annex B
 * SPS), "mp4a.40.N" from an AudioSpecificConfig. Fall back to avc1.42e01f / mp4a.40.2 when the
 * bytes are missing or short. out holds at least 16 bytes. */
void pl_codec_avc(const uint8_t *extradata, int size, char *out, size_t n);
void pl_codec_aac(const uint8_t *extradata, int size, char *out, size_t n);

void pl_uri_init(char *out, size_t n, const char *sid, int version);
void pl_uri_segment(char *out, size_t n, const char *sid, int64_t msn);
void pl_uri_part(char *out, size_t n, const char *sid, int64_t msn, int part);

enum pl_uri_kind { PL_URI_NONE = 0, PL_URI_INIT, PL_URI_SEGMENT, PL_URI_PART };

/* Parses a file name made by pl_uri_*; returns its kind (PL_URI_NONE when it is no such name)
 * and fills the sid (at most PL_SID_MAX chars), msn and part; for an init section, msn is its
 * version. */
enum pl_uri_kind pl_uri_parse(const char *name, char sid[PL_SID_MAX + 1], int64_t *msn, int *part);

#endif
