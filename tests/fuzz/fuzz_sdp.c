/* libFuzzer target: rtc/sdp. The first byte picks the parser: 'F' the trickle fragment parser,
 * anything else the offer parser, followed (when the offer parses) by sdp_choose() on every
 * m-line and sdp_answer_write(), as a receiver and as a sender with SSRCs. The answer must parse
 * back with the same m-lines and the chosen directions: what we write, we and browsers read.
 * Seeds: tests/fuzz/corpus/fuzz_sdp/ (Chromium, GStreamer, OBS and werift offers, the RFC 9725
 * trickle fragment). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "rtc/sdp.h"

static const struct sdp_local_candidate cand[] = {
    {"192.0.2.10", 8443, SDP_TRANSPORT_UDP},
    {"2001:db8::10", 8443, SDP_TRANSPORT_TCP},
};
static const struct sdp_local local = {
    .ice_ufrag = "kbtk",
    .ice_pwd = "0123456789abcdefghijklmn",
    .fingerprint = "sha-256 DA:7B:57:DC:28:CE:04:4F:31:79:85:C4:31:67:EB:27:58:29:ED:77:2A:0D:"
                   "24:AE:ED:88:20:BB:9B:62:2D:8D",
    .session_id = 1,
    .cand = cand,
    .n_cand = 2,
    .end_of_candidates = true,
};

static void answer(const struct sdp_offer *o, bool send)
{
    struct sdp_choice c[SDP_MAX_MEDIA];
    for (size_t i = 0; i < o->n_media; i++) {
        sdp_choose(o, i, &c[i]);
        if (send && c[i].accept) {
            c[i].ssrc = 1 + (uint32_t)i;
            c[i].rtx_ssrc = c[i].rtx_pt >= 0 ? 100 + (uint32_t)i : 0;
            strcpy(c[i].cname, "fuzz");
            strcpy(c[i].msid, "s t");
        }
    }
    struct buf b;
    char err[SDP_ERR_LEN];
    buf_init(&b);
    if (sdp_answer_write(o, c, &local, &b, err, sizeof err) == 0) {
        struct sdp_offer *a;
        if (sdp_offer_parse((const char *)buf_head(&b), buf_size(&b), &a, err, sizeof err) != 0)
            __builtin_trap();
        if (a->n_media != o->n_media)
            __builtin_trap();
        for (size_t i = 0; i < o->n_media; i++)
            if (c[i].accept && (a->media[i].dir != c[i].dir || a->media[i].port != 9))
                __builtin_trap();
        sdp_offer_free(&a);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SDP_ERR_LEN];
    if (size && data[0] == 'F') {
        struct sdp_frag *f = xmalloc(sizeof *f);
        if (sdp_frag_parse((const char *)data + 1, size - 1, f, err, sizeof err) == 0)
            sdp_frag_is_restart(f, "abcd", "0123456789012345678901");
        free(f);
        return 0;
    }
    struct sdp_offer *o;
    if (!size || sdp_offer_parse((const char *)data + 1, size - 1, &o, err, sizeof err) != 0)
        return 0;
    answer(o, false);
    answer(o, true);
    sdp_offer_free(&o);
    return 0;
}
