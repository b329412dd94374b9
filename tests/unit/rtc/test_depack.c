/* RTP depacketizers (rtc/depack.h) on real RTP: tests/unit/rtc/data/ holds short H.264, VP8 and
 * Opus clips and the packets ffmpeg's RTP muxer sent for them (data/make.sh). The frames out
 * must be the source's frames byte for byte (H.264 less its access unit delimiters, in AVCC) and
 * must decode with libavcodec; then losses, malformed payloads and limits on edited copies. */
#include <errno.h>
#include <libavformat/avformat.h>
#include <stdlib.h>

#include "media/h264.h"
#include "rtc/depack.h"
#include "test.h"

#define DATA "tests/unit/rtc/data/"
#define MAX_PKTS 256

struct rtp {
    uint8_t *buf; /* the whole packet */
    const uint8_t *payload;
    size_t len;
    uint32_t ts;
    bool marker;
    uint64_t seq;
};

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run from the source root)\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)size + 1);
    if (fread(p, 1, (size_t)size, f) != (size_t)size)
        exit(1);
    fclose(f);
    *n = (size_t)size;
    return p;
}

/* The capture: 2-byte length + RTP packet, each parsed (no CSRC, extension or padding from
 * ffmpeg, checked). */
static int load_rtp(const char *path, struct rtp *out)
{
    size_t n, pos = 0;
    uint8_t *d = slurp(path, &n);
    int count = 0;
    uint16_t first = 0;
    while (pos + 2 <= n && count < MAX_PKTS) {
        size_t len = (size_t)d[pos] << 8 | d[pos + 1];
        const uint8_t *p = d + pos + 2;
        pos += 2 + len;
        if (len < 12 || p[0] != 0x80) /* V=2, no padding, extension or CSRC */
            exit(1);
        if ((p[1] & 0x7f) >= 72 && (p[1] & 0x7f) <= 76)
            continue; /* RTCP on the same port */
        struct rtp *r = &out[count];
        r->buf = malloc(len);
        memcpy(r->buf, p, len);
        uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
        if (count == 0)
            first = seq;
        r->seq = 1000 + (uint16_t)(seq - first);
        r->marker = p[1] & 0x80;
        r->ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
        r->payload = r->buf + 12;
        r->len = len - 12;
        count++;
    }
    free(d);
    return count;
}

static void free_rtp(struct rtp *r, int n)
{
    for (int i = 0; i < n; i++)
        free(r[i].buf);
}

/* The frames out of a run, copied. */
struct frames {
    int n, requests, errors[8];
    int nerrors;
    AVPacket *pkt[64];
};

static void frames_free(struct frames *f)
{
    for (int i = 0; i < f->n; i++)
        av_packet_free(&f->pkt[i]);
    memset(f, 0, sizeof(*f));
}

static int push(struct depack *d, const struct rtp *r, bool lost, struct frames *f)
{
    struct depack_in in = {r->payload, r->len, r->ts, r->marker, r->seq, lost};
    struct depack_out out;
    int rc = depack_push(d, &in, &out);
    if (rc < 0 && f->nerrors < 8)
        f->errors[f->nerrors++] = rc;
    f->requests += out.need_keyframe;
    for (int i = 0; i < out.nframes; i++) {
        CHECK(out.frames[i].pkt->pts == out.frames[i].timestamp);
        CHECK(out.frames[i].keyframe == !!(out.frames[i].pkt->flags & AV_PKT_FLAG_KEY));
        if (f->n < 64) {
            f->pkt[f->n++] = out.frames[i].pkt;
            out.frames[i].pkt = NULL;
        }
    }
    depack_out_clear(&out);
    return rc;
}

/* Runs packets [0, n) except skip (-1: none), marking the one after it lost when tell. */
static void run(struct depack *d, const struct rtp *r, int n, int skip, bool tell, struct frames *f)
{
    for (int i = 0; i < n; i++)
        if (i != skip)
            push(d, &r[i], tell && i == skip + 1 && skip >= 0, f);
}

/* ---- H.264 ---- */

struct au {
    uint8_t *avcc; /* the source access unit, AVCC, delimiters left out */
    size_t len;
    bool idr;
};

/* Splits the Annex B source into access units at its delimiters. */
static int load_h264(struct au *aus, int max, uint8_t *sps, size_t *sps_len, uint8_t *pps,
                     size_t *pps_len)
{
    size_t n;
    uint8_t *d = slurp(DATA "h264.264", &n);
    int count = -1;
    size_t i = 0;
    while (i + 3 <= n) {
        if (!(d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1)) {
            i++;
            continue;
        }
        size_t s = i + 3, e = s;
        while (e + 3 <= n && !(d[e] == 0 && d[e + 1] == 0 && (d[e + 2] == 1 || d[e + 2] == 0)))
            e++;
        if (e + 3 > n)
            e = n;
        int type = d[s] & 0x1f;
        if (type == 9) {
            if (++count >= max)
                break;
            aus[count] = (struct au){malloc(n), 0, false};
        } else if (count >= 0) {
            struct au *a = &aus[count];
            size_t len = e - s;
            a->avcc[a->len] = (uint8_t)(len >> 24);
            a->avcc[a->len + 1] = (uint8_t)(len >> 16);
            a->avcc[a->len + 2] = (uint8_t)(len >> 8);
            a->avcc[a->len + 3] = (uint8_t)len;
            memcpy(a->avcc + a->len + 4, d + s, len);
            a->len += 4 + len;
            a->idr |= type == 5;
            if (type == 7)
                memcpy(sps, d + s, *sps_len = len);
            if (type == 8)
                memcpy(pps, d + s, *pps_len = len);
        }
        i = e;
    }
    free(d);
    return count + 1;
}

/* Decodes the frames with the extradata; returns how many pictures of w x h came out. */
static int decode(enum AVCodecID id, const AVCodecParameters *par, struct frames *f, int w, int h)
{
    const AVCodec *codec = avcodec_find_decoder(id);
    AVCodecContext *c = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(c, par);
    int pictures = 0;
    AVFrame *frame = av_frame_alloc();
    if (avcodec_open2(c, codec, NULL) < 0)
        goto done;
    for (int i = 0; i <= f->n; i++) {
        if (avcodec_send_packet(c, i < f->n ? f->pkt[i] : NULL) < 0)
            break;
        while (avcodec_receive_frame(c, frame) == 0) {
            if (w == 0 || (frame->width == w && frame->height == h))
                pictures++;
            av_frame_unref(frame);
        }
    }
done:
    av_frame_free(&frame);
    avcodec_free_context(&c);
    return pictures;
}

static const char *fmtp_h264 = "packetization-mode=1; sprop-parameter-sets=Z0LAC9kCxOwEQAAAAwBAAA"
                               "APA8UKkg==,aMuDyyA=; profile-level-id=42C00B";

static void test_h264_clip(const struct rtp *r, int n, const struct au *aus, int naus,
                           const char *fmtp)
{
    struct depack *d;
    struct depack_params p = {.fmtp = fmtp};
    CHECK_EQ_INT(depack_create(&depack_h264_ops, &p, &d), 0);
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVRational tb;
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), fmtp ? 0 : -EAGAIN); /* sprop: known at once */
    struct frames f = {0};
    run(d, r, n, -1, false, &f);
    CHECK_EQ_INT(f.nerrors, 0);
    CHECK_EQ_INT(f.n, naus);
    for (int i = 0; i < f.n && i < naus; i++) {
        CHECK_EQ_INT(f.pkt[i]->size, aus[i].len);
        CHECK(f.pkt[i]->size == (int)aus[i].len &&
              memcmp(f.pkt[i]->data, aus[i].avcc, aus[i].len) == 0);
        CHECK_EQ_INT(!!(f.pkt[i]->flags & AV_PKT_FLAG_KEY), aus[i].idr);
        size_t side = 0;
        av_packet_get_side_data(f.pkt[i], AV_PKT_DATA_NEW_EXTRADATA, &side);
        CHECK_EQ_INT(side > 0, i == 0); /* the first frame carries its configuration */
    }
    CHECK_EQ_INT(f.requests, 0);
    CHECK(!depack_waiting_keyframe(d));
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK_EQ_INT(par->codec_id, AV_CODEC_ID_H264);
    CHECK_EQ_INT(par->width, 176);
    CHECK_EQ_INT(par->height, 144);
    CHECK_EQ_INT(par->profile, 66 | FF_PROFILE_H264_CONSTRAINED); /* 42C00B */
    CHECK_EQ_INT(par->format, AV_PIX_FMT_YUV420P);
    CHECK(tb.num == 1 && tb.den == 90000);
    CHECK_EQ_INT(decode(AV_CODEC_ID_H264, par, &f, 176, 144), naus);
    struct depack_stats st;
    depack_stats_get(d, &st);
    CHECK_EQ_INT(st.frames, naus);
    CHECK_EQ_INT(st.dropped_frames, 0);
    frames_free(&f);
    avcodec_parameters_free(&par);
    depack_destroy(&d);
    CHECK(d == NULL);
}

/* Index of an FU-A fragment that is neither the first nor the last of its NAL unit, in the
 * access unit with timestamp ts. */
static int fu_middle(const struct rtp *r, int n, uint32_t ts)
{
    for (int i = 0; i < n; i++)
        if (r[i].ts == ts && (r[i].payload[0] & 0x1f) == 28 && !(r[i].payload[1] & 0xc0))
            return i;
    return -1;
}

static void test_h264_loss(const struct rtp *r, int n, const struct au *aus, int naus)
{
    int mid = fu_middle(r, n, r[0].ts); /* in the first IDR */
    CHECK(mid > 0);
    for (int tell = 0; tell < 2; tell++) { /* told by the caller, or seen in the seq numbers */
        struct depack *d;
        struct depack_params p = {.fmtp = fmtp_h264};
        depack_create(&depack_h264_ops, &p, &d);
        struct frames f = {0};
        run(d, r, n, mid, tell, &f);
        /* the IDR and the 4 frames after it are dropped; the second IDR starts again */
        CHECK_EQ_INT(f.n, naus - 5);
        CHECK(f.n > 0 && f.pkt[0]->size == (int)aus[5].len &&
              memcmp(f.pkt[0]->data, aus[5].avcc, aus[5].len) == 0);
        CHECK(f.n > 0 && (f.pkt[0]->flags & AV_PKT_FLAG_KEY));
        CHECK_EQ_INT(f.requests, 1); /* one PLI for the whole wait */
        struct depack_stats st;
        depack_stats_get(d, &st);
        CHECK_EQ_INT(st.dropped_frames, 5);
        CHECK_EQ_INT(st.keyframe_requests, 1);
        frames_free(&f);
        depack_destroy(&d);
    }
    /* a loss in an inter frame: frames up to the next IDR are dropped */
    int p3 = -1;
    for (int i = 0; i < n && p3 < 0; i++)
        if (r[i].ts == r[0].ts + 3 * 3000)
            p3 = i;
    struct depack *d;
    depack_create(&depack_h264_ops, &(struct depack_params){.fmtp = fmtp_h264}, &d);
    struct frames f = {0};
    run(d, r, n, p3, true, &f);
    CHECK_EQ_INT(f.n, naus - 2); /* frames 3 and 4 */
    CHECK(depack_waiting_keyframe(d) == false);
    frames_free(&f);
    depack_destroy(&d);
}

static void test_h264_no_marker(const struct rtp *r, int n, const struct au *aus, int naus)
{
    /* access units end on a new timestamp too: without markers, each comes out with the next */
    struct depack *d;
    depack_create(&depack_h264_ops, &(struct depack_params){.fmtp = fmtp_h264}, &d);
    struct frames f = {0};
    for (int i = 0; i < n; i++) {
        struct rtp c = r[i];
        c.marker = false;
        push(d, &c, false, &f);
    }
    CHECK_EQ_INT(f.n, naus - 1);
    for (int i = 0; i < f.n; i++)
        CHECK(f.pkt[i]->size == (int)aus[i].len &&
              memcmp(f.pkt[i]->data, aus[i].avcc, aus[i].len) == 0);
    frames_free(&f);
    depack_destroy(&d);
}

static int push_bytes(struct depack *d, const uint8_t *p, size_t n, uint32_t ts, bool marker,
                      uint64_t seq, struct frames *f)
{
    struct rtp r = {.payload = p, .len = n, .ts = ts, .marker = marker, .seq = seq};
    return push(d, &r, false, f);
}

static void test_h264_bad(const struct rtp *r, int n)
{
    struct depack *d;
    CHECK_EQ_INT(depack_create(&depack_h264_ops,
                               &(struct depack_params){.fmtp = "packetization-mode=2"}, &d),
                 -ENOTSUP);
    CHECK(d == NULL);
    depack_create(&depack_h264_ops, &(struct depack_params){.fmtp = fmtp_h264}, &d);
    struct frames f = {0};
    /* the capture's first packet is a STAP-A (delimiter, SPS, PPS, SEI); lengthen its last unit
     * past the end of the packet */
    CHECK_EQ_INT(r[0].payload[0] & 0x1f, 24);
    uint8_t stap[512];
    memcpy(stap, r[0].payload, r[0].len);
    size_t pos = 1, last = 1;
    while (pos < r[0].len) {
        last = pos;
        pos += 2 + (size_t)(stap[pos] << 8 | stap[pos + 1]);
    }
    CHECK_EQ_INT(pos, r[0].len);
    stap[last + 1]++;
    CHECK_EQ_INT(push_bytes(d, stap, r[0].len, 0, false, 1, &f), -EINVAL);
    stap[last + 1]--;
    stap[last] = stap[last + 1] = 0; /* a zero length */
    CHECK_EQ_INT(push_bytes(d, stap, r[0].len, 500, true, 2, &f), -EINVAL);
    CHECK_EQ_INT(f.n, 0);
    CHECK_EQ_INT(f.requests, 1);
    static const uint8_t stap_b[] = {0x19, 0, 1, 0, 2, 0x65, 0x88};
    static const uint8_t mtap16[] = {0x1a, 0, 0};
    static const uint8_t fu_b[] = {0x1d, 0x85, 0, 1, 0x88};
    static const uint8_t fu_se[] = {0x7c, 0xc5, 0x88, 0x84}; /* S and E */
    static const uint8_t forbidden[] = {0xe5, 0x88};
    static const uint8_t fu_no_start[] = {0x7c, 0x05, 0x88, 0x84};
    static const uint8_t type0[] = {0x00, 0x88};
    CHECK_EQ_INT(push_bytes(d, stap_b, sizeof(stap_b), 3000, true, 3, &f), -ENOTSUP);
    CHECK_EQ_INT(push_bytes(d, mtap16, sizeof(mtap16), 6000, true, 4, &f), -ENOTSUP);
    CHECK_EQ_INT(push_bytes(d, fu_b, sizeof(fu_b), 9000, true, 5, &f), -ENOTSUP);
    CHECK_EQ_INT(push_bytes(d, fu_se, sizeof(fu_se), 12000, true, 6, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, forbidden, sizeof(forbidden), 15000, true, 7, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, fu_no_start, sizeof(fu_no_start), 18000, true, 8, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, type0, sizeof(type0), 21000, true, 9, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, type0, 0, 24000, true, 10, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, type0, sizeof(type0), 24000, true, 10, &f), -EALREADY);
    CHECK_EQ_INT(f.n, 0);

    /* an access unit over DEPACK_MAX_FRAME: FU-A fragments of 60000 bytes */
    uint8_t *big = calloc(1, 60002);
    big[0] = 0x7c;
    big[1] = 0x85; /* start, IDR */
    uint64_t seq = 100;
    CHECK_EQ_INT(push_bytes(d, big, 60002, 30000, false, seq++, &f), 0);
    big[1] = 0x05;
    for (int i = 0; i < 80; i++)
        push_bytes(d, big, 60002, 30000, false, seq++, &f);
    big[1] = 0x45;
    CHECK_EQ_INT(push_bytes(d, big, 60002, 30000, true, seq++, &f), 0);
    CHECK_EQ_INT(f.n, 0);
    struct depack_stats st;
    depack_stats_get(d, &st);
    CHECK(st.dropped_frames >= 1);
    free(big);
    /* and the stream goes on at the next IDR */
    for (int i = 0; i < n; i++) {
        struct rtp c = r[i];
        c.seq = seq + (uint64_t)i;
        c.ts += 900000;
        push(d, &c, false, &f);
    }
    CHECK_EQ_INT(f.n, 10);
    frames_free(&f);
    depack_destroy(&d);
}

/* The lost packet was the last of an access unit (a second IDR slice with the marker): the
 * unit is dropped when the next timestamp shows it ended, not handed on with a slice missing. */
static void test_h264_lost_tail(void)
{
    static const uint8_t idr1[] = {0x65, 0x88, 0x80, 0x10}, idr2[] = {0x65, 0x88, 0x40, 0x10};
    static const uint8_t p1[] = {0x41, 0x9a, 0x02};
    struct depack *d;
    depack_create(&depack_h264_ops, &(struct depack_params){.fmtp = fmtp_h264}, &d);
    struct frames f = {0};
    push_bytes(d, idr1, sizeof(idr1), 0, false, 1, &f);
    struct rtp r = {.payload = p1, .len = sizeof(p1), .ts = 3000, .marker = true, .seq = 3};
    push(d, &r, true, &f); /* seq 2 (idr2, the marker) lost */
    CHECK_EQ_INT(f.n, 0);
    CHECK_EQ_INT(f.requests, 1);
    push_bytes(d, idr1, sizeof(idr1), 6000, false, 4, &f);
    push_bytes(d, idr2, sizeof(idr2), 6000, true, 5, &f);
    CHECK_EQ_INT(f.n, 1);
    CHECK(f.n == 1 && f.pkt[0]->size == 16 && (f.pkt[0]->flags & AV_PKT_FLAG_KEY));
    frames_free(&f);
    depack_destroy(&d);
}

static void test_h264(void)
{
    struct rtp r[MAX_PKTS];
    int n = load_rtp(DATA "h264.rtp", r);
    struct au aus[16];
    uint8_t sps[256], pps[256];
    size_t sps_len = 0, pps_len = 0;
    int naus = load_h264(aus, 16, sps, &sps_len, pps, &pps_len);
    CHECK_EQ_INT(naus, 10);
    CHECK(aus[0].idr && aus[5].idr && !aus[1].idr);
    bool fu = false, stap = false, single = false;
    for (int i = 0; i < n; i++) {
        int t = r[i].payload[0] & 0x1f;
        fu |= t == 28;
        stap |= t == 24;
        single |= t < 24;
    }
    CHECK(fu && stap && single); /* the capture exercises every packet type we take */

    /* the avcC: from the SPS/PPS of the source, equal to what the depacketizer gives */
    uint8_t *avcc;
    int avcc_len;
    CHECK_EQ_INT(h264_avcc_build(sps, sps_len, pps, pps_len, &avcc, &avcc_len), 0);
    CHECK_EQ_INT(avcc_len, 6 + 2 + (int)sps_len + 1 + 2 + (int)pps_len);
    CHECK(avcc[0] == 1 && avcc[1] == 66 && avcc[4] == 0xff && avcc[5] == 0xe1);
    struct depack *d;
    depack_create(&depack_h264_ops, &(struct depack_params){.fmtp = fmtp_h264}, &d);
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVRational tb;
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK(par->extradata_size == avcc_len && memcmp(par->extradata, avcc, avcc_len) == 0);
    avcodec_parameters_free(&par);
    depack_destroy(&d);
    av_free(avcc);
    CHECK_EQ_INT(h264_avcc_build(sps, 3, pps, pps_len, &avcc, &avcc_len), -EINVAL);

    test_h264_clip(r, n, aus, naus, fmtp_h264);
    test_h264_clip(r, n, aus, naus, NULL); /* SPS/PPS in band only */
    test_h264_loss(r, n, aus, naus);
    test_h264_no_marker(r, n, aus, naus);
    test_h264_bad(r, n);
    test_h264_lost_tail();
    for (int i = 0; i < naus; i++)
        free(aus[i].avcc);
    free_rtp(r, n);
}

/* ---- VP8 ---- */

static int load_ivf(uint8_t **frames, size_t *lens, int max)
{
    size_t n;
    uint8_t *d = slurp(DATA "vp8.ivf", &n);
    size_t pos = d[6] | (size_t)d[7] << 8;
    int count = 0;
    while (pos + 12 <= n && count < max) {
        size_t len = d[pos] | (size_t)d[pos + 1] << 8 | (size_t)d[pos + 2] << 16;
        frames[count] = malloc(len);
        memcpy(frames[count], d + pos + 12, len);
        lens[count++] = len;
        pos += 12 + len;
    }
    free(d);
    return count;
}

static void test_vp8_descriptors(uint8_t *key, size_t key_len)
{
    /* one keyframe in one packet, under each descriptor shape */
    static const uint8_t descs[][6] = {
        {1, 0x10},                         /* no extension */
        {2, 0x90, 0x00},                   /* X, no fields */
        {3, 0x90, 0x80, 0x05},             /* 7-bit PictureID */
        {4, 0x90, 0x80, 0x81, 0x23},       /* 15-bit PictureID */
        {5, 0x90, 0xf0, 0x12, 0x07, 0x40}, /* I (7-bit), L, T and K */
    };
    struct depack *d;
    depack_create(&depack_vp8_ops, NULL, &d);
    uint8_t *pkt = malloc(key_len + 8);
    struct frames f = {0};
    for (int i = 0; i < 5; i++) {
        int hl = descs[i][0];
        memcpy(pkt, descs[i] + 1, (size_t)hl);
        memcpy(pkt + hl, key, key_len);
        CHECK_EQ_INT(
            push_bytes(d, pkt, key_len + (size_t)hl, (uint32_t)i * 3000, true, (uint64_t)i, &f), 0);
    }
    CHECK_EQ_INT(f.n, 5);
    for (int i = 0; i < f.n; i++)
        CHECK(f.pkt[i]->size == (int)key_len && memcmp(f.pkt[i]->data, key, key_len) == 0);
    /* truncated descriptors */
    static const uint8_t x_only[] = {0x90};
    static const uint8_t pid_cut[] = {0x90, 0x80, 0x81};
    static const uint8_t no_payload[] = {0x90, 0x80, 0x05};
    CHECK_EQ_INT(push_bytes(d, x_only, 1, 90000, true, 5, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, pid_cut, 3, 93000, true, 6, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, no_payload, 3, 96000, true, 7, &f), -EINVAL);
    /* scaling bits: 2x wide, 5/4 high -> the sample aspect ratio */
    memcpy(pkt, "\x10", 1);
    memcpy(pkt + 1, key, key_len);
    pkt[1 + 7] |= 0xc0;
    pkt[1 + 9] |= 0x40;
    CHECK_EQ_INT(push_bytes(d, pkt, key_len + 1, 99000, true, 8, &f), 0);
    CHECK(f.n == 6 && f.pkt[5]->flags & AV_PKT_FLAG_KEY);
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVRational tb;
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK(par->sample_aspect_ratio.num == 8 && par->sample_aspect_ratio.den == 5);
    /* a keyframe whose start code is wrong is dropped */
    pkt[1 + 3] = 0;
    push_bytes(d, pkt, key_len + 1, 102000, true, 9, &f);
    CHECK_EQ_INT(f.n, 6);
    CHECK_EQ_INT(f.requests, 1);
    /* a keyframe over DEPACK_MAX_FRAME (70 x 60000 bytes) is dropped, the next one taken */
    uint8_t *big = calloc(1, 60001);
    big[0] = 0x10;
    memcpy(big + 1, key, key_len);
    push_bytes(d, big, 60001, 105000, false, 10, &f);
    big[0] = 0x00;
    for (int i = 0; i < 70; i++)
        push_bytes(d, big, 60001, 105000, i == 69, 11 + (uint64_t)i, &f);
    CHECK_EQ_INT(f.n, 6);
    memcpy(pkt, "\x10", 1);
    memcpy(pkt + 1, key, key_len);
    CHECK_EQ_INT(push_bytes(d, pkt, key_len + 1, 108000, true, 81, &f), 0);
    CHECK_EQ_INT(f.n, 7);
    free(big);
    avcodec_parameters_free(&par);
    free(pkt);
    frames_free(&f);
    depack_destroy(&d);
}

static void test_vp8(void)
{
    struct rtp r[MAX_PKTS];
    int n = load_rtp(DATA "vp8.rtp", r);
    uint8_t *src[16];
    size_t lens[16];
    int nsrc = load_ivf(src, lens, 16);
    CHECK_EQ_INT(nsrc, 10);
    struct depack *d;
    CHECK_EQ_INT(depack_create(depack_ops_find("vp8"), NULL, &d), 0);
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVRational tb;
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), -EAGAIN);
    struct frames f = {0};
    run(d, r, n, -1, false, &f);
    CHECK_EQ_INT(f.nerrors, 0);
    CHECK_EQ_INT(f.n, nsrc);
    for (int i = 0; i < f.n && i < nsrc; i++) {
        CHECK(f.pkt[i]->size == (int)lens[i] && memcmp(f.pkt[i]->data, src[i], lens[i]) == 0);
        CHECK_EQ_INT(!!(f.pkt[i]->flags & AV_PKT_FLAG_KEY), i == 0 || i == 5);
    }
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK_EQ_INT(par->codec_id, AV_CODEC_ID_VP8);
    CHECK_EQ_INT(par->width, 176);
    CHECK_EQ_INT(par->height, 144);
    CHECK(tb.num == 1 && tb.den == 90000);
    CHECK_EQ_INT(decode(AV_CODEC_ID_VP8, par, &f, 176, 144), nsrc);
    frames_free(&f);
    depack_destroy(&d);

    /* the first packet of the first inter frame sent in two packets lost (frame 2 in the
     * capture): its second packet has no start to join, and frames 2-4 are dropped */
    int lost = -1;
    for (int i = 1; i + 1 < n && lost < 0; i++)
        if (r[i].ts == r[i + 1].ts && r[i].ts != r[0].ts)
            lost = i;
    CHECK(lost > 0);
    for (int tell = 0; tell < 2; tell++) {
        depack_create(&depack_vp8_ops, NULL, &d);
        run(d, r, n, lost, tell, &f);
        CHECK_EQ_INT(f.n, nsrc - 3);
        CHECK_EQ_INT(f.requests, 1);
        CHECK(f.n > 2 && f.pkt[2]->size == (int)lens[5] &&
              memcmp(f.pkt[2]->data, src[5], lens[5]) == 0);
        CHECK_EQ_INT(f.nerrors, 0);
        frames_free(&f);
        depack_destroy(&d);
    }

    test_vp8_descriptors(src[0], lens[0]);
    for (int i = 0; i < nsrc; i++)
        free(src[i]);
    avcodec_parameters_free(&par);
    free_rtp(r, n);
}

/* ---- Opus ---- */

static void test_opus_mp4(const AVCodecParameters *par, bool want_ok)
{
    AVFormatContext *fmt = NULL;
    avformat_alloc_output_context2(&fmt, NULL, "mp4", NULL);
    AVStream *st = avformat_new_stream(fmt, NULL);
    avcodec_parameters_copy(st->codecpar, par);
    st->time_base = (AVRational){1, 48000};
    avio_open_dyn_buf(&fmt->pb);
    av_log_set_level(AV_LOG_FATAL);
    AVDictionary *opts = NULL; /* the moov at once, as media/fmp4.c writes it */
    av_dict_set(&opts, "movflags", "cmaf+frag_custom+empty_moov+default_base_moof", 0);
    int rc = avformat_write_header(fmt, &opts);
    av_dict_free(&opts);
    av_log_set_level(AV_LOG_INFO);
    CHECK_EQ_INT(rc >= 0, want_ok);
    uint8_t *out;
    avio_close_dyn_buf(fmt->pb, &out);
    av_free(out);
    fmt->pb = NULL;
    avformat_free_context(fmt);
}

/* Decodes f's packets with par; the frames decoded, each with channels channels. */
static int decode_audio(const AVCodecParameters *par, const struct frames *f, int channels)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_OPUS);
    AVCodecContext *c = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(c, par);
    AVFrame *frame = av_frame_alloc();
    int good = 0;
    if (avcodec_open2(c, codec, NULL) == 0) {
        for (int i = 0; i < f->n; i++) {
            if (avcodec_send_packet(c, f->pkt[i]) < 0)
                break;
            while (avcodec_receive_frame(c, frame) == 0) {
                good += frame->ch_layout.nb_channels == channels && frame->nb_samples == 960;
                av_frame_unref(frame);
            }
        }
    }
    av_frame_free(&frame);
    avcodec_free_context(&c);
    return good;
}

/* The channel count left to the stream: the first packet's TOC s bit decides. A stereo stream
 * decoded as mono (the caller said 1) is downmixed by the decoder, every frame kept. */
static void test_opus_channels(const struct rtp *r, int n)
{
    struct depack *d;
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVRational tb;
    CHECK_EQ_INT(depack_create(&depack_opus_ops, &(struct depack_params){.channels = 0}, &d), 0);
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), -EAGAIN); /* unknown before the first packet */
    struct frames f = {0};
    run(d, r, n, -1, false, &f);
    CHECK(r[0].payload[0] & 0x4); /* the clip is libopus stereo */
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK_EQ_INT(par->ch_layout.nb_channels, 2);
    CHECK_EQ_INT(par->extradata[9], 2);
    frames_free(&f);
    depack_destroy(&d);
    avcodec_parameters_free(&par);

    par = avcodec_parameters_alloc();
    CHECK_EQ_INT(depack_create(&depack_opus_ops, &(struct depack_params){.channels = 1}, &d), 0);
    f = (struct frames){0};
    run(d, r, n, -1, false, &f);
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK_EQ_INT(par->ch_layout.nb_channels, 1);
    CHECK_EQ_INT(decode_audio(par, &f, 1), n); /* stereo packets, mono out, none lost */
    frames_free(&f);
    depack_destroy(&d);
    avcodec_parameters_free(&par);

    /* a mono first packet (CELT FB 20 ms, s = 0, code 0): mono */
    static const uint8_t mono[] = {0xf8, 0xff, 0xfe};
    par = avcodec_parameters_alloc();
    depack_create(&depack_opus_ops, NULL, &d);
    f = (struct frames){0};
    CHECK_EQ_INT(push_bytes(d, mono, 3, 0, true, 100, &f), 0);
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK_EQ_INT(par->ch_layout.nb_channels, 1);
    size_t side = 0;
    const uint8_t *head = f.n ? av_packet_get_side_data(f.pkt[0], AV_PKT_DATA_NEW_EXTRADATA,
                                                          &side) : NULL;
    CHECK(side == 19 && head && head[9] == 1);
    frames_free(&f);
    depack_destroy(&d);
    avcodec_parameters_free(&par);
}

static void test_opus(void)
{
    struct rtp r[MAX_PKTS];
    int n = load_rtp(DATA "opus.rtp", r);
    CHECK(n >= 10); /* 0.2 s of 20 ms packets, and the encoder's flush */
    struct depack *d;
    CHECK_EQ_INT(depack_create(depack_ops_find("OPUS"), &(struct depack_params){.channels = 2}, &d),
                 0);
    struct frames f = {0};
    run(d, r, n, -1, false, &f);
    CHECK_EQ_INT(f.n, n);
    for (int i = 0; i < f.n; i++) {
        CHECK(f.pkt[i]->size == (int)r[i].len &&
              memcmp(f.pkt[i]->data, r[i].payload, r[i].len) == 0);
        CHECK(f.pkt[i]->flags & AV_PKT_FLAG_KEY);
        CHECK_EQ_INT(f.pkt[i]->pts, r[i].ts);
    }
    size_t side = 0;
    const uint8_t *head = av_packet_get_side_data(f.pkt[0], AV_PKT_DATA_NEW_EXTRADATA, &side);
    CHECK(side == 19 && head &&
          memcmp(head, "OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00", 19) == 0);
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVRational tb;
    CHECK_EQ_INT(depack_codecpar(d, par, &tb), 0);
    CHECK_EQ_INT(par->codec_id, AV_CODEC_ID_OPUS);
    CHECK_EQ_INT(par->sample_rate, 48000);
    CHECK_EQ_INT(par->ch_layout.nb_channels, 2);
    CHECK_EQ_INT(par->extradata_size, 19);
    CHECK(tb.num == 1 && tb.den == 48000);
    CHECK_EQ_INT(decode(AV_CODEC_ID_OPUS, par, &f, 0, 0), n);
    test_opus_mp4(par, true); /* FFmpeg's mp4 muxer takes the OpusHead (dOps) ... */
    av_freep(&par->extradata);
    par->extradata_size = 0;
    test_opus_mp4(par, false); /* ... and refuses Opus without one */
    frames_free(&f);

    run(d, r, n, -1, false, &f); /* old sequence numbers: ignored */
    CHECK_EQ_INT(f.n, 0);
    CHECK_EQ_INT(f.nerrors, 8);
    CHECK_EQ_INT(f.errors[0], -EALREADY);
    depack_destroy(&d);
    /* a loss loses only the lost packet: no keyframe to wait for */
    depack_create(&depack_opus_ops, NULL, &d);
    f = (struct frames){0};
    run(d, r, n, 3, true, &f);
    CHECK_EQ_INT(f.n, n - 1);
    CHECK_EQ_INT(f.requests, 0);
    CHECK(!depack_waiting_keyframe(d));
    frames_free(&f);
    static const uint8_t code1_odd[] = {0xfd, 1, 2, 3}; /* code 1: two frames of 1.5 bytes */
    static const uint8_t code2_long[] = {0xfe, 5, 1};   /* code 2: first frame past the end */
    static const uint8_t code3_none[] = {0xff, 0x00};   /* code 3: no frame */
    static const uint8_t code3_long[] = {0x1b, 0x07};   /* code 3: 7 x 60 ms SILK */
    static const uint8_t fine[] = {0xfc, 0xff, 0xfe};
    f = (struct frames){0};
    CHECK_EQ_INT(push_bytes(d, fine, 0, 0, true, 5000, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, code1_odd, 4, 0, true, 5001, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, code2_long, 3, 0, true, 5002, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, code3_none, 2, 0, true, 5003, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, code3_long, 2, 0, true, 5004, &f), -EINVAL);
    CHECK_EQ_INT(push_bytes(d, fine, 3, 960, true, 5010, &f), 0);
    CHECK_EQ_INT(f.n, 1);
    CHECK_EQ_INT(f.requests, 0);
    frames_free(&f);
    avcodec_parameters_free(&par);
    depack_destroy(&d);
    CHECK_EQ_INT(depack_create(&depack_opus_ops, &(struct depack_params){.channels = 3}, &d),
                 -EINVAL);
    test_opus_channels(r, n);
    free_rtp(r, n);
}

int main(void)
{
    CHECK(depack_ops_find("h264") == &depack_h264_ops);
    CHECK(depack_ops_find("VP9") == NULL);
    test_h264();
    test_vp8();
    test_opus();
    return test_report("test_depack");
}
