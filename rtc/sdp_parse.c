/* SDP offer and trickle fragment parse (rtc/sdp.h). Each line is copied, bounded, into a
 * NUL-terminated buffer and handled by one function per attribute; the input itself is only
 * read through memchr/memcpy within its length. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "rtc/sdp.h"
#include "rtc/sdp_lex.h"

static struct sdp_codec *codec_of(struct sdp_media *m, uint64_t pt)
{
    for (size_t i = 0; m && i < m->n_pts; i++)
        if (m->pts[i] == pt)
            return &m->codecs[i];
    return NULL;
}

static int a_ufrag(struct sdp_ps *ps, char *v, bool pwd)
{
    char *dst = ps->m ? (pwd ? ps->m->ice_pwd : ps->m->ice_ufrag)
                      : (pwd ? ps->o->ice_pwd : ps->o->ice_ufrag);
    const char *name = pwd ? "ice-pwd" : "ice-ufrag";
    size_t n = strlen(v), lo = pwd ? 22 : 4;
    if (*dst)
        return sdp_fail(ps, -EINVAL, "duplicate a=%s", name);
    if (n < lo || n > SDP_MAX_UFRAG || !sdp_ice_chars(v))
        return sdp_fail(ps, -EINVAL, "a=%s must be %zu-%d ice-chars", name, lo, SDP_MAX_UFRAG);
    memcpy(dst, v, n + 1);
    return 0;
}

static int a_ice_options(struct sdp_ps *ps, char *v)
{
    /* Space-separated (RFC 8839); libdatachannel (OBS) writes "ice2,trickle". */
    for (char *c = v; (c = strchr(c, ','));)
        *c = ' ';
    for (char *t; (t = sdp_tok(&v));)
        if (strcmp(t, "trickle") == 0)
            *(ps->m ? &ps->m->ice_trickle : &ps->o->ice_trickle) = true;
    return 0;
}

static int a_fingerprint(struct sdp_ps *ps, char *v)
{
    static const struct {
        const char *name;
        uint8_t len;
    } algs[] = {{"sha-1", 20},   {"sha-224", 28}, {"sha-256", 32}, {"sha-384", 48},
                {"sha-512", 64}, {"md5", 16},     {"md2", 16}};
    char *alg = sdp_tok(&v), *hex = sdp_tok(&v);
    if (!alg || !hex || sdp_tok(&v))
        return sdp_fail(ps, -EINVAL, "a=fingerprint needs <algorithm> <hex>");
    size_t want = 0, i;
    for (i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcasecmp(alg, algs[i].name) == 0)
            want = algs[i].len;
    if (!want)
        return 0; /* RFC 8122: an unknown hash is not an error; it just cannot be checked */
    size_t *n = ps->m ? &ps->m->n_fp : &ps->o->n_fp;
    struct sdp_fingerprint *fp = ps->m ? ps->m->fp : ps->o->fp;
    if (*n == SDP_MAX_FP)
        return sdp_fail(ps, -E2BIG, "more than %d a=fingerprint lines", SDP_MAX_FP);
    struct sdp_fingerprint *f = &fp[*n];
    size_t len = strlen(hex);
    if (len != want * 3 - 1)
        return sdp_fail(ps, -EINVAL, "a=fingerprint %s needs %zu bytes as XX:XX:...", alg, want);
    for (i = 0; i < want; i++) {
        const char *h = hex + i * 3;
        int hi = sdp_hexval(h[0]), lo = sdp_hexval(h[1]);
        if (hi < 0 || lo < 0 || (i + 1 < want && h[2] != ':'))
            return sdp_fail(ps, -EINVAL, "a=fingerprint: bad hex at byte %zu", i + 1);
        f->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    f->len = (uint8_t)want;
    for (i = 0; alg[i]; i++)
        f->alg[i] = (char)tolower((unsigned char)alg[i]);
    f->alg[i] = '\0';
    (*n)++;
    return 0;
}

static int a_setup(struct sdp_ps *ps, char *v)
{
    enum sdp_setup *s = ps->m ? &ps->m->setup : &ps->o->setup;
    if (*s != SDP_SETUP_UNSET)
        return sdp_fail(ps, -EINVAL, "duplicate a=setup");
    if (strcmp(v, "actpass") == 0)
        *s = SDP_SETUP_ACTPASS;
    else if (strcmp(v, "active") == 0)
        *s = SDP_SETUP_ACTIVE;
    else if (strcmp(v, "passive") == 0)
        *s = SDP_SETUP_PASSIVE;
    else
        return sdp_fail(ps, -EINVAL, "a=setup:%.20s not actpass, active or passive", v);
    return 0;
}

static int a_group(struct sdp_ps *ps, char *v)
{
    char *sem = sdp_tok(&v);
    if (!sem || strcmp(sem, "BUNDLE") != 0 || ps->m)
        return 0; /* other groupings (LS, FID at session level) mean nothing to us */
    if (ps->o->has_bundle)
        return sdp_fail(ps, -EINVAL, "more than one a=group:BUNDLE");
    ps->o->has_bundle = true;
    for (char *t; (t = sdp_tok(&v));) {
        if (ps->o->n_bundle == SDP_MAX_MEDIA)
            return sdp_fail(ps, -E2BIG, "a=group:BUNDLE has more than %d mids", SDP_MAX_MEDIA);
        int rc = sdp_copy(ps, ps->o->bundle[ps->o->n_bundle++], SDP_MAX_MID + 1, t, "BUNDLE mid");
        if (rc)
            return rc;
    }
    return 0;
}

static int new_frag_media(struct sdp_ps *ps);

static int a_mid(struct sdp_ps *ps, char *v)
{
    if (ps->frag && (!ps->m || ps->m->mid[0])) {
        int rc = new_frag_media(ps);
        if (rc)
            return rc;
    }
    if (!ps->m)
        return 0;
    if (ps->m->mid[0])
        return sdp_fail(ps, -EINVAL, "duplicate a=mid");
    if (!*v || !sdp_token_chars(v))
        return sdp_fail(ps, -EINVAL, "a=mid must be a non-empty token");
    for (size_t i = 0; !ps->frag && i + 1 < ps->o->n_media; i++)
        if (strcmp(ps->o->media[i].mid, v) == 0)
            return sdp_fail(ps, -EINVAL, "mid %.64s used by two m-lines", v);
    return sdp_copy(ps, ps->m->mid, sizeof ps->m->mid, v, "a=mid");
}

static int a_extmap(struct sdp_ps *ps, char *v)
{
    struct sdp_media *m = ps->m;
    char *idt = sdp_tok(&v), *uri = sdp_tok(&v);
    if (!idt || !uri)
        return sdp_fail(ps, -EINVAL, "a=extmap needs <id>[/<direction>] <uri>");
    enum sdp_dir dir = SDP_DIR_UNSET;
    char *slash = strchr(idt, '/');
    if (slash) {
        *slash = '\0';
        if (sdp_parse_dir(slash + 1, &dir))
            return sdp_fail(ps, -EINVAL, "a=extmap: bad direction %.20s", slash + 1);
    }
    uint64_t id;
    int rc = sdp_range(ps, idt, "extmap id", 1, 255, &id);
    if (rc || !m)
        return rc;
    for (size_t i = 0; i < m->n_extmaps; i++)
        if (m->extmaps[i].id == id)
            return sdp_fail(ps, -EINVAL, "duplicate extmap id %u", (unsigned)id);
    if (strlen(uri) >= sizeof m->extmaps[0].uri)
        return 0; /* no extension we know has a URI that long; nothing to echo */
    if (m->n_extmaps == SDP_MAX_EXTMAP)
        return sdp_fail(ps, -E2BIG, "more than %d a=extmap lines in one m-line", SDP_MAX_EXTMAP);
    struct sdp_extmap *e = &m->extmaps[m->n_extmaps++];
    e->id = (uint16_t)id;
    e->dir = dir;
    strcpy(e->uri, uri);
    return 0;
}

static int a_rtpmap(struct sdp_ps *ps, char *v)
{
    char *pts = sdp_tok(&v), *enc = sdp_tok(&v);
    if (!pts || !enc || sdp_tok(&v))
        return sdp_fail(ps, -EINVAL, "a=rtpmap needs <pt> <name>/<clock>[/<channels>]");
    uint64_t pt, clock, ch = 0;
    int rc = sdp_range(ps, pts, "payload type", 0, 127, &pt);
    if (rc)
        return rc;
    char *name = enc, *cl = strchr(enc, '/'), *chs = NULL;
    if (!cl)
        return sdp_fail(ps, -EINVAL, "a=rtpmap:%u has no clock rate", (unsigned)pt);
    *cl++ = '\0';
    if ((chs = strchr(cl, '/')))
        *chs++ = '\0';
    if ((rc = sdp_range(ps, cl, "clock rate", 1, UINT32_MAX, &clock)) ||
        (chs && (rc = sdp_range(ps, chs, "channel count", 1, 255, &ch))))
        return rc;
    struct sdp_codec *c = codec_of(ps->m, pt);
    if (!c)
        return 0;
    if (c->has_rtpmap)
        return sdp_fail(ps, -EINVAL, "duplicate a=rtpmap for payload type %u", (unsigned)pt);
    if ((rc = sdp_copy(ps, c->name, sizeof c->name, name, "encoding name")))
        return rc;
    c->has_rtpmap = true;
    c->clock = (uint32_t)clock;
    c->channels = (uint8_t)ch;
    return 0;
}

static int fmtp_param(struct sdp_ps *ps, struct sdp_fmtp *f, char *key, char *val)
{
    static const struct {
        const char *key;
        size_t off;
        uint64_t lo, hi;
    } ints[] = {
        {"packetization-mode", offsetof(struct sdp_fmtp, packetization_mode), 0, 2},
        {"level-asymmetry-allowed", offsetof(struct sdp_fmtp, level_asymmetry_allowed), 0, 1},
        {"apt", offsetof(struct sdp_fmtp, apt), 0, 127},
        {"minptime", offsetof(struct sdp_fmtp, minptime), 0, 1000},
        {"useinbandfec", offsetof(struct sdp_fmtp, useinbandfec), 0, 1},
        {"usedtx", offsetof(struct sdp_fmtp, usedtx), 0, 1},
        {"stereo", offsetof(struct sdp_fmtp, stereo), 0, 1},
        {"sprop-stereo", offsetof(struct sdp_fmtp, sprop_stereo), 0, 1},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcasecmp(key, ints[i].key) != 0)
            continue;
        uint64_t x;
        int rc = sdp_range(ps, val, ints[i].key, ints[i].lo, ints[i].hi, &x);
        if (!rc)
            *(int *)((char *)f + ints[i].off) = (int)x;
        return rc;
    }
    if (strcasecmp(key, "profile-level-id") == 0) {
        int32_t x = 0;
        for (int i = 0; i < 6; i++) {
            int h = sdp_hexval(val[i]);
            if (h < 0)
                return sdp_fail(ps, -EINVAL, "profile-level-id must be 6 hex digits");
            x = x << 4 | h;
        }
        if (val[6])
            return sdp_fail(ps, -EINVAL, "profile-level-id must be 6 hex digits");
        f->profile_level_id = x;
    } else if (strcasecmp(key, "sprop-parameter-sets") == 0) {
        for (const char *s = val; *s; s++)
            if (!isalnum((unsigned char)*s) && !strchr("+/=,", *s))
                return sdp_fail(ps, -EINVAL, "sprop-parameter-sets is not base64 with commas");
        size_t n = strlen(val) + 1;
        if (n > sizeof ps->o->pool - ps->o->pool_used)
            return sdp_fail(ps, -E2BIG, "sprop-parameter-sets over the %zu-byte total",
                            sizeof ps->o->pool);
        f->sprop = memcpy(ps->o->pool + ps->o->pool_used, val, n);
        ps->o->pool_used += n;
    }
    return 0;
}

static int a_fmtp(struct sdp_ps *ps, char *v)
{
    char *pts = sdp_tok(&v);
    if (!pts)
        return sdp_fail(ps, -EINVAL, "a=fmtp needs <pt> <parameters>");
    uint64_t pt;
    int rc = sdp_range(ps, pts, "payload type", 0, 127, &pt);
    struct sdp_codec *c = rc ? NULL : codec_of(ps->m, pt);
    if (!c)
        return rc;
    if (c->has_fmtp)
        return sdp_fail(ps, -EINVAL, "duplicate a=fmtp for payload type %u", (unsigned)pt);
    c->has_fmtp = true;
    for (char *p = v, *next; p; p = next) {
        next = strchr(p, ';');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (!eq)
            continue; /* "0-16" (telephone-event), "111/111" (red): nothing we read */
        *eq = '\0';
        if ((rc = fmtp_param(ps, &c->fmtp, sdp_trim(p), sdp_trim(eq + 1))))
            return rc;
    }
    return 0;
}

static int a_rtcp_fb(struct sdp_ps *ps, char *v)
{
    char *pts = sdp_tok(&v), *type = sdp_tok(&v), *sub = sdp_tok(&v);
    if (!pts || !type)
        return sdp_fail(ps, -EINVAL, "a=rtcp-fb needs <pt> <type>");
    uint64_t pt = 0;
    bool all = strcmp(pts, "*") == 0;
    int rc = all ? 0 : sdp_range(ps, pts, "payload type", 0, 127, &pt);
    if (rc || !ps->m)
        return rc;
    uint32_t bit = 0;
    if (strcmp(type, "nack") == 0 && !sub)
        bit = SDP_FB_NACK;
    else if (strcmp(type, "nack") == 0 && strcmp(sub, "pli") == 0)
        bit = SDP_FB_NACK_PLI;
    else if (strcmp(type, "ccm") == 0 && sub && strcmp(sub, "fir") == 0)
        bit = SDP_FB_CCM_FIR;
    else if (strcmp(type, "goog-remb") == 0)
        bit = SDP_FB_GOOG_REMB;
    else if (strcmp(type, "transport-cc") == 0)
        bit = SDP_FB_TRANSPORT_CC;
    for (size_t i = 0; i < ps->m->n_pts; i++)
        if (all || ps->m->pts[i] == pt)
            ps->m->codecs[i].fb |= bit;
    return 0;
}

static int a_ssrc(struct sdp_ps *ps, char *v)
{
    struct sdp_media *m = ps->m;
    char *ids = sdp_tok(&v), *attr = sdp_tok(&v);
    if (!ids || !attr)
        return sdp_fail(ps, -EINVAL, "a=ssrc needs <ssrc> <attribute>[:<value>]");
    uint64_t id;
    int rc = sdp_range(ps, ids, "ssrc", 0, UINT32_MAX, &id);
    if (rc || !m)
        return rc;
    struct sdp_ssrc *s = NULL;
    for (size_t i = 0; i < m->n_ssrcs && !s; i++)
        if (m->ssrcs[i].id == id)
            s = &m->ssrcs[i];
    if (!s) {
        if (m->n_ssrcs == SDP_MAX_SSRC)
            return sdp_fail(ps, -E2BIG, "more than %d SSRCs in one m-line", SDP_MAX_SSRC);
        s = &m->ssrcs[m->n_ssrcs++];
        s->id = (uint32_t)id;
    }
    char *colon = strchr(attr, ':');
    if (colon)
        *colon++ = '\0';
    if (strcmp(attr, "cname") == 0 && colon)
        return sdp_copy(ps, s->cname, sizeof s->cname, colon, "ssrc cname");
    if (strcmp(attr, "msid") == 0 && colon) {
        if (*v) /* "msid:<stream> <track>": the track is the rest of the line */
            colon[strlen(colon)] = ' ';
        return sdp_copy(ps, s->msid, sizeof s->msid, sdp_trim(colon), "ssrc msid");
    }
    return 0;
}

static int a_ssrc_group(struct sdp_ps *ps, char *v)
{
    char *sem = sdp_tok(&v);
    if (!sem || strcmp(sem, "FID") != 0 || !ps->m)
        return 0; /* SIM and others: simulcast is not negotiated by us */
    char *a = sdp_tok(&v), *b = sdp_tok(&v);
    uint64_t x, y;
    int rc;
    if (!a || !b || sdp_tok(&v))
        return sdp_fail(ps, -EINVAL, "a=ssrc-group:FID needs exactly two SSRCs");
    if ((rc = sdp_range(ps, a, "ssrc", 0, UINT32_MAX, &x)) ||
        (rc = sdp_range(ps, b, "ssrc", 0, UINT32_MAX, &y)))
        return rc;
    if (ps->m->n_fid == SDP_MAX_FID)
        return sdp_fail(ps, -E2BIG, "more than %d a=ssrc-group:FID lines", SDP_MAX_FID);
    ps->m->fid[ps->m->n_fid][0] = (uint32_t)x;
    ps->m->fid[ps->m->n_fid++][1] = (uint32_t)y;
    return 0;
}

static int a_candidate(struct sdp_ps *ps, char *v)
{
    struct sdp_media *m = ps->m;
    if (!m)
        return ps->frag ? sdp_fail(ps, -EINVAL, "a=candidate before any a=mid or m= line") : 0;
    struct sdp_candidate c = {0};
    bool drop = false;
    int rc = sdp_parse_candidate(ps, v, &c, &drop);
    if (rc)
        return rc;
    /* Past the limit: dropped, not refused. An ICE-lite agent learns the peer's address from
     * its binding requests and needs none of these; a host with many interfaces must still be
     * able to publish. Memory stays bounded either way. */
    if (drop || m->n_cand == SDP_MAX_CAND)
        m->cand_dropped++;
    else
        m->cand[m->n_cand++] = c;
    return 0;
}

static int attribute(struct sdp_ps *ps, char *a)
{
    char *v = strchr(a, ':');
    if (v)
        *v++ = '\0';
    else
        v = a + strlen(a);
    if (!*a || !sdp_token_chars(a))
        return sdp_fail(ps, -EINVAL, "attribute name missing or not a token");
    struct sdp_media *m = ps->m;
    enum sdp_dir d;
    if (strcmp(a, "ice-ufrag") == 0 || strcmp(a, "ice-pwd") == 0)
        return a_ufrag(ps, v, a[4] == 'p');
    if (strcmp(a, "ice-options") == 0)
        return a_ice_options(ps, v);
    if (strcmp(a, "ice-lite") == 0)
        return ps->o->ice_lite = true, 0;
    if (strcmp(a, "fingerprint") == 0)
        return a_fingerprint(ps, v);
    if (strcmp(a, "setup") == 0)
        return a_setup(ps, v);
    if (strcmp(a, "group") == 0)
        return a_group(ps, v);
    if (strcmp(a, "msid-semantic") == 0)
        return m ? 0
                 : sdp_copy(ps, ps->o->msid_semantic, sizeof ps->o->msid_semantic, sdp_trim(v),
                            "a=msid-semantic");
    if (strcmp(a, "mid") == 0)
        return a_mid(ps, v);
    if (sdp_parse_dir(a, &d) == 0) {
        enum sdp_dir *dst = m ? &m->dir : &ps->o->dir;
        if (*dst != SDP_DIR_UNSET)
            return sdp_fail(ps, -EINVAL, "more than one direction attribute");
        return *dst = d, 0;
    }
    if (strcmp(a, "candidate") == 0)
        return a_candidate(ps, v);
    if (strcmp(a, "end-of-candidates") == 0) {
        *(m ? &m->end_of_candidates : &ps->session_eoc) = true;
        return 0;
    }
    if (strcmp(a, "extmap") == 0)
        return a_extmap(ps, v);
    if (strcmp(a, "rtpmap") == 0)
        return a_rtpmap(ps, v);
    if (strcmp(a, "fmtp") == 0)
        return a_fmtp(ps, v);
    if (strcmp(a, "rtcp-fb") == 0)
        return a_rtcp_fb(ps, v);
    if (strcmp(a, "ssrc") == 0)
        return a_ssrc(ps, v);
    if (strcmp(a, "ssrc-group") == 0)
        return a_ssrc_group(ps, v);
    if (!m)
        return 0;
    if (strcmp(a, "msid") == 0)
        return sdp_copy(ps, m->msid, sizeof m->msid, sdp_trim(v), "a=msid");
    if (strcmp(a, "rtcp-mux") == 0)
        m->rtcp_mux = true;
    else if (strcmp(a, "rtcp-rsize") == 0)
        m->rtcp_rsize = true;
    else if (strcmp(a, "bundle-only") == 0)
        m->bundle_only = true;
    return 0; /* everything else (rtcp, rid, simulcast, sctp-port, ...) is not ours to read */
}

static struct sdp_media *add_media(struct sdp_ps *ps)
{
    struct sdp_media *m = &ps->o->media[ps->o->n_media++];
    for (size_t i = 0; i < SDP_MAX_PT; i++) {
        struct sdp_fmtp *f = &m->codecs[i].fmtp;
        f->packetization_mode = f->profile_level_id = f->level_asymmetry_allowed = f->apt = -1;
        f->minptime = f->useinbandfec = f->usedtx = f->stereo = f->sprop_stereo = -1;
    }
    return ps->m = m;
}

static int new_frag_media(struct sdp_ps *ps)
{
    if (ps->o->n_media == SDP_MAX_MEDIA)
        return sdp_fail(ps, -E2BIG, "more than %d media sections", SDP_MAX_MEDIA);
    add_media(ps);
    return 0;
}

static int media_line(struct sdp_ps *ps, char *v)
{
    if (ps->o->n_media == SDP_MAX_MEDIA)
        return sdp_fail(ps, -E2BIG, "more than %d m-lines", SDP_MAX_MEDIA);
    struct sdp_media *m = add_media(ps);
    char *kind = sdp_tok(&v), *port = sdp_tok(&v), *proto = sdp_tok(&v), *fmt = sdp_tok(&v);
    uint64_t x;
    int rc;
    if (!fmt)
        return sdp_fail(ps, -EINVAL, "m= needs <media> <port> <proto> <fmt> ...");
    if ((rc = sdp_copy(ps, m->kind_name, sizeof m->kind_name, kind, "media type")) ||
        (rc = sdp_copy(ps, m->proto_name, sizeof m->proto_name, proto, "m= proto")) ||
        (rc = sdp_range(ps, port, "port", 0, 65535, &x)) ||
        (rc = sdp_copy(ps, m->fmt0, sizeof m->fmt0, fmt, "m= format")))
        return rc;
    m->port = (uint16_t)x;
    m->kind = strcmp(kind, "audio") == 0         ? SDP_KIND_AUDIO
              : strcmp(kind, "video") == 0       ? SDP_KIND_VIDEO
              : strcmp(kind, "application") == 0 ? SDP_KIND_APPLICATION
                                                 : SDP_KIND_OTHER;
    if (strcmp(proto, "UDP/TLS/RTP/SAVPF") == 0)
        m->proto = SDP_PROTO_UDP_SAVPF;
    else if (strcmp(proto, "TCP/DTLS/RTP/SAVPF") == 0)
        m->proto = SDP_PROTO_TCP_SAVPF;
    else if (strcmp(proto, "UDP/DTLS/SCTP") == 0 || strcmp(proto, "TCP/DTLS/SCTP") == 0)
        m->proto = SDP_PROTO_SCTP;
    if (!strstr(proto, "RTP/"))
        return 0; /* formats are not payload types (webrtc-datachannel) */
    for (; fmt; fmt = sdp_tok(&v)) {
        if ((rc = sdp_range(ps, fmt, "payload type", 0, 127, &x)))
            return rc;
        if (codec_of(m, x))
            return sdp_fail(ps, -EINVAL, "payload type %u listed twice", (unsigned)x);
        if (m->n_pts == SDP_MAX_PT)
            return sdp_fail(ps, -E2BIG, "more than %d payload types in one m-line", SDP_MAX_PT);
        m->codecs[m->n_pts].pt = (uint8_t)x;
        m->pts[m->n_pts++] = (uint8_t)x;
    }
    return 0;
}

static int parse_line(struct sdp_ps *ps, char *line, size_t n)
{
    if (n < 2 || line[1] != '=' || !islower((unsigned char)line[0]))
        return sdp_fail(ps, -EINVAL, "not a <type>=<value> line");
    char type = line[0], *v = line + 2;
    if (!ps->frag && !ps->seen_v) {
        if (type != 'v' || strcmp(v, "0") != 0)
            return sdp_fail(ps, -EINVAL, "an SDP starts with v=0");
        return ps->seen_v = true, 0;
    }
    switch (type) {
    case 'v':
        return sdp_fail(ps, -EINVAL, "v= after the first line");
    case 'm':
        return media_line(ps, v);
    case 'a':
        return attribute(ps, v);
    default:
        return 0; /* o= s= t= c= b= i= ...: nothing WebRTC needs from them */
    }
}

static int parse_lines(struct sdp_ps *ps, const char *text, size_t len)
{
    char line[SDP_MAX_LINE + 1];
    if (len > SDP_MAX_INPUT)
        return sdp_fail(ps, -E2BIG, "SDP is %zu bytes, over the %d-byte limit", len, SDP_MAX_INPUT);
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        ps->line++;
        if (n && s[n - 1] == '\r')
            n--;
        if (n > SDP_MAX_LINE)
            return sdp_fail(ps, -E2BIG, "line is %zu bytes, over the %d-byte limit", n,
                            SDP_MAX_LINE);
        if (memchr(s, '\0', n))
            return sdp_fail(ps, -EINVAL, "NUL byte");
        if (memchr(s, '\r', n))
            return sdp_fail(ps, -EINVAL, "CR not followed by LF");
        if (!n)
            continue; /* a blank line (a trailing CRLF CRLF): harmless */
        memcpy(line, s, n);
        line[n] = '\0';
        int rc = parse_line(ps, line, n);
        if (rc)
            return rc;
    }
    ps->line = 0;
    return 0;
}

static int resolve(struct sdp_ps *ps)
{
    struct sdp_offer *o = ps->o;
    if (!o->n_media)
        return sdp_fail(ps, -EINVAL, "no m= line");
    for (size_t i = 0; i < o->n_media; i++) {
        struct sdp_media *m = &o->media[i];
        if (!m->ice_ufrag[0])
            strcpy(m->ice_ufrag, o->ice_ufrag);
        if (!m->ice_pwd[0])
            strcpy(m->ice_pwd, o->ice_pwd);
        if (!m->n_fp)
            memcpy(m->fp, o->fp, sizeof o->fp), m->n_fp = o->n_fp;
        if (m->setup == SDP_SETUP_UNSET)
            m->setup = o->setup;
        if (m->dir == SDP_DIR_UNSET)
            m->dir = o->dir != SDP_DIR_UNSET ? o->dir : SDP_DIR_SENDRECV;
        m->ice_trickle |= o->ice_trickle;
        m->end_of_candidates |= ps->session_eoc;
        if (m->port == 0 && !m->bundle_only)
            continue; /* rejected by the offerer: nothing of its transport is used */
        const char *missing = !m->ice_ufrag[0]                       ? "a=ice-ufrag"
                              : !m->ice_pwd[0]                       ? "a=ice-pwd"
                              : !sdp_media_fingerprint(m, "sha-256") ? "a=fingerprint:sha-256"
                                                                     : NULL;
        if (missing)
            return sdp_fail(ps, -EINVAL, "m-line %zu: no %s at media or session level", i + 1,
                            missing);
    }
    for (size_t b = 0; b < o->n_bundle; b++) {
        size_t i;
        for (i = 0; i < o->n_media && strcmp(o->media[i].mid, o->bundle[b]) != 0; i++)
            ;
        if (i == o->n_media)
            return sdp_fail(ps, -EINVAL, "a=group:BUNDLE names mid %.64s that no m-line has",
                            o->bundle[b]);
    }
    return 0;
}

const struct sdp_fingerprint *sdp_media_fingerprint(const struct sdp_media *m, const char *alg)
{
    for (size_t i = 0; i < m->n_fp; i++)
        if (strcmp(m->fp[i].alg, alg) == 0)
            return &m->fp[i];
    return NULL;
}

int sdp_media_extmap_id(const struct sdp_media *m, const char *uri)
{
    for (size_t i = 0; i < m->n_extmaps; i++)
        if (strcmp(m->extmaps[i].uri, uri) == 0)
            return m->extmaps[i].id;
    return -1;
}

int sdp_offer_parse(const char *text, size_t len, struct sdp_offer **out, char *err, size_t errlen)
{
    struct sdp_offer *o = xcalloc(1, sizeof *o);
    struct sdp_ps ps = {.o = o, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    int rc = parse_lines(&ps, text, len);
    if (!rc)
        rc = resolve(&ps);
    if (rc)
        xfreep(&o);
    *out = o;
    return rc;
}

void sdp_offer_free(struct sdp_offer **o)
{
    xfreep(o);
}

int sdp_frag_parse(const char *text, size_t len, struct sdp_frag *f, char *err, size_t errlen)
{
    struct sdp_offer *o = xcalloc(1, sizeof *o);
    struct sdp_ps ps = {.o = o, .frag = true, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    memset(f, 0, sizeof *f);
    int rc = parse_lines(&ps, text, len);
    if (!rc) {
        strcpy(f->ice_ufrag, o->ice_ufrag);
        strcpy(f->ice_pwd, o->ice_pwd);
        f->end_of_candidates = ps.session_eoc;
        f->n_media = o->n_media;
        for (size_t i = 0; i < o->n_media; i++) {
            const struct sdp_media *m = &o->media[i];
            struct sdp_frag_media *fm = &f->media[i];
            if (!f->ice_ufrag[0] && m->ice_ufrag[0])
                strcpy(f->ice_ufrag, m->ice_ufrag);
            if (!f->ice_pwd[0] && m->ice_pwd[0])
                strcpy(f->ice_pwd, m->ice_pwd);
            strcpy(fm->mid, m->mid);
            memcpy(fm->cand, m->cand, sizeof m->cand);
            fm->n_cand = m->n_cand;
            fm->cand_dropped = m->cand_dropped;
            fm->end_of_candidates = m->end_of_candidates;
        }
    }
    xfreep(&o);
    return rc;
}

bool sdp_frag_is_restart(const struct sdp_frag *f, const char *ufrag, const char *pwd)
{
    return (f->ice_ufrag[0] && strcmp(f->ice_ufrag, ufrag) != 0) ||
           (f->ice_pwd[0] && strcmp(f->ice_pwd, pwd) != 0);
}
