/* rtc/sdp: real offers parsed, codec choice, answers parsed back, trickle fragments, and the
 * bad input of RELIABILITY.md item 23 (each a test). Every parse goes through a heap copy of
 * exactly the input's length with no NUL after it, so ASan catches any read past the end. */
#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "rtc/sdp.h"
#include "sdp_offers.h"
#include "test.h"

static char err[SDP_ERR_LEN];

/* LF text to CRLF (what browsers send), in a heap buffer of exactly *len bytes. */
static char *crlf(const char *s, size_t *len)
{
    size_t n = strlen(s), lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    char *out = xmalloc(n + lines + 1), *p = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            *p++ = '\r';
        *p++ = s[i];
    }
    *len = (size_t)(p - out);
    return out;
}

static int parse_n(const char *s, size_t n, struct sdp_offer **o)
{
    char *copy = xmalloc(n ? n : 1);
    memcpy(copy, s, n);
    int rc = sdp_offer_parse(copy, n, o, err, sizeof err);
    free(copy);
    return rc;
}

static struct sdp_offer *parse_ok(const char *lf)
{
    size_t n;
    char *s = crlf(lf, &n);
    struct sdp_offer *o = NULL;
    int rc = parse_n(s, n, &o);
    free(s);
    if (rc)
        fprintf(stderr, "parse failed: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    return o;
}

/* Parses `lf` (CRLF'd) expecting failure with rc and a reason containing `want`. */
static void bad(const char *lf, int want_rc, const char *want)
{
    size_t n;
    char *s = crlf(lf, &n);
    struct sdp_offer *o = (struct sdp_offer *)1;
    int rc = parse_n(s, n, &o);
    free(s);
    CHECK_EQ_INT(rc, want_rc);
    CHECK(o == NULL);
    if (!strstr(err, want))
        fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", err, want);
    CHECK(strstr(err, want) != NULL);
}

static const struct sdp_codec *codec(const struct sdp_media *m, unsigned pt)
{
    for (size_t i = 0; i < m->n_pts; i++)
        if (m->pts[i] == pt)
            return &m->codecs[i];
    return NULL;
}

static int ext_id(const struct sdp_media *m, const char *uri)
{
    return sdp_media_extmap_id(m, uri);
}

static const struct sdp_local_candidate local_cand[] = {
    {"192.0.2.10", 8443, SDP_TRANSPORT_UDP},
    {"2001:db8::10", 8443, SDP_TRANSPORT_UDP},
    {"192.0.2.10", 8443, SDP_TRANSPORT_TCP},
};
static const struct sdp_local local = {
    .ice_ufrag = "kbtk",
    .ice_pwd = "0123456789abcdefghijklmn",
    .fingerprint = "sha-256 " FP_HEX,
    .session_id = 7,
    .cand = local_cand,
    .n_cand = 3,
    .end_of_candidates = true,
};

/* Chooses every m-line, writes the answer, parses it back. */
static struct sdp_offer *answer_of(const struct sdp_offer *o, struct sdp_choice *c, bool send,
                                   struct buf *b)
{
    for (size_t i = 0; i < o->n_media; i++) {
        sdp_choose(o, i, &c[i]);
        if (send && c[i].accept) {
            c[i].ssrc = 1000 + (uint32_t)i;
            c[i].rtx_ssrc = c[i].rtx_pt >= 0 ? 2000 + (uint32_t)i : 0;
            strcpy(c[i].cname, "kibitka");
            snprintf(c[i].msid, sizeof c[i].msid, "live track%zu", i);
        }
    }
    buf_init(b);
    int rc = sdp_answer_write(o, c, &local, b, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc)
        fprintf(stderr, "answer: %s\n", err);
    buf_append(b, "", 1);
    struct sdp_offer *a = NULL;
    CHECK_EQ_INT(parse_n((char *)buf_head(b), buf_size(b) - 1, &a), 0);
    return a;
}

static void test_chrome_h264(void)
{
    struct sdp_offer *o = parse_ok(chrome_h264);
    if (!o)
        return;
    CHECK_EQ_INT(o->n_media, 2);
    CHECK(o->has_bundle && o->n_bundle == 2);
    CHECK_STREQ(o->msid_semantic, "WMS");
    const struct sdp_media *a = &o->media[0], *v = &o->media[1];
    CHECK_EQ_INT(a->kind, SDP_KIND_AUDIO);
    CHECK_EQ_INT(a->proto, SDP_PROTO_UDP_SAVPF);
    CHECK_STREQ(a->mid, "0");
    CHECK_EQ_INT(a->dir, SDP_DIR_SENDONLY);
    CHECK_STREQ(a->ice_ufrag, "EsAw");
    CHECK_STREQ(a->ice_pwd, "bP+XJMM09aR8AiX1jdukzR6Y");
    CHECK(a->ice_trickle && a->rtcp_mux && a->rtcp_rsize && a->end_of_candidates);
    CHECK_EQ_INT(a->setup, SDP_SETUP_ACTPASS);
    const struct sdp_fingerprint *fp = sdp_media_fingerprint(a, "sha-256");
    CHECK(fp && fp->len == 32 && fp->bytes[0] == 0xDA && fp->bytes[31] == 0x8D);
    CHECK_EQ_INT(a->n_pts, 8);
    const struct sdp_codec *opus = codec(a, 111);
    CHECK(opus && strcmp(opus->name, "opus") == 0 && opus->clock == 48000 && opus->channels == 2);
    CHECK(opus && opus->fmtp.minptime == 10 && opus->fmtp.useinbandfec == 1);
    CHECK(opus && opus->fmtp.sprop_stereo == -1); /* Chromium: absent, a mono microphone */
    CHECK(opus && opus->fb == SDP_FB_TRANSPORT_CC);
    CHECK_EQ_INT(ext_id(a, SDP_EXT_AUDIO_LEVEL), 1);
    CHECK_EQ_INT(ext_id(a, "urn:nothing"), -1);
    CHECK_EQ_INT(a->n_ssrcs, 1);
    CHECK_EQ_INT(a->ssrcs[0].id, 3485940486u);
    CHECK_STREQ(a->ssrcs[0].cname, "Q/NWs1ao1HmN4Xa5");
    CHECK_STREQ(a->ssrcs[0].msid, "- d46fb922-d52a-4e9c-aa87-444eadc1521b");
    CHECK_STREQ(a->msid, "- d46fb922-d52a-4e9c-aa87-444eadc1521b");
    /* candidates: IPv4 host, mDNS host, TCP active, srflx with raddr, IPv6 */
    CHECK_EQ_INT(a->n_cand, 5);
    CHECK_EQ_INT(a->cand_dropped, 0);
    CHECK_STREQ(a->cand[0].foundation, "1387637174");
    CHECK_EQ_INT(a->cand[0].priority, 2122260223u);
    CHECK_EQ_INT(a->cand[0].port, 61764);
    CHECK_EQ_INT(a->cand[1].addr_kind, SDP_ADDR_MDNS);
    CHECK_EQ_INT(a->cand[2].transport, SDP_TRANSPORT_TCP);
    CHECK_EQ_INT(a->cand[2].tcptype, SDP_TCPTYPE_ACTIVE);
    CHECK_EQ_INT(a->cand[3].type, SDP_CAND_SRFLX);
    CHECK(a->cand[3].has_raddr && strcmp(a->cand[3].raddr, "192.0.2.1") == 0);
    CHECK_EQ_INT(a->cand[3].rport, 61764);
    CHECK_EQ_INT(a->cand[4].addr_kind, SDP_ADDR_V6);

    CHECK_EQ_INT(v->kind, SDP_KIND_VIDEO);
    CHECK_EQ_INT(v->n_pts, 17);
    CHECK_EQ_INT(v->n_extmaps, 11);
    const struct sdp_codec *h = codec(v, 106);
    CHECK(h && h->fmtp.packetization_mode == 1 && h->fmtp.profile_level_id == 0x42e01f);
    CHECK(h && h->fmtp.level_asymmetry_allowed == 1);
    CHECK(h && h->fb == (SDP_FB_NACK | SDP_FB_NACK_PLI | SDP_FB_CCM_FIR | SDP_FB_GOOG_REMB |
                         SDP_FB_TRANSPORT_CC));
    CHECK(codec(v, 107) && codec(v, 107)->fmtp.apt == 106);
    CHECK_EQ_INT(v->n_fid, 1);
    CHECK_EQ_INT(v->fid[0][0], 2231627014u);
    CHECK_EQ_INT(v->fid[0][1], 632943048u);

    struct sdp_choice c;
    CHECK_EQ_INT(sdp_choose(o, 0, &c), 0);
    CHECK(c.accept && c.n_pt == 1 && c.pt[0] == 111 && c.rtx_pt == -1);
    CHECK_EQ_INT(c.dir, SDP_DIR_RECVONLY);
    CHECK_EQ_INT(c.fb, 0);         /* only transport-cc was offered for opus */
    CHECK_EQ_INT(c.ext_keep, 0xb); /* audio-level, abs-send-time, mid; not transport-cc (3) */
    CHECK_EQ_INT(sdp_choose(o, 1, &c), 0);
    CHECK(c.accept && c.n_pt == 2 && c.pt[0] == 106 && c.pt[1] == 107 && c.rtx_pt == 107);
    CHECK_EQ_INT(c.fb, SDP_FB_NACK | SDP_FB_NACK_PLI | SDP_FB_GOOG_REMB);
    CHECK_EQ_INT(c.ext_keep, (1u << 1) | (1u << 8)); /* abs-send-time, mid */
    CHECK_EQ_INT(sdp_choose(o, 2, &c), -ENOTSUP);
    sdp_offer_free(&o);
    CHECK(o == NULL);
}

static bool h264_pt_ok(const struct sdp_offer *o, unsigned pt)
{
    const struct sdp_codec *k = codec(&o->media[1], pt);
    return k && strcmp(k->name, "H264") == 0 && k->fmtp.packetization_mode == 1;
}
/* Real captures from Chromium 156: the WHIP one picks 102 (42001f, pm 1) and its RTX 103; the
 * WHEP one has 34 video payload types (more than the 32 first planned) and is answered sendonly. */
static void test_chromium156(void)
{
    struct sdp_offer *o = parse_ok(chromium156_whip);
    struct sdp_choice c;
    if (o) {
        CHECK(o->media[0].n_cand >= 1 && o->media[0].cand[0].addr_kind == SDP_ADDR_MDNS);
        CHECK_EQ_INT(sdp_choose(o, 1, &c), 0);
        CHECK(c.pt[0] == 102 && c.rtx_pt == 103);
        CHECK_EQ_INT(c.dir, SDP_DIR_RECVONLY);
        CHECK_EQ_INT(sdp_choose(o, 0, &c), 0);
        CHECK_EQ_INT(c.pt[0], 111);
        sdp_offer_free(&o);
    }
    o = parse_ok(chromium156_whep);
    if (o) {
        CHECK_EQ_INT(o->media[1].n_pts, 34);
        CHECK_EQ_INT(sdp_choose(o, 1, &c), 0);
        CHECK_EQ_INT(c.dir, SDP_DIR_SENDONLY);
        CHECK(h264_pt_ok(o, c.pt[0]));
        sdp_offer_free(&o);
    }
}

static void test_chrome_vp8_lf(void)
{
    /* As written (LF only) rather than CRLF. */
    struct sdp_offer *o = NULL;
    CHECK_EQ_INT(parse_n(chrome_vp8, strlen(chrome_vp8), &o), 0);
    if (!o)
        return;
    struct sdp_choice c;
    CHECK_EQ_INT(sdp_choose(o, 1, &c), 0);
    CHECK(c.pt[0] == 96 && c.rtx_pt == 97 && c.n_pt == 2);
    sdp_offer_free(&o);
}

static void test_h264_order(void)
{
    /* pm=0 and unsupported profiles are skipped; the first acceptable in offer order wins. */
    static const char *const cases[][2] = {
        {"a=fmtp:96 packetization-mode=0;profile-level-id=42e01f\n"
         "a=fmtp:98 packetization-mode=1;profile-level-id=f4001f\n"
         "a=fmtp:100 packetization-mode=1;profile-level-id=4d001f\n",
         "100"},
        {"a=fmtp:96 packetization-mode=1;profile-level-id=640032\n", "96"},
        {"a=fmtp:96 packetization-mode=1\n", "96"}, /* no profile-level-id: baseline */
        {"a=fmtp:96 packetization-mode=1;profile-level-id=58001f\n", "102"}, /* extended: VP8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sdp[2048];
        snprintf(sdp, sizeof sdp,
                 "v=0\na=group:BUNDLE v\na=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\n"
                 "a=fingerprint:sha-256 %s\nm=video 9 UDP/TLS/RTP/SAVPF 96 98 100 102\n"
                 "a=mid:v\na=rtcp-mux\na=sendonly\na=rtpmap:96 H264/90000\n"
                 "a=rtpmap:98 H264/90000\na=rtpmap:100 H264/90000\na=rtpmap:102 VP8/90000\n%s",
                 FP_HEX, cases[i][0]);
        struct sdp_offer *o = parse_ok(sdp);
        struct sdp_choice c;
        if (!o)
            continue;
        CHECK_EQ_INT(sdp_choose(o, 0, &c), 0);
        CHECK_EQ_INT(c.pt[0], atoi(cases[i][1]));
        sdp_offer_free(&o);
    }
}

static void test_gstreamer(void)
{
    struct sdp_offer *o = parse_ok(gst_offer);
    if (!o)
        return;
    CHECK_STREQ(o->media[0].mid, "video0");
    CHECK(o->media[0].ice_trickle); /* from the session level */
    const struct sdp_codec *h = codec(&o->media[0], 96);
    CHECK(h && h->fmtp.sprop &&
          strcmp(h->fmtp.sprop, "Z0LAH9kAUAW7ARAAAAMAEAAAAwPA8YMkgA==,aMuDyyA=") == 0);
    CHECK_EQ_INT(o->media[0].n_cand, 3);
    CHECK_EQ_INT(o->media[0].cand[2].tcptype, SDP_TCPTYPE_PASSIVE);
    CHECK_EQ_INT(codec(&o->media[1], 97)->fmtp.sprop_stereo, 0);
    CHECK_STREQ(o->media[0].ssrcs[0].msid, "user3463138427@host-ab5d8c5c webrtctransceiver0");
    struct sdp_choice c;
    CHECK_EQ_INT(sdp_choose(o, 0, &c), 0);
    CHECK(c.pt[0] == 96 && c.rtx_pt == -1 && c.fb == (SDP_FB_NACK | SDP_FB_NACK_PLI));
    CHECK_EQ_INT(c.ext_keep, 0);
    CHECK_EQ_INT(sdp_choose(o, 1, &c), 0); /* "OPUS" */
    CHECK_EQ_INT(c.pt[0], 97);
    struct buf b;
    struct sdp_choice cs[SDP_MAX_MEDIA];
    struct sdp_offer *a = answer_of(o, cs, false, &b);
    CHECK(strstr((char *)buf_head(&b), "a=group:BUNDLE video0 audio1\r\n") != NULL);
    CHECK(strstr((char *)buf_head(&b), "a=rtpmap:97 OPUS/48000/2\r\n") != NULL);
    sdp_offer_free(&a);
    buf_free(&b);
    sdp_offer_free(&o);
}

static void test_obs(void)
{
    struct sdp_offer *o = parse_ok(obs_offer);
    if (!o)
        return;
    CHECK(o->media[0].ice_trickle);                                /* "ice2,trickle" */
    CHECK(sdp_media_fingerprint(&o->media[1], "sha-256") != NULL); /* session level */
    CHECK_STREQ(o->msid_semantic, "WMS *");
    CHECK_EQ_INT(codec(&o->media[0], 111)->fmtp.stereo, 1);
    CHECK_EQ_INT(codec(&o->media[0], 111)->fmtp.sprop_stereo, 1); /* OBS sends stereo */
    struct sdp_choice c;
    CHECK_EQ_INT(sdp_choose(o, 1, &c), 0);
    CHECK(c.pt[0] == 96 && c.fb == (SDP_FB_NACK | SDP_FB_NACK_PLI | SDP_FB_GOOG_REMB));
    sdp_offer_free(&o);
}

static void test_werift(void)
{
    struct sdp_offer *o = parse_ok(werift_offer);
    if (!o)
        return;
    CHECK_EQ_INT(o->media[0].n_cand, 2);
    CHECK(o->media[0].end_of_candidates);
    struct sdp_choice c;
    CHECK_EQ_INT(sdp_choose(o, 1, &c), 0);
    CHECK_EQ_INT(c.pt[0], 97);
    sdp_offer_free(&o);
}

/* WHIP: sendonly publish answered recvonly, parsed back. */
static void test_answer_whip(void)
{
    struct sdp_offer *o = parse_ok(chrome_h264);
    if (!o)
        return;
    struct sdp_choice c[SDP_MAX_MEDIA];
    struct buf b;
    struct sdp_offer *a = answer_of(o, c, false, &b);
    const char *text = (const char *)buf_head(&b);
    CHECK(strstr(text, "transport-cc") == NULL);
    CHECK(strstr(text, "ccm fir") == NULL);
    CHECK(strstr(text, "a=candidate:1 1 udp 2130706431 192.0.2.10 8443 typ host\r\n") != NULL);
    CHECK(strstr(text, "typ host tcptype passive\r\n") != NULL);
    CHECK(strstr(text, "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;"
                       "profile-level-id=42e01f\r\n") != NULL);
    CHECK(strstr(text, "a=fmtp:107 apt=106\r\n") != NULL);
    if (a) {
        CHECK(a->ice_lite);
        CHECK_EQ_INT(a->n_media, 2);
        CHECK(a->n_bundle == 2 && strcmp(a->bundle[0], "0") == 0);
        const struct sdp_media *am = &a->media[0], *vm = &a->media[1];
        CHECK_STREQ(am->mid, "0");
        CHECK_STREQ(vm->mid, "1");
        CHECK_EQ_INT(am->dir, SDP_DIR_RECVONLY);
        CHECK_EQ_INT(vm->dir, SDP_DIR_RECVONLY);
        CHECK_EQ_INT(am->setup, SDP_SETUP_PASSIVE);
        CHECK(am->rtcp_mux && am->rtcp_rsize && am->end_of_candidates);
        CHECK_STREQ(am->ice_ufrag, "kbtk");
        CHECK_EQ_INT(am->port, 9);
        CHECK(am->n_pts == 1 && am->pts[0] == 111);
        CHECK(vm->n_pts == 2 && vm->pts[0] == 106 && vm->pts[1] == 107);
        CHECK_EQ_INT(codec(vm, 106)->fb, SDP_FB_NACK | SDP_FB_NACK_PLI | SDP_FB_GOOG_REMB);
        CHECK_EQ_INT(ext_id(am, SDP_EXT_AUDIO_LEVEL), 1);
        CHECK_EQ_INT(ext_id(am, SDP_EXT_MID), 4);
        CHECK_EQ_INT(ext_id(vm, SDP_EXT_ABS_SEND_TIME), 2);
        CHECK_EQ_INT(vm->n_extmaps, 2);
        CHECK_EQ_INT(am->n_cand, 3);
        CHECK_EQ_INT(am->cand[1].addr_kind, SDP_ADDR_V6);
        CHECK_EQ_INT(am->cand[2].priority, sdp_candidate_priority(SDP_TRANSPORT_TCP, 2, 1));
        CHECK_EQ_INT(am->n_ssrcs, 0);
        sdp_offer_free(&a);
    }
    buf_free(&b);
    sdp_offer_free(&o);
}

/* WHEP: recvonly viewer answered sendonly, with our SSRCs, msid and the RTX FID group. */
static void test_answer_whep(void)
{
    char sdp[sizeof chrome_h264];
    strcpy(sdp, chrome_h264);
    for (char *p; (p = strstr(sdp, "a=sendonly"));)
        memcpy(p, "a=recvonly", 10);
    struct sdp_offer *o = parse_ok(sdp);
    if (!o)
        return;
    struct sdp_choice c[SDP_MAX_MEDIA];
    struct buf b;
    struct sdp_offer *a = answer_of(o, c, true, &b);
    if (a) {
        const struct sdp_media *vm = &a->media[1];
        CHECK_EQ_INT(a->media[0].dir, SDP_DIR_SENDONLY);
        CHECK_EQ_INT(vm->dir, SDP_DIR_SENDONLY);
        CHECK_STREQ(a->media[0].msid, "live track0");
        CHECK_EQ_INT(a->media[0].n_ssrcs, 1);
        CHECK_EQ_INT(a->media[0].ssrcs[0].id, 1000);
        CHECK_STREQ(a->media[0].ssrcs[0].cname, "kibitka");
        CHECK_EQ_INT(vm->n_ssrcs, 2);
        CHECK(vm->n_fid == 1 && vm->fid[0][0] == 1001 && vm->fid[0][1] == 2001);
        CHECK_STREQ(vm->ssrcs[1].msid, "live track1");
        CHECK_STREQ(a->msid_semantic, "WMS *");
        sdp_offer_free(&a);
    }
    buf_free(&b);
    sdp_offer_free(&o);
}

/* Voice SFU: one sendrecv audio plus recvonly ones; a data channel is rejected, out of BUNDLE. */
static void test_answer_sfu(void)
{
    char sdp[4096];
    int n = snprintf(sdp, sizeof sdp,
                     "v=0\na=group:BUNDLE a0 a1 a2 dc\na=ice-ufrag:abcd\n"
                     "a=ice-pwd:0123456789012345678901\na=fingerprint:sha-256 %s\n"
                     "a=setup:passive\n",
                     FP_HEX);
    for (int i = 0; i < 3; i++)
        n += snprintf(sdp + n, sizeof sdp - (size_t)n,
                      "m=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:a%d\na=rtcp-mux\na=%s\n"
                      "a=rtpmap:111 opus/48000/2\na=extmap:3/sendrecv %s\n",
                      i, i ? "recvonly" : "sendrecv", SDP_EXT_MID);
    snprintf(sdp + n, sizeof sdp - (size_t)n,
             "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:dc\na=sctp-port:5000\n");
    struct sdp_offer *o = parse_ok(sdp);
    if (!o)
        return;
    struct sdp_choice c[SDP_MAX_MEDIA];
    struct buf b;
    struct sdp_offer *a = answer_of(o, c, true, &b);
    const char *text = (const char *)buf_head(&b);
    CHECK(strstr(text, "a=group:BUNDLE a0 a1 a2\r\n") != NULL);
    CHECK(strstr(text, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n") != NULL);
    CHECK(strstr(text, "a=setup:active\r\n") != NULL); /* the offer said passive */
    CHECK(strstr(text, "a=extmap:3/sendrecv " SDP_EXT_MID "\r\n") != NULL);
    CHECK_STREQ(c[3].reason, "media type not supported: application");
    if (a) {
        CHECK_EQ_INT(a->n_media, 4);
        CHECK_EQ_INT(a->media[0].dir, SDP_DIR_SENDRECV);
        CHECK_EQ_INT(a->media[1].dir, SDP_DIR_SENDONLY);
        CHECK_EQ_INT(a->media[2].dir, SDP_DIR_SENDONLY);
        CHECK_EQ_INT(a->media[3].port, 0);
        CHECK_STREQ(a->media[3].mid, "dc");
        CHECK_EQ_INT(a->media[2].ssrcs[0].id, 1002);
        sdp_offer_free(&a);
    }
    buf_free(&b);
    sdp_offer_free(&o);
}

static void test_answer_errors(void)
{
    struct sdp_offer *o = parse_ok(werift_offer);
    if (!o)
        return;
    struct sdp_choice c[SDP_MAX_MEDIA];
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < o->n_media; i++)
        c[i] = (struct sdp_choice){.accept = false};
    CHECK_EQ_INT(sdp_answer_write(o, c, &local, &b, err, sizeof err), -EINVAL);
    CHECK_STREQ(err, "no m-line accepted");
    sdp_choose(o, 0, &c[0]);
    c[0].pt[0] = 55;
    CHECK_EQ_INT(sdp_answer_write(o, c, &local, &b, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "payload type 55 not offered") != NULL);
    sdp_choose(o, 0, &c[0]);
    strcpy(c[0].cname, "a\r\nb");
    CHECK_EQ_INT(sdp_answer_write(o, c, &local, &b, err, sizeof err), -EINVAL);
    c[0].cname[0] = '\0';
    struct sdp_offer *o2 = parse_ok(gst_offer);
    if (o2) {
        struct sdp_choice c2[SDP_MAX_MEDIA];
        sdp_choose(o2, 0, &c2[0]);
        sdp_choose(o2, 1, &c2[1]);
        strcpy(o2->media[1].mid, "elsewhere"); /* accepted, but outside the BUNDLE group */
        CHECK_EQ_INT(sdp_answer_write(o2, c2, &local, &b, err, sizeof err), -EINVAL);
        CHECK(strstr(err, "not in the offer's BUNDLE group") != NULL);
        sdp_offer_free(&o2);
    }
    struct sdp_local l = local;
    l.ice_pwd = "short";
    CHECK_EQ_INT(sdp_answer_write(o, c, &l, &b, err, sizeof err), -EINVAL);
    l = local;
    struct sdp_local_candidate lc = {"host.example", 1, SDP_TRANSPORT_UDP};
    l.cand = &lc;
    l.n_cand = 1;
    CHECK_EQ_INT(sdp_answer_write(o, c, &l, &b, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(buf_size(&b), 0); /* nothing written on failure */
    buf_free(&b);
    sdp_offer_free(&o);
}

static void test_priority_setup(void)
{
    /* 126 << 24 | 65535 << 8 | 255: the value browsers give their first host candidate. */
    CHECK_EQ_INT(sdp_candidate_priority(SDP_TRANSPORT_UDP, 0, 1), 2130706431u);
    CHECK_EQ_INT(sdp_candidate_priority(SDP_TRANSPORT_TCP, 0, 1),
                 (126u << 24) + ((4u << 13) + 8191) * 256 + 255);
    CHECK(sdp_candidate_priority(SDP_TRANSPORT_UDP, 5, 1) >
          sdp_candidate_priority(SDP_TRANSPORT_TCP, 0, 1));
    CHECK_EQ_INT(sdp_answer_setup(SDP_SETUP_ACTPASS), SDP_SETUP_PASSIVE);
    CHECK_EQ_INT(sdp_answer_setup(SDP_SETUP_ACTIVE), SDP_SETUP_PASSIVE);
    CHECK_EQ_INT(sdp_answer_setup(SDP_SETUP_PASSIVE), SDP_SETUP_ACTIVE);
}

static void test_frag(void)
{
    struct sdp_frag *f = xcalloc(1, sizeof *f);
    size_t n;
    char *s = crlf(rfc9725_frag, &n);
    CHECK_EQ_INT(sdp_frag_parse(s, n, f, err, sizeof err), 0);
    free(s);
    CHECK_STREQ(f->ice_ufrag, "EsAw");
    CHECK_EQ_INT(f->n_media, 1);
    CHECK_STREQ(f->media[0].mid, "0");
    CHECK_EQ_INT(f->media[0].n_cand, 4);
    CHECK(f->media[0].end_of_candidates);
    CHECK(!sdp_frag_is_restart(f, "EsAw", "bP+XJMM09aR8AiX1jdukzR6Y"));
    CHECK(sdp_frag_is_restart(f, "old1", "bP+XJMM09aR8AiX1jdukzR6Y"));

    /* Session-level credentials, two mids without m= lines, session end-of-candidates. */
    const char *two = "a=ice-ufrag:newu\r\na=ice-pwd:0123456789012345678901\r\na=mid:0\r\n"
                      "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\na=mid:1\r\n"
                      "a=candidate:2 1 udp 2 192.0.2.1 2 typ host\r\na=end-of-candidates\r\n";
    CHECK_EQ_INT(sdp_frag_parse(two, strlen(two), f, err, sizeof err), 0);
    CHECK_EQ_INT(f->n_media, 2);
    CHECK_STREQ(f->media[1].mid, "1");
    CHECK_EQ_INT(f->media[1].cand[0].port, 2);
    CHECK(f->media[1].end_of_candidates);
    CHECK(sdp_frag_is_restart(f, "EsAw", "bP+XJMM09aR8AiX1jdukzR6Y"));

    const char *eoc = "a=end-of-candidates\r\n";
    CHECK_EQ_INT(sdp_frag_parse(eoc, strlen(eoc), f, err, sizeof err), 0);
    CHECK(f->end_of_candidates && f->n_media == 0);
    CHECK(!sdp_frag_is_restart(f, "EsAw", "bP+XJMM09aR8AiX1jdukzR6Y"));

    const char *orphan = "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n";
    CHECK_EQ_INT(sdp_frag_parse(orphan, strlen(orphan), f, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "before any a=mid") != NULL);
    const char *badc = "a=mid:0\r\na=candidate:1 1 udp 1 192.0.2.1 99999 typ host\r\n";
    CHECK_EQ_INT(sdp_frag_parse(badc, strlen(badc), f, err, sizeof err), -EINVAL);
    CHECK_STREQ(err, "line 2: port 99999 out of range 0-65535");
    free(f);
}

/* A minimal valid offer with `extra` inserted in its one m-line. */
static char *offer_with(const char *session, const char *media_line, const char *extra)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b,
               "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n%s%s\na=mid:0\na=rtcp-mux\n"
               "a=rtpmap:111 opus/48000/2\n%s",
               session, media_line, extra);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

#define SESSION                                                                                    \
    "a=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\na=fingerprint:sha-256 " FP_HEX "\n"
#define MLINE "m=audio 9 UDP/TLS/RTP/SAVPF 111"

static void bad_with(const char *session, const char *mline, const char *extra, int rc,
                     const char *want)
{
    char *s = offer_with(session, mline, extra);
    bad(s, rc, want);
    free(s);
}

static void test_bad_numbers(void)
{
    bad_with(SESSION, MLINE " 4294967296", "", -EINVAL,
             "line 8: payload type 4294967296 out of range 0-127");
    bad_with(SESSION, MLINE, "a=rtpmap:4294967296 x/1\n", -EINVAL,
             "payload type 4294967296 out of range 0-127");
    bad_with(SESSION, MLINE " 128", "", -EINVAL, "payload type 128 out of range");
    bad_with(SESSION, MLINE " -1", "", -EINVAL, "payload type -1 out of range");
    bad_with(SESSION, MLINE " 111", "", -EINVAL, "payload type 111 listed twice");
    bad_with(SESSION, "m=audio 65536 UDP/TLS/RTP/SAVPF 111", "", -EINVAL,
             "port 65536 out of range 0-65535");
    bad_with(SESSION, MLINE, "a=extmap:0 urn:x\n", -EINVAL, "extmap id 0 out of range 1-255");
    bad_with(SESSION, MLINE, "a=extmap:256 urn:x\n", -EINVAL, "extmap id 256 out of range");
    bad_with(SESSION, MLINE, "a=extmap:1/sideways urn:x\n", -EINVAL, "bad direction");
    bad_with(SESSION, MLINE, "a=extmap:1 urn:x\na=extmap:1 urn:y\n", -EINVAL,
             "duplicate extmap id 1");
    bad_with(SESSION, MLINE, "a=rtpmap:111 opus/0/2\n", -EINVAL, "clock rate 0 out of range");
    bad_with(SESSION, MLINE, "a=fmtp:111 useinbandfec=2\n", -EINVAL,
             "useinbandfec 2 out of range 0-1");
    bad_with(SESSION, MLINE, "a=fmtp:111 apt=300\n", -EINVAL, "apt 300 out of range");
    bad_with(SESSION, MLINE, "a=fmtp:111 profile-level-id=42e01\n", -EINVAL,
             "profile-level-id must be 6 hex digits");
    bad_with(SESSION, MLINE, "a=fmtp:111 sprop-parameter-sets=Z0L\"\n", -EINVAL, "not base64");
    bad_with(SESSION, MLINE, "a=ssrc:4294967296 cname:x\n", -EINVAL, "ssrc 4294967296 out of");
    bad_with(SESSION, MLINE, "a=ssrc-group:FID 1\n", -EINVAL, "exactly two SSRCs");
    bad_with(SESSION, MLINE, "a=candidate:1 0 udp 1 192.0.2.1 1 typ host\n", -EINVAL,
             "candidate component 0 out of range 1-256");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 2147483648 192.0.2.1 1 typ host\n", -EINVAL,
             "candidate priority 2147483648 out of range");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 1 192.0.2.1 70000 typ host\n", -EINVAL,
             "port 70000 out of range");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host rport 65536\n", -EINVAL,
             "rport 65536 out of range");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 1 192.0.2.1 1 typ relayy\n", -EINVAL,
             "candidate type relayy");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 1 192.0.2.1 1 host\n", -EINVAL,
             "a=candidate needs");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host generation\n", -EINVAL,
             "has no value");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr x rport 1\n",
             -EINVAL, "raddr is not an IP");
    bad_with(SESSION, MLINE, "a=candidate:1 1 udp 1 a_b 1 typ host\n", -EINVAL,
             "not an IP or a host name");
    char longf[200];
    snprintf(longf, sizeof longf, "a=candidate:%064d 1 udp 1 192.0.2.1 1 typ host\n", 1);
    bad_with(SESSION, MLINE, longf, -EINVAL, "foundation must be 1-32 ice-chars");
}

static void test_bad_required(void)
{
    const char *pwd = "a=ice-pwd:0123456789012345678901\n";
    const char *fp = "a=fingerprint:sha-256 " FP_HEX "\n";
    char s[512];
    snprintf(s, sizeof s, "a=ice-ufrag:abcd\n%s", pwd);
    bad_with(s, MLINE, "", -EINVAL, "m-line 1: no a=fingerprint:sha-256");
    snprintf(s, sizeof s,
             "a=ice-ufrag:abcd\n%sa=fingerprint:sha-1 "
             "DA:7B:57:DC:28:CE:04:4F:31:79:85:C4:31:67:EB:27:58:29:ED:77\n",
             pwd);
    bad_with(s, MLINE, "", -EINVAL, "no a=fingerprint:sha-256"); /* sha-1 alone */
    snprintf(s, sizeof s, "%s%s", pwd, fp);
    bad_with(s, MLINE, "", -EINVAL, "m-line 1: no a=ice-ufrag");
    snprintf(s, sizeof s, "a=ice-ufrag:abcd\n%s", fp);
    bad_with(s, MLINE, "", -EINVAL, "m-line 1: no a=ice-pwd");
    snprintf(s, sizeof s, "a=ice-ufrag:abc\n%s%s", pwd, fp);
    bad_with(s, MLINE, "", -EINVAL, "a=ice-ufrag must be 4-256 ice-chars");
    bad_with(SESSION "a=ice-ufrag:efgh\n", MLINE, "", -EINVAL, "duplicate a=ice-ufrag");
    /* The offerer's own rejected m-line needs no transport. */
    struct sdp_offer *o = NULL;
    char *ok = offer_with("", "m=audio 0 UDP/TLS/RTP/SAVPF 111", "");
    CHECK_EQ_INT(parse_n(ok, strlen(ok), &o), 0);
    struct sdp_choice c;
    CHECK_EQ_INT(sdp_choose(o, 0, &c), -ENOTSUP);
    CHECK_STREQ(c.reason, "rejected by the offerer");
    sdp_offer_free(&o);
    free(ok);
}

static void test_bad_fingerprint(void)
{
    static const char *const cases[][2] = {
        {"a=fingerprint:sha-256 ZA:7B:57:DC:28:CE:04:4F:31:79:85:C4:31:67:EB:27:58:29:ED:77:2A:"
         "0D:24:AE:ED:88:20:BB:9B:62:2D:8D\n",
         "bad hex at byte 1"},
        {"a=fingerprint:sha-256 DA:7B:57:DC:28:CE:04:4F:31:79:85:C4:31:67:EB:27:58:29:ED:77:2A:"
         "0D:24:AE:ED:88:20:BB:9B:62:2D\n",
         "needs 32 bytes"},
        {"a=fingerprint:sha-256 DA-7B:57:DC:28:CE:04:4F:31:79:85:C4:31:67:EB:27:58:29:ED:77:2A:"
         "0D:24:AE:ED:88:20:BB:9B:62:2D:8D\n",
         "bad hex at byte 1"},
        {"a=fingerprint:sha-256 DA7B57DC28CE044F317985C43167EB275829ED772A0D24AEED8820BB9B622D8D"
         "0000000000000000000000000000000\n",
         "bad hex at byte 1"}, /* no colons, right length */
        {"a=fingerprint:sha-256\n", "needs <algorithm> <hex>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[512];
        snprintf(s, sizeof s, "a=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\n%s",
                 cases[i][0]);
        bad_with(s, MLINE, "", -EINVAL, cases[i][1]);
    }
}

static void test_bad_lines(void)
{
    bad("v=0\nthis line has no equals\n", -EINVAL, "line 2: not a <type>=<value> line");
    bad("o=- 1 1 IN IP4 0.0.0.0\n", -EINVAL, "line 1: an SDP starts with v=0");
    bad("v=1\n", -EINVAL, "starts with v=0");
    bad("v=0\nv=0\n", -EINVAL, "line 2: v= after the first line");
    bad("v=0\n", -EINVAL, "no m= line");
    bad("v=0\na=setup:holdconn\n", -EINVAL, "a=setup:holdconn not actpass");
    bad("v=0\na=sendonly\na=recvonly\n", -EINVAL, "more than one direction");
    bad("v=0\na=:x\n", -EINVAL, "attribute name missing");
    bad("v=0\nm=audio 9 UDP/TLS/RTP/SAVPF\n", -EINVAL, "m= needs");
    bad_with(SESSION, MLINE, "a=mid:1\n", -EINVAL, "duplicate a=mid");
    bad_with(SESSION "a=group:BUNDLE 0 9\n", MLINE, "", -EINVAL,
             "a=group:BUNDLE names mid 9 that no m-line has");
    char *two = offer_with(SESSION, MLINE, MLINE "\na=mid:0\n");
    bad(two, -EINVAL, "mid 0 used by two m-lines");
    free(two);

    /* NUL bytes: inside a line, and as the whole input. */
    char *s = offer_with(SESSION, MLINE, "a=msid:x y\n");
    size_t n = strlen(s);
    char *p = strstr(s, "a=msid:x");
    p[7] = '\0';
    struct sdp_offer *o = (struct sdp_offer *)1;
    CHECK_EQ_INT(parse_n(s, n, &o), -EINVAL);
    CHECK(o == NULL && strstr(err, "NUL byte"));
    free(s);
    char zeros[64] = {0};
    CHECK_EQ_INT(parse_n(zeros, sizeof zeros, &o), -EINVAL);
    CHECK(strstr(err, "line 1: NUL byte") != NULL);
    CHECK_EQ_INT(parse_n("v=0\r\r\n", 6, &o), -EINVAL);
    CHECK(strstr(err, "CR not followed by LF") != NULL);
    CHECK_EQ_INT(parse_n("", 0, &o), -EINVAL);

    /* A 5,000-byte line; a 4,096-byte one is fine. */
    char *big = xmalloc(6000);
    memset(big, 'x', 6000);
    memcpy(big, "v=0\na=x:", 8);
    CHECK_EQ_INT(parse_n(big, 4 + 5000, &o), -E2BIG);
    CHECK_STREQ(err, "line 2: line is 5000 bytes, over the 4096-byte limit");
    free(big);
    char *fine = offer_with(SESSION, MLINE, "");
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%sa=tool:", fine);
    for (size_t i = buf_size(&b) - strlen(fine); i < SDP_MAX_LINE; i++)
        buf_append(&b, "y", 1);
    CHECK_EQ_INT(parse_n((char *)buf_head(&b), buf_size(&b), &o), 0);
    sdp_offer_free(&o);
    buf_free(&b);
    free(fine);
}

static void test_limits(void)
{
    struct buf b;
    struct sdp_offer *o = NULL;
    /* 1,000 m-lines (33 KB, under the size limit): refused at the 17th. */
    buf_init(&b);
    buf_printf(&b, "v=0\n" SESSION);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "m=audio 9 UDP/TLS/RTP/SAVPF 111\n");
    CHECK_EQ_INT(parse_n((char *)buf_head(&b), buf_size(&b), &o), -E2BIG);
    CHECK_STREQ(err, "line 21: more than 16 m-lines");
    buf_free(&b);

    /* 65 payload types in one m-line (64 distinct ones are fine: Chromium offers 34). */
    for (int count = 64; count <= 65; count++) {
        buf_init(&b);
        buf_printf(&b, "v=0\n" SESSION "m=audio 9 UDP/TLS/RTP/SAVPF");
        for (int i = 0; i < count; i++)
            buf_printf(&b, " %d", 127 - i);
        buf_printf(&b, "\na=mid:0\na=rtcp-mux\n");
        CHECK_EQ_INT(parse_n((char *)buf_head(&b), buf_size(&b), &o), count == 64 ? 0 : -E2BIG);
        sdp_offer_free(&o);
        if (count == 65)
            CHECK(strstr(err, "line 5: more than 64 payload types in one m-line") != NULL);
        buf_free(&b);
    }

    /* 1,000 candidates (38 KB): 32 kept, the rest counted and dropped, the offer accepted. */
    char *head = offer_with(SESSION, MLINE, "");
    buf_init(&b);
    buf_printf(&b, "%s", head);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "a=candidate:%d 1 udp %d ::1 %d typ host\n", i, i + 1, i);
    buf_printf(&b, "a=candidate:x 1 udp 1 turn.example.com 1 typ relay\n");
    CHECK(buf_size(&b) < SDP_MAX_INPUT);
    CHECK_EQ_INT(parse_n((char *)buf_head(&b), buf_size(&b), &o), 0);
    if (o) {
        CHECK_EQ_INT(o->media[0].n_cand, 32);
        CHECK_EQ_INT(o->media[0].cand_dropped, 969); /* 968 over the limit + the FQDN */
        CHECK_EQ_INT(o->media[0].cand[31].port, 31);
        sdp_offer_free(&o);
    }
    buf_free(&b);

    /* 10,000 candidates do not fit the 64 KiB an offer may have: refused before any parsing. */
    buf_init(&b);
    buf_printf(&b, "%s", head);
    for (int i = 0; i < 10000; i++)
        buf_printf(&b, "a=candidate:%d 1 udp %d ::1 %d typ host\n", i, i + 1, i);
    CHECK_EQ_INT(parse_n((char *)buf_head(&b), buf_size(&b), &o), -E2BIG);
    CHECK(strstr(err, "over the 65536-byte limit") != NULL);
    CHECK(strncmp(err, "SDP is ", 7) == 0);
    buf_free(&b);
    free(head);

    /* 17 SSRCs, 33 extmaps, 5 fingerprints, 9 FID groups. */
    buf_init(&b);
    for (int i = 0; i < 17; i++)
        buf_printf(&b, "a=ssrc:%d cname:x\n", i);
    bad_with(SESSION, MLINE, (char *)buf_head(&b), -E2BIG, "more than 16 SSRCs");
    buf_clear(&b);
    for (int i = 1; i <= 33; i++)
        buf_printf(&b, "a=extmap:%d urn:x:%d\n", i, i);
    bad_with(SESSION, MLINE, (char *)buf_head(&b), -E2BIG, "more than 32 a=extmap");
    buf_clear(&b);
    for (int i = 0; i < 5; i++)
        buf_printf(&b, "a=fingerprint:sha-256 %s\n", FP_HEX);
    bad_with(SESSION, MLINE, (char *)buf_head(&b), -E2BIG, "more than 4 a=fingerprint");
    buf_clear(&b);
    for (int i = 0; i < 9; i++)
        buf_printf(&b, "a=ssrc-group:FID %d %d\n", i, i + 100);
    bad_with(SESSION, MLINE, (char *)buf_head(&b), -E2BIG, "more than 8 a=ssrc-group:FID");
    buf_free(&b);
}

int main(void)
{
    test_chrome_h264();
    test_chrome_vp8_lf();
    test_chromium156();
    test_h264_order();
    test_gstreamer();
    test_obs();
    test_werift();
    test_answer_whip();
    test_answer_whep();
    test_answer_sfu();
    test_answer_errors();
    test_priority_setup();
    test_frag();
    test_bad_numbers();
    test_bad_required();
    test_bad_fingerprint();
    test_bad_lines();
    test_limits();
    return test_report("test_sdp");
}
