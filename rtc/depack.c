/* The depacketizers' common part: create/destroy, the sequence checks, frame output. See
 * depack.h; the codecs are in depack_h264.c, depack_vp8.c and depack_opus.c. */
#include "rtc/depack.h"

#include <errno.h>
#include <libavutil/mem.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "rtc/depack_priv.h"

const struct depack_ops *depack_ops_find(const char *encoding)
{
    static const struct depack_ops *const all[] = {&depack_h264_ops, &depack_vp8_ops,
                                                   &depack_opus_ops};
    for (size_t i = 0; encoding && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcasecmp(encoding, all[i]->name) == 0)
            return all[i];
    return NULL;
}

int depack_create(const struct depack_ops *ops, const struct depack_params *p, struct depack **out)
{
    static const struct depack_params none = {0};
    *out = NULL;
    if (!ops)
        return -EINVAL;
    struct depack *d = xcalloc(1, sizeof(*d));
    d->ops = ops;
    d->priv = xcalloc(1, ops->priv_size ? ops->priv_size : 1);
    d->waiting_key = ops->type == AVMEDIA_TYPE_VIDEO;
    int rc = ops->init(d, p ? p : &none);
    if (rc < 0) {
        depack_destroy(&d);
        return rc;
    }
    *out = d;
    return 0;
}

void depack_destroy(struct depack **pd)
{
    struct depack *d = *pd;
    if (!d)
        return;
    d->ops->uninit(d);
    free(d->priv);
    free(d);
    *pd = NULL;
}

int depack_push(struct depack *d, const struct depack_in *in, struct depack_out *out)
{
    memset(out, 0, sizeof(*out));
    if (d->have_seq && in->seq <= d->last_seq)
        return -EALREADY;
    struct depack_in cur = *in;
    if (d->have_seq && in->seq != d->last_seq + 1)
        cur.lost_before = true;
    d->have_seq = true;
    d->last_seq = in->seq;
    if (!cur.payload)
        cur.len = 0;
    int rc = d->ops->push(d, &cur, out);
    if (rc < 0)
        d->stats.bad_payloads++;
    if (out->need_keyframe)
        d->stats.keyframe_requests++;
    return rc;
}

void depack_out_clear(struct depack_out *out)
{
    for (int i = 0; i < out->nframes; i++)
        av_packet_free(&out->frames[i].pkt);
    out->nframes = 0;
}

bool depack_waiting_keyframe(const struct depack *d)
{
    return d->waiting_key;
}

int depack_codecpar(const struct depack *d, AVCodecParameters *par, AVRational *time_base)
{
    AVCodecParameters *fresh = avcodec_parameters_alloc();
    if (!fresh || avcodec_parameters_copy(par, fresh) < 0) /* resets par, frees its extradata */
        abort();                                           /* out of memory */
    avcodec_parameters_free(&fresh);
    par->codec_type = d->ops->type;
    par->codec_id = d->ops->codec_id;
    *time_base = (AVRational){1, d->ops->clock_rate};
    return d->ops->codecpar(d, par);
}

void depack_stats_get(const struct depack *d, struct depack_stats *s)
{
    *s = d->stats;
}

void depack_emit(struct depack *d, struct depack_out *out, const uint8_t *p, size_t n, uint32_t ts,
                 bool key, bool config_changed, const uint8_t *extradata, int extradata_size)
{
    if (out->nframes >= DEPACK_MAX_OUT || n > DEPACK_MAX_FRAME)
        abort(); /* a depacketizer's bug: at most one frame ends before a payload and one in it */
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, (int)n) < 0)
        abort(); /* out of memory (core/alloc.h's rule) */
    if (n)
        memcpy(pkt->data, p, n);
    pkt->pts = pkt->dts = ts;
    pkt->flags = key ? AV_PKT_FLAG_KEY : 0;
    if (config_changed && extradata_size > 0) {
        uint8_t *side = av_packet_new_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, extradata_size);
        if (!side)
            abort();
        memcpy(side, extradata, (size_t)extradata_size);
    }
    struct depack_frame *f = &out->frames[out->nframes++];
    f->pkt = pkt;
    f->timestamp = ts;
    f->keyframe = key;
    f->config_changed = config_changed;
    d->stats.frames++;
    if (key) {
        d->waiting_key = false;
        d->asked_key = false;
    }
}

void depack_drop(struct depack *d, struct depack_out *out, bool counted)
{
    if (counted)
        d->stats.dropped_frames++;
    if (d->ops->type != AVMEDIA_TYPE_VIDEO)
        return;
    d->waiting_key = true;
    if (!d->asked_key) {
        d->asked_key = true;
        out->need_keyframe = true;
    }
}
