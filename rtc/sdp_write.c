/* Codec choice and the SDP answer (rtc/sdp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rtc/sdp.h"

static const struct sdp_codec *find_codec(const struct sdp_media *m, unsigned pt)
{
    for (size_t i = 0; i < m->n_pts; i++)
        if (m->pts[i] == pt)
            return &m->codecs[i];
    return NULL;
}

static bool is(const struct sdp_codec *c, const char *name, uint32_t clock)
{
    return c->has_rtpmap && strcasecmp(c->name, name) == 0 && c->clock == clock;
}

/* packetization-mode 1 (FU-A, STAP-A: what browsers send) and a profile HLS players decode:
 * profile_idc 0x42 baseline (42e0xx/42c0xx constrained, 4200xx), 0x4d main, 0x64 high. No
 * profile-level-id means 42000a (RFC 6184 8.1). */
static bool h264_ok(const struct sdp_codec *c)
{
    if (!is(c, "H264", 90000) || c->fmtp.packetization_mode != 1)
        return false;
    int idc = c->fmtp.profile_level_id >= 0 ? c->fmtp.profile_level_id >> 16 : 0x42;
    return idc == 0x42 || idc == 0x4d || idc == 0x64;
}

static const struct sdp_codec *pick(const struct sdp_media *m)
{
    for (size_t i = 0; m->kind == SDP_KIND_VIDEO && i < m->n_pts; i++)
        if (h264_ok(&m->codecs[i]))
            return &m->codecs[i];
    for (size_t i = 0; i < m->n_pts; i++) {
        const struct sdp_codec *c = &m->codecs[i];
        if (m->kind == SDP_KIND_VIDEO ? is(c, "VP8", 90000)
                                      : is(c, "opus", 48000) && c->channels == 2)
            return c;
    }
    return NULL;
}

static enum sdp_dir mirror(enum sdp_dir d)
{
    return d == SDP_DIR_SENDONLY   ? SDP_DIR_RECVONLY
           : d == SDP_DIR_RECVONLY ? SDP_DIR_SENDONLY
           : d == SDP_DIR_INACTIVE ? SDP_DIR_INACTIVE
                                   : SDP_DIR_SENDRECV;
}

static bool in_bundle(const struct sdp_offer *o, const char *mid)
{
    for (size_t i = 0; i < o->n_bundle; i++)
        if (strcmp(o->bundle[i], mid) == 0)
            return true;
    return false;
}

static int reject(struct sdp_choice *c, const char *why, const char *arg)
{
    c->accept = false;
    snprintf(c->reason, sizeof c->reason, "%s%.24s", why, arg);
    return -ENOTSUP;
}

int sdp_choose(const struct sdp_offer *o, size_t i, struct sdp_choice *c)
{
    memset(c, 0, sizeof *c);
    c->rtx_pt = -1;
    if (i >= o->n_media)
        return reject(c, "no such m-line", "");
    const struct sdp_media *m = &o->media[i];
    if (o->ice_lite)
        return reject(c, "the offerer is ICE-lite too", "");
    if (m->port == 0 && !m->bundle_only)
        return reject(c, "rejected by the offerer", "");
    if (m->kind != SDP_KIND_AUDIO && m->kind != SDP_KIND_VIDEO)
        return reject(c, "media type not supported: ", m->kind_name);
    if (m->proto != SDP_PROTO_UDP_SAVPF && m->proto != SDP_PROTO_TCP_SAVPF)
        return reject(c, "proto not supported: ", m->proto_name);
    if (!m->mid[0] || !m->rtcp_mux)
        return reject(c, "a=mid and a=rtcp-mux are required", "");
    if (o->has_bundle && !in_bundle(o, m->mid))
        return reject(c, "not in the BUNDLE group: ", m->mid);
    const struct sdp_codec *k = pick(m);
    if (!k)
        return reject(c,
                      m->kind == SDP_KIND_VIDEO ? "no H.264 (packetization-mode 1) or VP8"
                                                : "no opus/48000/2",
                      "");
    c->accept = true;
    c->dir = mirror(m->dir);
    c->pt[c->n_pt++] = k->pt;
    for (size_t j = 0; j < m->n_pts; j++)
        if (is(&m->codecs[j], "rtx", 90000) && m->codecs[j].fmtp.apt == k->pt) {
            c->rtx_pt = m->codecs[j].pt;
            c->pt[c->n_pt++] = m->codecs[j].pt;
            break;
        }
    /* goog-remb, not transport-cc: the receiver's estimate goes back in one REMB instead of
     * per-packet TWCC reports we would have to build; the extension transport-cc needs is
     * dropped with it, so the sender falls back to REMB. */
    c->fb = k->fb & (SDP_FB_NACK | SDP_FB_NACK_PLI | SDP_FB_GOOG_REMB);
    for (size_t j = 0; j < m->n_extmaps && j < 32; j++) {
        const char *u = m->extmaps[j].uri;
        if (strcmp(u, SDP_EXT_MID) == 0 || strcmp(u, SDP_EXT_ABS_SEND_TIME) == 0 ||
            (m->kind == SDP_KIND_AUDIO && strcmp(u, SDP_EXT_AUDIO_LEVEL) == 0))
            c->ext_keep |= 1u << j;
    }
    return 0;
}

uint32_t sdp_candidate_priority(enum sdp_transport t, size_t index, unsigned component)
{
    uint32_t local = t == SDP_TRANSPORT_UDP ? 65535 - (uint32_t)(index % 8192)
                                            : (4u << 13) + 8191 - (uint32_t)(index % 8192);
    return (126u << 24) + (local << 8) + (256 - component);
}

enum sdp_setup sdp_answer_setup(enum sdp_setup offer)
{
    return offer == SDP_SETUP_PASSIVE ? SDP_SETUP_ACTIVE : SDP_SETUP_PASSIVE;
}

struct wr {
    struct buf *out;
    char *err;
    size_t errlen;
};

static int werr(struct wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int werr(struct wr *w, const char *fmt, ...)
{
    if (w->err && w->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, w->errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* A value we write into a line: non-empty, printable, no space unless allowed. */
static bool clean(const char *s, bool spaces)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || (unsigned char)*s >= 0x7f || (*s == ' ' && !spaces))
            return false;
    return true;
}

static const char *dir_name(enum sdp_dir d)
{
    static const char *const n[] = {"sendrecv", "sendrecv", "sendonly", "recvonly", "inactive"};
    return n[d];
}

static void write_fmtp(struct buf *b, const struct sdp_codec *k)
{
    const struct sdp_fmtp *f = &k->fmtp;
    char p[160] = "";
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(p + n, sizeof p - n, __VA_ARGS__)
    if (f->level_asymmetry_allowed >= 0)
        ADD("%slevel-asymmetry-allowed=%d", n ? ";" : "", f->level_asymmetry_allowed);
    if (f->packetization_mode >= 0)
        ADD("%spacketization-mode=%d", n ? ";" : "", f->packetization_mode);
    if (f->profile_level_id >= 0)
        ADD("%sprofile-level-id=%06x", n ? ";" : "", (unsigned)f->profile_level_id);
    if (f->minptime >= 0)
        ADD("%sminptime=%d", n ? ";" : "", f->minptime);
    if (f->useinbandfec >= 0)
        ADD("%suseinbandfec=%d", n ? ";" : "", f->useinbandfec);
    if (f->apt >= 0)
        ADD("%sapt=%d", n ? ";" : "", f->apt);
#undef ADD
    if (n)
        buf_printf(b, "a=fmtp:%u %s\r\n", k->pt, p);
}

static void write_codec(struct buf *b, const struct sdp_codec *k, uint32_t fb)
{
    buf_printf(b, "a=rtpmap:%u %s/%u", k->pt, k->name, k->clock);
    if (k->channels)
        buf_printf(b, "/%u", k->channels);
    buf_printf(b, "\r\n");
    if (fb & SDP_FB_GOOG_REMB)
        buf_printf(b, "a=rtcp-fb:%u goog-remb\r\n", k->pt);
    if (fb & SDP_FB_NACK)
        buf_printf(b, "a=rtcp-fb:%u nack\r\n", k->pt);
    if (fb & SDP_FB_NACK_PLI)
        buf_printf(b, "a=rtcp-fb:%u nack pli\r\n", k->pt);
    write_fmtp(b, k);
}

static void write_rejected(struct buf *b, const struct sdp_media *m)
{
    buf_printf(b, "m=%s 0 %s", m->kind_name, m->proto_name);
    if (m->n_pts)
        for (size_t i = 0; i < m->n_pts; i++)
            buf_printf(b, " %u", m->pts[i]);
    else
        buf_printf(b, " %s", m->fmt0);
    buf_printf(b, "\r\nc=IN IP4 0.0.0.0\r\n");
    if (m->mid[0])
        buf_printf(b, "a=mid:%s\r\n", m->mid);
}

static int check_choice(struct wr *w, const struct sdp_offer *o, const struct sdp_choice *c,
                        size_t i)
{
    const struct sdp_media *m = &o->media[i];
    if (!c->n_pt || c->n_pt > SDP_CHOICE_PTS)
        return werr(w, "m-line %zu: %zu payload types chosen", i + 1, c->n_pt);
    for (size_t j = 0; j < c->n_pt; j++) {
        const struct sdp_codec *k = find_codec(m, c->pt[j]);
        if (!k || !k->has_rtpmap)
            return werr(w, "m-line %zu: payload type %u not offered", i + 1, c->pt[j]);
    }
    if (!m->mid[0] || m->kind_name[0] == '\0')
        return werr(w, "m-line %zu: accepted without a mid", i + 1);
    if (o->has_bundle && !in_bundle(o, m->mid))
        return werr(w, "m-line %zu: accepted but not in the offer's BUNDLE group", i + 1);
    if (c->dir < SDP_DIR_SENDRECV || c->dir > SDP_DIR_INACTIVE)
        return werr(w, "m-line %zu: no direction", i + 1);
    if ((c->cname[0] && !clean(c->cname, false)) || (c->msid[0] && !clean(c->msid, true)))
        return werr(w, "m-line %zu: cname or msid not printable", i + 1);
    if (c->rtx_ssrc && (!c->ssrc || c->rtx_pt < 0))
        return werr(w, "m-line %zu: rtx_ssrc without ssrc or an RTX payload type", i + 1);
    return 0;
}

static void write_ssrc(struct buf *b, const struct sdp_choice *c, uint32_t ssrc)
{
    if (c->cname[0])
        buf_printf(b, "a=ssrc:%u cname:%s\r\n", ssrc, c->cname);
    if (c->msid[0])
        buf_printf(b, "a=ssrc:%u msid:%s\r\n", ssrc, c->msid);
}

static void write_accepted(struct buf *b, const struct sdp_media *m, const struct sdp_choice *c,
                           const struct sdp_local *l, enum sdp_setup setup)
{
    buf_printf(b, "m=%s 9 %s", m->kind_name, m->proto_name);
    for (size_t j = 0; j < c->n_pt; j++)
        buf_printf(b, " %u", c->pt[j]);
    buf_printf(b, "\r\nc=IN IP4 0.0.0.0\r\n");
    buf_printf(b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", l->ice_ufrag, l->ice_pwd);
    buf_printf(b, "a=fingerprint:%s\r\n", l->fingerprint);
    buf_printf(b, "a=setup:%s\r\n", setup == SDP_SETUP_ACTIVE ? "active" : "passive");
    buf_printf(b, "a=mid:%s\r\n", m->mid);
    for (size_t j = 0; j < m->n_extmaps && j < 32; j++) {
        const struct sdp_extmap *e = &m->extmaps[j];
        if (!(c->ext_keep & (1u << j)))
            continue;
        buf_printf(b, "a=extmap:%u", e->id);
        if (e->dir != SDP_DIR_UNSET)
            buf_printf(b, "/%s", dir_name(mirror(e->dir)));
        buf_printf(b, " %s\r\n", e->uri);
    }
    buf_printf(b, "a=%s\r\n", dir_name(c->dir));
    if (c->msid[0])
        buf_printf(b, "a=msid:%s\r\n", c->msid);
    buf_printf(b, "a=rtcp-mux\r\n");
    if (m->rtcp_rsize)
        buf_printf(b, "a=rtcp-rsize\r\n");
    for (size_t j = 0; j < c->n_pt; j++) {
        const struct sdp_codec *k = find_codec(m, c->pt[j]);
        write_codec(b, k, (int)c->pt[j] == c->rtx_pt ? 0 : c->fb);
    }
    if (c->ssrc && c->rtx_ssrc)
        buf_printf(b, "a=ssrc-group:FID %u %u\r\n", c->ssrc, c->rtx_ssrc);
    if (c->ssrc)
        write_ssrc(b, c, c->ssrc);
    if (c->rtx_ssrc)
        write_ssrc(b, c, c->rtx_ssrc);
    sdp_write_candidates(b, l->cand, l->n_cand, l->end_of_candidates);
}

static int check_local(struct wr *w, const struct sdp_local *l)
{
    unsigned char tmp[16];
    size_t nu = l->ice_ufrag ? strlen(l->ice_ufrag) : 0, np = l->ice_pwd ? strlen(l->ice_pwd) : 0;
    if (nu < 4 || nu > SDP_MAX_UFRAG || np < 22 || np > SDP_MAX_UFRAG ||
        !clean(l->ice_ufrag, false) || !clean(l->ice_pwd, false))
        return werr(w, "local ice-ufrag/ice-pwd missing or of the wrong length");
    if (!clean(l->fingerprint, true) || !strchr(l->fingerprint, ' '))
        return werr(w, "local fingerprint must be \"<algorithm> <hex>\"");
    for (size_t j = 0; j < l->n_cand; j++)
        if (!l->cand[j].addr || (inet_pton(AF_INET, l->cand[j].addr, tmp) != 1 &&
                                 inet_pton(AF_INET6, l->cand[j].addr, tmp) != 1))
            return werr(w, "local candidate %zu: not an IP address", j + 1);
    return 0;
}

int sdp_answer_write(const struct sdp_offer *o, const struct sdp_choice *choices,
                     const struct sdp_local *l, struct buf *out, char *err, size_t errlen)
{
    struct wr w = {out, err, errlen};
    size_t accepted = 0;
    int rc = check_local(&w, l);
    for (size_t i = 0; !rc && i < o->n_media; i++)
        if (choices[i].accept && !(rc = check_choice(&w, o, &choices[i], i)))
            accepted++;
    if (rc)
        return rc;
    if (!accepted)
        return werr(&w, "no m-line accepted");
    if (accepted > 1 && !o->has_bundle)
        return werr(&w, "the offer has no a=group:BUNDLE; kibitka answers one transport only");
    buf_printf(out, "v=0\r\no=- %llu 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
               (unsigned long long)(l->session_id & 0x7fffffffffffffffull));
    buf_printf(out, "a=ice-lite\r\n");
    /* Also at session level (RFC 8122 5): GStreamer's webrtcbin looks for a fingerprint in every
     * m-section, rejected ones (port 0, nothing but the mid) included, and refuses the answer
     * without one there or here. */
    buf_printf(out, "a=fingerprint:%s\r\n", l->fingerprint);
    if (o->has_bundle) {
        /* In the offer's group order, so its first (tagged) mid stays first when accepted. */
        buf_printf(out, "a=group:BUNDLE");
        for (size_t b = 0; b < o->n_bundle; b++)
            for (size_t i = 0; i < o->n_media; i++)
                if (choices[i].accept && strcmp(o->media[i].mid, o->bundle[b]) == 0)
                    buf_printf(out, " %s", o->media[i].mid);
        buf_printf(out, "\r\n");
    }
    for (size_t i = 0; i < o->n_media; i++)
        if (choices[i].msid[0]) {
            buf_printf(out, "a=msid-semantic: WMS *\r\n");
            break;
        }
    enum sdp_setup setup = SDP_SETUP_PASSIVE;
    for (size_t i = 0; i < o->n_media; i++)
        if (choices[i].accept) {
            setup = sdp_answer_setup(o->media[i].setup);
            break;
        }
    for (size_t i = 0; i < o->n_media; i++) {
        if (choices[i].accept)
            write_accepted(out, &o->media[i], &choices[i], l, setup);
        else
            write_rejected(out, &o->media[i]);
    }
    return 0;
}

void sdp_write_candidates(struct buf *b, const struct sdp_local_candidate *cand, size_t n,
                          bool end_of_candidates)
{
    for (size_t j = 0; j < n; j++) {
        const struct sdp_local_candidate *k = &cand[j];
        bool udp = k->transport == SDP_TRANSPORT_UDP;
        buf_printf(b, "a=candidate:%zu 1 %s %u %s %u typ host%s\r\n", j + 1, udp ? "udp" : "tcp",
                   sdp_candidate_priority(k->transport, j, 1), k->addr, k->port,
                   udp ? "" : " tcptype passive");
    }
    if (end_of_candidates)
        buf_printf(b, "a=end-of-candidates\r\n");
}
