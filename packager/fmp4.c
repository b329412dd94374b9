#include "packager/fmp4.h"

#include <libavformat/avformat.h>
#include <libavutil/opt.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define AVIO_BUFFER_SIZE 16384

struct fmp4 {
    AVFormatContext *ctx;
    AVRational in_tb[8];
    int ntracks;
    struct buf out;  /* bytes the muxer wrote since the last take */
    int64_t written; /* packets since the last flush */
};

static int write_cb(void *opaque, uint8_t *data, int len)
{
    struct fmp4 *m = opaque;
    buf_append(&m->out, data, (size_t)len);
    return len;
}

/* Takes everything the muxer wrote so far as a blob (NULL when nothing). */
static struct blob *take_output(struct fmp4 *m)
{
    avio_flush(m->ctx->pb);
    if (buf_size(&m->out) == 0)
        return NULL;
    struct blob *b = blob_create(buf_head(&m->out), buf_size(&m->out));
    buf_clear(&m->out);
    return b;
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
    st->time_base = t->time_base;
    m->in_tb[m->ntracks++] = t->time_base;
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

int fmp4_create(struct fmp4 **out, const struct fmp4_track *tracks, int ntracks, const char *stream,
                struct blob **init)
{
    struct fmp4 *m = xcalloc(1, sizeof(*m));
    AVDictionary *opts = NULL;
    const char *what = "allocating the muxer";
    *out = NULL;
    *init = NULL;
    buf_init(&m->out);
    int err = AVERROR(EINVAL);
    if (ntracks <= 0 || ntracks > (int)(sizeof(m->in_tb) / sizeof(m->in_tb[0])))
        goto fail;
    err = open_context(m);
    if (err < 0)
        goto fail;
    what = "adding a track";
    for (int i = 0; i < ntracks; i++)
        if ((err = add_stream(m, &tracks[i])) < 0)
            goto fail;
    av_dict_set(&opts, "movflags", "cmaf+frag_custom+empty_moov+default_base_moof+frag_discont", 0);
    what = "writing the init section";
    err = avformat_write_header(m->ctx, &opts);
    if (err < 0)
        goto fail;
    *init = take_output(m);
    if (!*init) {
        err = AVERROR_BUG;
        goto fail;
    }
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
    if (m->ctx) {
        /* No trailer: a live stream has no end to write, and the fragments are out already.
         * avformat_free_context runs the muxer's deinit. */
        if (m->ctx->pb) {
            av_freep(&m->ctx->pb->buffer);
            avio_context_free(&m->ctx->pb);
        }
        avformat_free_context(m->ctx);
    }
    buf_free(&m->out);
    free(m);
    *pm = NULL;
}

int fmp4_write(struct fmp4 *m, int idx, const AVPacket *pkt)
{
    if (idx < 0 || idx >= m->ntracks)
        return AVERROR(EINVAL);
    AVPacket *p = av_packet_clone(pkt);
    if (!p)
        return AVERROR(ENOMEM);
    p->stream_index = idx;
    av_packet_rescale_ts(p, m->in_tb[idx], m->ctx->streams[idx]->time_base);
    if (p->duration <= 0)
        p->duration = 1;
    int err = av_write_frame(m->ctx, p);
    av_packet_free(&p);
    if (err >= 0)
        m->written++;
    return err < 0 ? err : 0;
}

int fmp4_flush(struct fmp4 *m, struct blob **out)
{
    *out = NULL;
    if (m->written == 0)
        return 0;
    int err = av_write_frame(m->ctx, NULL);
    if (err < 0)
        return err;
    m->written = 0;
    *out = take_output(m);
    return 0;
}
