/* VP8 over RTP (RFC 7741): the payload descriptor stripped, the frame assembled from the packet
 * with S=1 and PID=0 to the marker bit (or a packet with another timestamp), out as the raw
 * VP8 frame. See depack.h.
 *
 * The keyframe flag is the inverted P bit of the VP8 payload header (RFC 7741 4.3); a keyframe's
 * 10-byte header (frame tag, start code 9d 01 2a, 14-bit width and height with 2-bit scaling,
 * RFC 6386 9.1) gives the size, and a new size is a configuration change. After a loss, a frame
 * whose start packet is seen is whole; frames are still dropped until a keyframe, since the
 * decoder's references are gone. */
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "rtc/depack_priv.h"

struct vp8 {
    struct buf frame;
    bool open; /* a start packet came; the frame has not ended */
    uint32_t ts;
    bool broken, key;
    int width, height, hscale, vscale; /* of the last keyframe; 0 before one */
    bool announce;
};

/* The descriptor's length in *hdr, and its S bit and partition index. */
static int descriptor(const uint8_t *p, size_t n, size_t *hdr, bool *start, int *pid)
{
    if (n < 1)
        return -EINVAL;
    size_t pos = 1;
    *start = p[0] & 0x10;
    *pid = p[0] & 0x07;
    if (p[0] & 0x80) { /* X: an extension byte I L T K */
        if (n < 2)
            return -EINVAL;
        uint8_t ext = p[1];
        pos = 2;
        if (ext & 0x80) { /* I: PictureID, 7 or 15 bits (M) */
            if (pos >= n)
                return -EINVAL;
            pos += (p[pos] & 0x80) ? 2 : 1;
        }
        if (ext & 0x40) /* L: TL0PICIDX */
            pos++;
        if (ext & 0x30) /* T or K: TID/Y/KEYIDX */
            pos++;
    }
    if (pos >= n) /* no VP8 payload after the descriptor */
        return -EINVAL;
    *hdr = pos;
    return 0;
}

static unsigned le16(const uint8_t *p)
{
    return p[0] | (unsigned)p[1] << 8;
}

/* A keyframe's size (RFC 6386 9.1): false when the header is not there. */
static bool key_header(struct vp8 *v, const uint8_t *p, size_t n)
{
    if (n < 10 || (p[0] & 1) || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
        return false;
    int w = (int)(le16(p + 6) & 0x3fff), h = (int)(le16(p + 8) & 0x3fff);
    int hs = p[7] >> 6, vs = p[9] >> 6;
    if (w == 0 || h == 0)
        return false;
    if (w != v->width || h != v->height || hs != v->hscale || vs != v->vscale)
        v->announce = true;
    v->width = w;
    v->height = h;
    v->hscale = hs;
    v->vscale = vs;
    return true;
}

static void finish(struct depack *d, struct vp8 *v, struct depack_out *out)
{
    v->open = false;
    const uint8_t *p = buf_head(&v->frame);
    size_t n = buf_size(&v->frame);
    if (v->broken || (v->key && !key_header(v, p, n)) || (d->waiting_key && !v->key) || !v->width) {
        depack_drop(d, out, true);
        return;
    }
    bool changed = v->announce;
    v->announce = false;
    depack_emit(d, out, p, n, v->ts, v->key, changed, NULL, 0);
}

static bool room(struct vp8 *v, size_t more)
{
    if (buf_size(&v->frame) + more <= DEPACK_MAX_FRAME)
        return true;
    v->broken = true;
    return false;
}

static int vp8_push(struct depack *d, const struct depack_in *in, struct depack_out *out)
{
    struct vp8 *v = d->priv;
    if (v->open && (in->lost_before || in->timestamp != v->ts)) {
        v->broken |= in->lost_before;
        finish(d, v, out);
    }
    if (in->lost_before)
        depack_drop(d, out, false);
    size_t hdr;
    bool start;
    int pid;
    if (descriptor(in->payload, in->len, &hdr, &start, &pid) < 0) {
        v->broken = true;
        return -EINVAL;
    }
    const uint8_t *p = in->payload + hdr;
    size_t n = in->len - hdr;
    int rc = 0;
    if (start && pid == 0) {
        if (v->open) { /* a new frame with the same timestamp: the last one is cut short */
            v->broken = true;
            finish(d, v, out);
            rc = -EINVAL;
        }
        buf_clear(&v->frame);
        v->open = true;
        v->ts = in->timestamp;
        v->broken = false;
        v->key = !(p[0] & 1);
        if (room(v, n))
            buf_append(&v->frame, p, n);
    } else if (v->open) {
        if (room(v, n))
            buf_append(&v->frame, p, n);
    } else if (!in->lost_before) {
        depack_drop(d, out, true); /* a continuation without its frame's start */
        rc = -EINVAL;
    }
    if (in->marker && v->open)
        finish(d, v, out);
    return rc;
}

static int vp8_init(struct depack *d, const struct depack_params *p)
{
    struct vp8 *v = d->priv;
    buf_init(&v->frame);
    return 0;
}

static int vp8_codecpar(const struct depack *d, AVCodecParameters *par)
{
    /* The upscaling a keyframe asks of the display (RFC 6386 9.1): 1, 5/4, 5/3, 2. */
    static const AVRational scale[4] = {{1, 1}, {5, 4}, {5, 3}, {2, 1}};
    const struct vp8 *v = d->priv;
    if (!v->width)
        return -EAGAIN;
    par->width = v->width;
    par->height = v->height;
    par->format = AV_PIX_FMT_YUV420P;
    if (v->hscale || v->vscale)
        par->sample_aspect_ratio = av_div_q(scale[v->hscale], scale[v->vscale]);
    return 0;
}

static void vp8_uninit(struct depack *d)
{
    struct vp8 *v = d->priv;
    buf_free(&v->frame);
}

const struct depack_ops depack_vp8_ops = {
    .name = "VP8",
    .codec_id = AV_CODEC_ID_VP8,
    .type = AVMEDIA_TYPE_VIDEO,
    .clock_rate = 90000,
    .priv_size = sizeof(struct vp8),
    .init = vp8_init,
    .push = vp8_push,
    .codecpar = vp8_codecpar,
    .uninit = vp8_uninit,
};
