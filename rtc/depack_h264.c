/* H.264 over RTP (RFC 6184), packetization-mode 0 and 1: single NAL unit packets, STAP-A and
 * FU-A, into AVCC access units (4-byte NAL lengths) with an avcC record. See depack.h.
 *
 * An access unit ends on the marker bit or when a packet with another timestamp arrives. It is
 * dropped whole when a packet of it was lost or malformed, when an FU-A NAL unit misses a
 * fragment, or when it grows past DEPACK_MAX_FRAME; frames after that are dropped until the next
 * IDR (need_keyframe). A keyframe is an access unit with an IDR slice; the first frame out is
 * one. Kept in the access unit: SEI (captions, encoder info) and in-band SPS/PPS (a decoder
 * following the stream without the hub's reconfigure still sees a new configuration before its
 * IDR); dropped: access unit delimiters (MP4 samples need none). One SPS and one PPS are
 * tracked, the latest of each: WebRTC senders use id 0 for both. */
#include <errno.h>
#include <libavutil/base64.h>
#include <libavutil/mem.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "media/h264.h"
#include "rtc/depack_priv.h"

#define PS_MAX 1024 /* a longer SPS or PPS is refused (real ones are < 100 bytes) */

enum { NAL_IDR = 5, NAL_SPS = 7, NAL_PPS = 8, NAL_AUD = 9, STAP_A = 24, FU_A = 28 };

struct h264 {
    struct buf au; /* the access unit being built, AVCC */
    bool au_open;  /* a packet with timestamp au_ts came and the unit has not ended */
    uint32_t au_ts;
    bool au_broken; /* dropped at its end: lost, malformed or too big */
    bool au_idr;
    bool fu_open; /* an FU-A NAL unit is being assembled; its 4-byte length is at fu_at */
    size_t fu_at;
    int fu_type;
    /* The latest SPS and PPS seen (sprop-parameter-sets or in band); ps_dirty while they differ
     * from the configuration in avcc (applied at the next IDR). */
    uint8_t sps[PS_MAX], pps[PS_MAX];
    size_t sps_len, pps_len;
    bool ps_dirty;
    uint8_t *avcc; /* av_malloc'ed, padded */
    int avcc_len;
    struct avc_config cfg;
    bool have_cfg;
    bool announce; /* the next frame out carries config_changed */
};

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

/* Remembers a parameter set; the configuration changes at the next IDR if it differs. */
static int note_ps(struct h264 *h, const uint8_t *p, size_t n)
{
    bool sps = (p[0] & 0x1f) == NAL_SPS;
    uint8_t *dst = sps ? h->sps : h->pps;
    size_t *len = sps ? &h->sps_len : &h->pps_len;
    if (n > PS_MAX || (sps && n < 4))
        return -EINVAL;
    if (*len == n && memcmp(dst, p, n) == 0)
        return 0;
    memcpy(dst, p, n);
    *len = n;
    h->ps_dirty = true;
    return 0;
}

/* Makes the latest SPS and PPS the configuration: parsed, and the avcC rebuilt. */
static int apply_ps(struct h264 *h)
{
    struct avc_config c = {0};
    uint8_t *avcc;
    int n;
    if (!h->sps_len || !h->pps_len)
        return -EINVAL;
    if (h264_sps_parse(h->sps, h->sps_len, &c) < 0) {
        h->sps_len = 0; /* so that the next in-band SPS counts as new */
        return -EINVAL;
    }
    if (h264_avcc_build(h->sps, h->sps_len, h->pps, h->pps_len, &avcc, &n) < 0)
        return -EINVAL;
    av_free(h->avcc);
    h->avcc = avcc;
    h->avcc_len = n;
    c.nal_length_size = 4;
    h->cfg = c;
    h->have_cfg = true;
    h->ps_dirty = false;
    h->announce = true;
    return 0;
}

static bool au_room(struct h264 *h, size_t more)
{
    if (buf_size(&h->au) + more <= DEPACK_MAX_FRAME)
        return true;
    h->au_broken = true; /* too big: dropped at its end, with a keyframe request */
    h->fu_open = false;
    return false;
}

static void put_len(uint8_t *w, size_t n)
{
    w[0] = (uint8_t)(n >> 24);
    w[1] = (uint8_t)(n >> 16);
    w[2] = (uint8_t)(n >> 8);
    w[3] = (uint8_t)n;
}

/* A whole NAL unit (single NAL packet or a STAP-A unit) into the access unit. */
static int add_nal(struct h264 *h, const uint8_t *p, size_t n)
{
    if (n == 0 || (p[0] & 0x80)) /* forbidden_zero_bit */
        return -EINVAL;
    int type = p[0] & 0x1f;
    if (type == 0 || type >= 24)
        return -EINVAL;
    if (type == NAL_AUD)
        return 0;
    if ((type == NAL_SPS || type == NAL_PPS) && note_ps(h, p, n) < 0)
        return -EINVAL;
    if (!au_room(h, 4 + n))
        return 0;
    if (type == NAL_IDR)
        h->au_idr = true;
    uint8_t len[4];
    put_len(len, n);
    buf_append(&h->au, len, 4);
    buf_append(&h->au, p, n);
    return 0;
}

/* Checks every aggregated unit's length before taking any. */
static int stap_a(struct h264 *h, const uint8_t *p, size_t n)
{
    size_t pos = 1, count = 0;
    while (pos < n) {
        if (n - pos < 2)
            return -EINVAL;
        size_t len = be16(p + pos);
        if (len == 0 || len > n - pos - 2)
            return -EINVAL;
        pos += 2 + len;
        count++;
    }
    if (count == 0)
        return -EINVAL;
    for (pos = 1; pos < n; pos += 2 + be16(p + pos))
        if (add_nal(h, p + pos + 2, be16(p + pos)) < 0)
            return -EINVAL;
    return 0;
}

static int fu_a(struct h264 *h, const uint8_t *p, size_t n)
{
    if (n < 3) /* indicator, header, at least one byte */
        return -EINVAL;
    bool start = p[1] & 0x80, end = p[1] & 0x40;
    int type = p[1] & 0x1f;
    if ((start && end) || type == 0 || type >= 24)
        return -EINVAL;
    if (start) {
        if (h->fu_open) /* the previous one never ended: a fragment of it is missing */
            return -EINVAL;
        if (!au_room(h, 4 + 1 + n - 2))
            return 0;
        h->fu_open = true;
        h->fu_at = buf_size(&h->au);
        h->fu_type = type;
        uint8_t head[5] = {0, 0, 0, 0, (uint8_t)((p[0] & 0xe0) | type)};
        buf_append(&h->au, head, 5);
    } else {
        if (!h->fu_open || type != h->fu_type)
            return -EINVAL; /* a fragment without its start */
        if (!au_room(h, n - 2))
            return 0;
    }
    buf_append(&h->au, p + 2, n - 2);
    if (!end)
        return 0;
    h->fu_open = false;
    uint8_t *nal = buf_head(&h->au) + h->fu_at;
    size_t len = buf_size(&h->au) - h->fu_at - 4;
    put_len(nal, len);
    if (type == NAL_AUD) {
        h->au.len = h->au.off + h->fu_at;
        return 0;
    }
    if (type == NAL_IDR)
        h->au_idr = true;
    if ((type == NAL_SPS || type == NAL_PPS) && note_ps(h, nal + 4, len) < 0)
        return -EINVAL;
    return 0;
}

static int payload(struct h264 *h, const uint8_t *p, size_t n)
{
    if (n < 1 || (p[0] & 0x80))
        return -EINVAL;
    int type = p[0] & 0x1f;
    if (type >= 1 && type <= 23)
        return add_nal(h, p, n);
    switch (type) {
    case STAP_A:
        return stap_a(h, p, n);
    case FU_A:
        return fu_a(h, p, n);
    case 25: /* STAP-B */
    case 26: /* MTAP16 */
    case 27: /* MTAP24 */
    case 29: /* FU-B */
        return -ENOTSUP;
    default:
        return -EINVAL;
    }
}

static void finish_au(struct depack *d, struct h264 *h, struct depack_out *out)
{
    h->au_open = false;
    if (h->fu_open)
        h->au_broken = true; /* its last fragment never came */
    h->fu_open = false;
    if (h->au_broken) {
        depack_drop(d, out, true);
        return;
    }
    if (buf_size(&h->au) == 0)
        return; /* only delimiters */
    bool key = h->au_idr;
    /* New parameter sets take effect at an IDR: a frame referring to them before one cannot be
     * decoded. */
    if ((h->ps_dirty && (!key || apply_ps(h) < 0)) || !h->have_cfg || (d->waiting_key && !key)) {
        depack_drop(d, out, true);
        return;
    }
    bool changed = h->announce;
    h->announce = false;
    depack_emit(d, out, buf_head(&h->au), buf_size(&h->au), h->au_ts, key, changed, h->avcc,
                h->avcc_len);
}

static int h264_push(struct depack *d, const struct depack_in *in, struct depack_out *out)
{
    struct h264 *h = d->priv;
    if (h->au_open && in->lost_before)
        h->au_broken = true; /* the lost packets may have been this unit's */
    if (h->au_open && in->timestamp != h->au_ts)
        finish_au(d, h, out);
    if (!h->au_open) {
        buf_clear(&h->au);
        h->au_open = true;
        h->au_ts = in->timestamp;
        h->au_broken = h->au_idr = h->fu_open = false;
    }
    if (in->lost_before) {
        h->au_broken = true; /* ... or this unit's first ones */
        depack_drop(d, out, false);
    }
    int rc = 0;
    if (!h->au_broken) {
        rc = payload(h, in->payload, in->len);
        if (rc < 0)
            h->au_broken = true;
    } else if (in->len < 1) {
        rc = -EINVAL;
    }
    if (in->marker)
        finish_au(d, h, out);
    return rc;
}

/* The value of key in an fmtp line ("a=b;c=d", spaces allowed after ';'), copied into v (NUL
 * terminated, truncated to vn - 1). Returns false when absent. */
static bool fmtp_get(const char *fmtp, const char *key, char *v, size_t vn)
{
    size_t kn = strlen(key);
    for (const char *p = fmtp; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > kn && p[kn] == '=' && strncasecmp(p, key, kn) == 0) {
            size_t m = n - kn - 1 < vn - 1 ? n - kn - 1 : vn - 1;
            memcpy(v, p + kn + 1, m);
            v[m] = 0;
            while (m > 0 && v[m - 1] == ' ')
                v[--m] = 0;
            return true;
        }
        p = end;
    }
    return false;
}

/* sprop-parameter-sets: base64 NAL units separated by commas. */
static void sprop(struct h264 *h, const char *fmtp)
{
    char v[4 * PS_MAX], item[2 * PS_MAX];
    uint8_t nal[PS_MAX + 4];
    if (!fmtp_get(fmtp, "sprop-parameter-sets", v, sizeof(v)))
        return;
    for (char *s = v; *s;) {
        size_t n = strcspn(s, ",");
        if (n > 0 && n < sizeof(item)) {
            memcpy(item, s, n);
            item[n] = 0;
            int len = av_base64_decode(nal, item, sizeof(nal));
            int type = len > 0 ? nal[0] & 0x1f : 0;
            if (len > 0 && !(nal[0] & 0x80) && (type == NAL_SPS || type == NAL_PPS))
                note_ps(h, nal, (size_t)len);
        }
        s += n + (s[n] == ',');
    }
    if (h->ps_dirty)
        apply_ps(h); /* a bad SPS leaves no configuration: in-band ones may still come */
}

static int h264_init(struct depack *d, const struct depack_params *p)
{
    struct h264 *h = d->priv;
    buf_init(&h->au);
    char mode[8];
    if (p->fmtp && fmtp_get(p->fmtp, "packetization-mode", mode, sizeof(mode)) &&
        strcmp(mode, "0") != 0 && strcmp(mode, "1") != 0)
        return -ENOTSUP;
    if (p->fmtp)
        sprop(h, p->fmtp);
    return 0;
}

static int h264_codecpar(const struct depack *d, AVCodecParameters *par)
{
    const struct h264 *h = d->priv;
    if (!h->have_cfg)
        return -EAGAIN;
    par->extradata = av_mallocz((size_t)h->avcc_len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!par->extradata)
        abort(); /* out of memory */
    memcpy(par->extradata, h->avcc, (size_t)h->avcc_len);
    par->extradata_size = h->avcc_len;
    par->width = h->cfg.width;
    par->height = h->cfg.height;
    /* As the RTMP ingest: FFmpeg's value, with FF_PROFILE_H264_CONSTRAINED for constrained
     * baseline. */
    par->profile =
        h->cfg.profile_idc |
        (h->cfg.profile_idc == 66 && h->cfg.constraint_set1 ? FF_PROFILE_H264_CONSTRAINED : 0);
    par->level = h->cfg.level_idc;
    par->format = h264_pix_fmt(&h->cfg);
    return 0;
}

static void h264_uninit(struct depack *d)
{
    struct h264 *h = d->priv;
    buf_free(&h->au);
    av_freep(&h->avcc);
}

const struct depack_ops depack_h264_ops = {
    .name = "H264",
    .codec_id = AV_CODEC_ID_H264,
    .type = AVMEDIA_TYPE_VIDEO,
    .clock_rate = 90000,
    .priv_size = sizeof(struct h264),
    .init = h264_init,
    .push = h264_push,
    .codecpar = h264_codecpar,
    .uninit = h264_uninit,
};
