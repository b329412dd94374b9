/* Pure helpers behind /api/recordings: the VOD playlist over a recording's chunks, the length of
 * a chunk's init section, HTTP Range headers and the query parameters of the list. No I/O, so
 * each is unit-tested on its own (tests/unit/api/test_vod.c).
 *
 * How a recording plays as HLS. Each chunk is a complete fMP4 file: ftyp+moov (its own init
 * section), then moof+mdat fragments whose decode times continue where the previous chunk's
 * ended (recorder/README.md). The playlist lists each chunk once, as two byte ranges of the same
 * URI:
 *
 *   #EXT-X-MAP:URI="chunks/2?...",BYTERANGE="1234@0"     the chunk's ftyp+moov
 *   #EXTINF:10.000,
 *   #EXT-X-BYTERANGE:998766@1234                          its fragments
 *   chunks/2?...
 *
 * so no byte is fetched twice and a chunk that starts a new configuration (a resolution change:
 * the recorder opens a new chunk with a new init) brings its own init section. No
 * EXT-X-DISCONTINUITY between consecutive chunks: the timeline is one (tfdt keeps counting), and
 * hls.js and ffmpeg append the next chunk's samples at their own decode times. A chunk missing
 * from the list (not uploaded, failed) leaves a hole in that timeline, so the chunk after a
 * missing one is preceded by EXT-X-DISCONTINUITY. */
#ifndef KIBITKA_API_VOD_H
#define KIBITKA_API_VOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vod_chunk {
    int seq;
    int64_t duration_us;
    int64_t bytes;      /* the whole file */
    int64_t init_bytes; /* its ftyp+moov (vod_init_length) */
    const char *uri;    /* as written into the playlist */
    int64_t gap_before_us; /* media missing just before it (db_chunk.gap_before_us) */
};

/* The playlist (a heap string, the caller frees). ended: the recording will not change any more
 * (EXT-X-PLAYLIST-TYPE:VOD and EXT-X-ENDLIST); else EVENT, without ENDLIST. Chunks in seq order;
 * EXT-X-TARGETDURATION is the longest chunk, rounded up (at least 1). */
char *vod_playlist(const struct vod_chunk *chunks, size_t n, bool ended);

/* The bytes of the init section at the head of an fMP4 file: every box before the first moof
 * (ftyp, moov, and any free/uuid boxes). head holds the first len bytes of the file. -EINVAL
 * when there is no moov before the first moof or a box size is bad; -EAGAIN when head ends
 * before the first moof (read more). */
int vod_init_length(const uint8_t *head, size_t len, int64_t *out);

/* A Range header against a body of size bytes. Returns 1 when the whole body is to be sent
 * (no header, a unit other than bytes, several ranges, or a header that does not parse: RFC 9110
 * lets a server ignore those), 0 with [*start, *start + *len) for one satisfiable range
 * (bytes=a-b, a-, -n), or -ERANGE when it is not satisfiable (416). */
int vod_range_parse(const char *header, int64_t size, int64_t *start, int64_t *len);

/* A time query parameter: unix seconds ("1767225600") or RFC 3339
 * ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00.5+01:00"), to unix microseconds. -EINVAL for
 * anything else (dates before 1970 or after 9999 included). */
int vod_parse_time(const char *text, int64_t *out_us);

/* A decimal integer in [min, max]; -EINVAL otherwise (signs, spaces, empty). */
int vod_parse_int(const char *text, int64_t min, int64_t max, int64_t *out);

#endif
