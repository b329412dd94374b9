#include "media/fmp4.h"

#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define AVIO_BUFFER_SIZE 16384
#define MAX_TRACKS 8
/* vpcC's level for VP8, which has no levels: 1.0 ("vp08.00.10.08", as WebM's codec strings) */
#define VP8_LEVEL 10

/* Box sizes of one fragment (ISO/IEC 14496-12): mfhd, and per track tfhd, tfdt (version 1),
 * trun header (version 1, with data offset) and one trun entry (duration, size, flags,
 * composition offset). */
#define MFHD_SIZE 16
#define TFHD_SIZE 16
#define TFDT_SIZE 20
#define TRUN_HEAD_SIZE 20
#define TRUN_ENTRY_SIZE 16
#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000
#define TRUN_FLAGS 0x000f01    /* data offset, and per sample: duration, size, flags, cts offset */
#define SAMPLE_SYNC 0x02000000 /* sample_depends_on = 2: depends on no other sample */
#define SAMPLE_NON_SYNC 0x01010000 /* depends on others, is_non_sync_sample */

/* One track's samples since the last flush: trun entries, already big-endian, and the media. */
struct frag_track {
    AVRational in_tb, tb; /* packets' time base; the track's timescale in the moov */
    bool audio;           /* every sample is a sync sample */
    struct buf entries;
    struct buf data;
    uint32_t count;
    int64_t base_dts; /* tfdt: first sample's dts in tb */
};

struct fmp4 {
    AVFormatContext *ctx; /* only to write the init section; freed after it */
    struct frag_track tr[MAX_TRACKS];
    int ntracks;
    uint32_t sequence; /* mfhd sequence number of the next fragment */
    struct buf out;    /* the init section as the muxer writes it */
    bool vp8;          /* a VP8 track, muxed as VP9: its sample entry is renamed */
};

/* Renames the sample entry 'vp09' of the init section to 'vp08': the only 'vp09' box there
 * (ftyp's brands are iso6/cmfc/mp41 and the like; a box type follows its 32-bit size, which
 * is at least 8 + the entry's 78 bytes). Returns 0, or AVERROR_BUG when not found exactly once. */
static int vp8_rename(uint8_t *p, size_t n)
{
    uint8_t *at = NULL;
    int found = 0;
    for (size_t i = 4; i + 4 <= n; i++)
        if (memcmp(p + i, "vp09", 4) == 0 && p[i - 4] == 0 && p[i - 3] == 0) {
            at = p + i;
            found++;
        }
    if (found != 1)
        return AVERROR_BUG;
    at[3] = '8';
    return 0;
}

static int write_cb(void *opaque, uint8_t *data, int len)
{
    struct fmp4 *m = opaque;
    buf_append(&m->out, data, (size_t)len);
    return len;
}

static void put32(uint8_t **p, uint32_t v)
{
    (*p)[0] = (uint8_t)(v >> 24);
    (*p)[1] = (uint8_t)(v >> 16);
    (*p)[2] = (uint8_t)(v >> 8);
    (*p)[3] = (uint8_t)v;
    *p += 4;
}

static void put64(uint8_t **p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p, (uint32_t)v);
}

static void put_box(uint8_t **p, uint32_t size, const char *type)
{
    put32(p, size);
    memcpy(*p, type, 4);
    *p += 4;
}

/* No trailer: the muxer only ever writes the init section. avformat_free_context runs its
 * deinit. */
static void free_context(struct fmp4 *m)
{
    if (!m->ctx)
        return;
    if (m->ctx->pb) {
        av_freep(&m->ctx->pb->buffer);
        avio_context_free(&m->ctx->pb);
    }
    avformat_free_context(m->ctx);
    m->ctx = NULL;
}

static int add_stream(struct fmp4 *m, const struct fmp4_track *t)
{
    AVStream *st = avformat_new_stream(m->ctx, NULL);
    if (!st)
        return AVERROR(ENOMEM);
    int err = avcodec_parameters_copy(st->codecpar, t->par);
    if (err < 0)
        return err;
    st->codecpar->codec_tag = 0; /* let the muxer pick avc1 / mp4a */
    if (t->par->codec_id == AV_CODEC_ID_VP8) {
        /* FFmpeg 5.1's mp4 muxer has no VP8 ("VP8 muxing is currently not supported"), but its
         * VP9 entry is the same box as VP8's in the VP codec ISO binding: 'vp09' + 'vpcC'
         * (profile, level, bit depth, chroma, colour). Written as VP9 with VP8's values, the
         * type renamed to 'vp08' in the init section (vp8_rename). */
        st->codecpar->codec_id = AV_CODEC_ID_VP9;
        st->codecpar->profile = 0;
        st->codecpar->level = VP8_LEVEL;
        st->codecpar->format = AV_PIX_FMT_YUV420P; /* VP8 is 4:2:0 8-bit only */
        m->vp8 = true;
    }
    st->time_base = t->time_base;
    m->tr[m->ntracks].audio = t->par->codec_type == AVMEDIA_TYPE_AUDIO;
    m->tr[m->ntracks++].in_tb = t->time_base;
    return 0;
}

static int open_context(struct fmp4 *m)
{
    int err = avformat_alloc_output_context2(&m->ctx, NULL, "mp4", NULL);
    if (err < 0)
        return err;
    uint8_t *iobuf = av_malloc(AVIO_BUFFER_SIZE);
    if (!iobuf)
        return AVERROR(ENOMEM);
    m->ctx->pb = avio_alloc_context(iobuf, AVIO_BUFFER_SIZE, 1, m, NULL, write_cb, NULL);
    if (!m->ctx->pb) {
        av_free(iobuf);
        return AVERROR(ENOMEM);
    }
    m->ctx->flags |= AVFMT_FLAG_CUSTOM_IO;
    return 0;
}

int fmp4_create(const struct fmp4_track *tracks, int ntracks, const char *stream,
                struct blob **init, struct fmp4 **out)
{
    struct fmp4 *m = xcalloc(1, sizeof(*m));
    AVDictionary *opts = NULL;
    const char *what = "allocating the muxer";
    *out = NULL;
    *init = NULL;
    buf_init(&m->out);
    int err = AVERROR(EINVAL);
    if (ntracks <= 0 || ntracks > MAX_TRACKS)
        goto fail;
    err = open_context(m);
    if (err < 0)
        goto fail;
    what = "adding a track";
    for (int i = 0; i < ntracks; i++)
        if ((err = add_stream(m, &tracks[i])) < 0)
            goto fail;
    /* No edit list: the fragments below carry the tracks' own timestamps, unshifted. */
    av_dict_set(&opts, "movflags", "cmaf+frag_custom+empty_moov+default_base_moof", 0);
    av_dict_set(&opts, "use_editlist", "0", 0);
    what = "writing the init section";
    err = avformat_write_header(m->ctx, &opts);
    if (err < 0)
        goto fail;
    avio_flush(m->ctx->pb);
    if (buf_size(&m->out) == 0) {
        err = AVERROR_BUG;
        goto fail;
    }
    what = "naming the VP8 sample entry";
    if (m->vp8 && (err = vp8_rename((uint8_t *)buf_head(&m->out), buf_size(&m->out))) < 0)
        goto fail;
    *init = blob_create(buf_head(&m->out), buf_size(&m->out));
    for (int i = 0; i < ntracks; i++)
        m->tr[i].tb = m->ctx->streams[i]->time_base; /* the timescale the moov declares */
    free_context(m);
    m->sequence = 1;
    av_dict_free(&opts);
    *out = m;
    return 0;
fail:
    log_error("hls", stream, "fmp4: %s failed: %s", what, av_err2str(err));
    av_dict_free(&opts);
    fmp4_destroy(&m);
    return err;
}

void fmp4_destroy(struct fmp4 **pm)
{
    struct fmp4 *m = *pm;
    if (!m)
        return;
    free_context(m);
    for (int i = 0; i < MAX_TRACKS; i++) {
        buf_free(&m->tr[i].entries);
        buf_free(&m->tr[i].data);
    }
    buf_free(&m->out);
    free(m);
    *pm = NULL;
}

int fmp4_write(struct fmp4 *m, int idx, const AVPacket *pkt)
{
    if (idx < 0 || idx >= m->ntracks || pkt->size <= 0 || pkt->dts == AV_NOPTS_VALUE)
        return AVERROR(EINVAL);
    struct frag_track *t = &m->tr[idx];
    /* Durations as differences of rescaled times, so rounding never accumulates into drift. */
    int64_t dts = av_rescale_q(pkt->dts, t->in_tb, t->tb);
    int64_t end = av_rescale_q(pkt->dts + (pkt->duration > 0 ? pkt->duration : 1), t->in_tb, t->tb);
    int64_t pts = pkt->pts != AV_NOPTS_VALUE ? av_rescale_q(pkt->pts, t->in_tb, t->tb) : dts;
    if (t->count == 0)
        t->base_dts = dts;
    uint8_t e[TRUN_ENTRY_SIZE], *p = e;
    put32(&p, (uint32_t)(end > dts ? end - dts : 1));
    put32(&p, (uint32_t)pkt->size);
    /* Audio frames (AAC, MP3) decode on their own: sync samples whether or not the source
     * flagged them as keys (RTMP ingest does not), as INDEPENDENT=YES on audio parts says. */
    bool sync = t->audio || (pkt->flags & AV_PKT_FLAG_KEY);
    put32(&p, sync ? SAMPLE_SYNC : SAMPLE_NON_SYNC);
    put32(&p, (uint32_t)(int32_t)(pts - dts)); /* signed in trun version 1 */
    buf_append(&t->entries, e, sizeof(e));
    buf_append(&t->data, pkt->data, (size_t)pkt->size);
    t->count++;
    return 0;
}

static size_t traf_size(const struct frag_track *t)
{
    return 8 + TFHD_SIZE + TFDT_SIZE + TRUN_HEAD_SIZE + (size_t)t->count * TRUN_ENTRY_SIZE;
}

/* Writes one traf; data_offset is where this track's media starts, from the moof's start. */
static void put_traf(uint8_t **p, const struct frag_track *t, int idx, size_t data_offset)
{
    put_box(p, (uint32_t)traf_size(t), "traf");
    put_box(p, TFHD_SIZE, "tfhd");
    put32(p, TFHD_DEFAULT_BASE_IS_MOOF);
    put32(p, (uint32_t)idx + 1); /* track_ID: the muxer numbers tracks from 1 in order */
    put_box(p, TFDT_SIZE, "tfdt");
    put32(p, 1u << 24); /* version 1: 64-bit baseMediaDecodeTime */
    put64(p, (uint64_t)t->base_dts);
    put_box(p, (uint32_t)(TRUN_HEAD_SIZE + t->count * TRUN_ENTRY_SIZE), "trun");
    put32(p, (1u << 24) | TRUN_FLAGS);
    put32(p, t->count);
    put32(p, (uint32_t)data_offset);
    memcpy(*p, buf_head(&t->entries), buf_size(&t->entries));
    *p += buf_size(&t->entries);
}

/* One moof (a traf per track with samples) and one mdat with each track's media in turn,
 * written straight into the blob: the media is copied once. */
int fmp4_flush(struct fmp4 *m, struct blob **out)
{
    *out = NULL;
    size_t moof = 8 + MFHD_SIZE, media = 0;
    for (int i = 0; i < m->ntracks; i++) {
        if (m->tr[i].count) {
            moof += traf_size(&m->tr[i]);
            media += buf_size(&m->tr[i].data);
        }
    }
    if (media == 0)
        return 0;
    if (moof + 8 + media > UINT32_MAX)
        return AVERROR(ERANGE);
    struct blob *b = blob_create(NULL, moof + 8 + media);
    uint8_t *p = b->data;
    put_box(&p, (uint32_t)moof, "moof");
    put_box(&p, MFHD_SIZE, "mfhd");
    put32(&p, 0);
    put32(&p, m->sequence++);
    size_t offset = moof + 8;
    for (int i = 0; i < m->ntracks; i++) {
        if (m->tr[i].count) {
            put_traf(&p, &m->tr[i], i, offset);
            offset += buf_size(&m->tr[i].data);
        }
    }
    put_box(&p, (uint32_t)(8 + media), "mdat");
    for (int i = 0; i < m->ntracks; i++) {
        struct frag_track *t = &m->tr[i];
        if (!t->count)
            continue;
        memcpy(p, buf_head(&t->data), buf_size(&t->data));
        p += buf_size(&t->data);
        buf_clear(&t->entries); /* keeps the capacity for the next fragment */
        buf_clear(&t->data);
        t->count = 0;
    }
    *out = b;
    return 0;
}
