/* Closed captions in H.264 access units (h264_au_has_captions): the A/53 SEI found among other
 * NAL units and SEI messages, through emulation prevention bytes and with each NAL length size;
 * other T.35 payloads, truncated and malformed units answer false. And the avcC's NAL length
 * size (h264_avcc_nal_length_size). */
#include "media/h264.h"

#include <stdlib.h>

#include "test.h"

/* The A/53 message: payload type 4, 14 bytes (header, cc_count 1, one padding triplet, the
 * marker). */
static const uint8_t a53_msg[] = {0x04, 0x0e, 0xb5, 0x00, 0x31, 'G',  'A',  '9',
                                  '4',  0x03, 0x41, 0xff, 0xfc, 0x80, 0x80, 0xff};

struct au {
    uint8_t b[4096];
    size_t n;
};

/* Appends one NAL unit with a length of ls bytes. */
static void add_nal(struct au *a, int ls, const uint8_t *nal, size_t n)
{
    for (int i = ls - 1; i >= 0; i--)
        a->b[a->n++] = (uint8_t)(n >> (8 * i));
    memcpy(a->b + a->n, nal, n);
    a->n += n;
}

/* An SEI NAL unit: header, the given messages, trailing bits. */
static size_t sei_nal(uint8_t *out, const uint8_t *msgs, size_t n)
{
    out[0] = 0x06;
    memcpy(out + 1, msgs, n);
    out[n + 1] = 0x80;
    return n + 2;
}

/* One SEI unit of the A/53 message with n bytes at offset at replaced by what: captions? */
static bool with_a53_changed(size_t at, const char *what, size_t n)
{
    uint8_t msg[sizeof(a53_msg)], nal[64];
    memcpy(msg, a53_msg, sizeof(msg));
    memcpy(msg + at, what, n);
    struct au a = {0};
    add_nal(&a, 4, nal, sei_nal(nal, msg, sizeof(msg)));
    return h264_au_has_captions(a.b, a.n, 4);
}

static const uint8_t slice[] = {0x65, 0x88, 0x84, 0x00, 0x33, 0xff}; /* an IDR slice's start */

int main(void)
{
    uint8_t nal[3000];
    struct au a = {0};

    /* An IDR alone: no captions. */
    add_nal(&a, 4, slice, sizeof(slice));
    CHECK(!h264_au_has_captions(a.b, a.n, 4));

    /* SEI then slice, for each NAL length size. */
    for (int ls = 1; ls <= 4; ls *= 2) {
        a.n = 0;
        add_nal(&a, ls, nal, sei_nal(nal, a53_msg, sizeof(a53_msg)));
        add_nal(&a, ls, slice, sizeof(slice));
        CHECK(h264_au_has_captions(a.b, a.n, ls));
        CHECK(!h264_au_has_captions(a.b, a.n, 3)); /* no such size */
        /* Cut anywhere: never read past the end, and a cut A/53 header is not captions. */
        for (size_t cut = 0; cut < (size_t)ls + 11; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, a.b, cut);
            CHECK(!h264_au_has_captions(copy, cut, ls));
            free(copy);
        }
    }
    /* After a slice, in a second SEI NAL. */
    a.n = 0;
    add_nal(&a, 4, slice, sizeof(slice));
    static const uint8_t pic_timing[] = {0x01, 0x02, 0x11, 0x22};
    add_nal(&a, 4, nal, sei_nal(nal, pic_timing, sizeof(pic_timing)));
    CHECK(!h264_au_has_captions(a.b, a.n, 4));
    add_nal(&a, 4, nal, sei_nal(nal, a53_msg, sizeof(a53_msg)));
    CHECK(h264_au_has_captions(a.b, a.n, 4));

    /* After x264's 600-byte version string (type 5, a size of 0xff 0xff 0x5a), in the same NAL
     * unit, with an emulation prevention byte in the UUID: the size bytes add up and the 0x03
     * is taken out. */
    uint8_t msgs[700];
    size_t m = 0;
    msgs[m++] = 0x05;
    msgs[m++] = 0xff;
    msgs[m++] = 0xff;
    msgs[m++] = 0x5a; /* 255 + 255 + 90 = 600 */
    uint8_t payload[600];
    memset(payload, 'x', sizeof(payload));
    payload[0] = payload[1] = 0x00;
    payload[2] = 0x01; /* 00 00 01 in the RBSP: escaped below as 00 00 03 01 */
    memcpy(msgs + m, payload, sizeof(payload));
    m += sizeof(payload);
    memcpy(msgs + m, a53_msg, sizeof(a53_msg));
    m += sizeof(a53_msg);
    size_t n = sei_nal(nal, msgs, m);
    /* escape: 00 00 01 -> 00 00 03 01 (the payload starts at nal + 5) */
    memmove(nal + 8, nal + 7, n - 7);
    nal[7] = 0x03;
    n++;
    a.n = 0;
    add_nal(&a, 4, nal, n);
    CHECK(h264_au_has_captions(a.b, a.n, 4));
    /* The same byte where it is not an escape (not after two zeros) stays in the RBSP: the
     * version string then ends a byte early, and the A/53 message is not where a message
     * starts. */
    nal[7] = 0x7f;
    a.n = 0;
    add_nal(&a, 4, nal, n);
    CHECK(!h264_au_has_captions(a.b, a.n, 4));

    /* Other T.35 payloads: AFD ("DTG1"), another provider, another user data type; the A/53
     * bytes in a message of another type (5: unregistered user data); a message whose size runs
     * past the unit. */
    CHECK(!with_a53_changed(5, "DTG1", 4));
    CHECK(!with_a53_changed(4, "\x2f", 1));
    CHECK(!with_a53_changed(9, "\x06", 1)); /* bar data */
    CHECK(!with_a53_changed(0, "\x05", 1));
    CHECK(!with_a53_changed(1, "\x40", 1));
    CHECK(with_a53_changed(0, "\x04", 1)); /* unchanged: the control */
    /* A zero NAL length, a length past the end. */
    static const uint8_t zero[] = {0, 0, 0, 0, 0x06, 0x04};
    CHECK(!h264_au_has_captions(zero, sizeof(zero), 4));
    static const uint8_t past[] = {0, 0, 0, 0x40, 0x06, 0x04, 0x0e};
    CHECK(!h264_au_has_captions(past, sizeof(past), 4));
    CHECK(!h264_au_has_captions(NULL, 0, 4));

    /* avcC: lengthSizeMinusOne in the fifth byte's low bits; 3 is not a size. */
    uint8_t avcc[] = {1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00};
    CHECK_EQ_INT(h264_avcc_nal_length_size(avcc, sizeof(avcc)), 4);
    avcc[4] = 0xfd;
    CHECK_EQ_INT(h264_avcc_nal_length_size(avcc, sizeof(avcc)), 2);
    avcc[4] = 0xfc;
    CHECK_EQ_INT(h264_avcc_nal_length_size(avcc, sizeof(avcc)), 1);
    avcc[4] = 0xfe;
    CHECK_EQ_INT(h264_avcc_nal_length_size(avcc, sizeof(avcc)), 0);
    avcc[0] = 0; /* Annex B, not avcC */
    CHECK_EQ_INT(h264_avcc_nal_length_size(avcc, sizeof(avcc)), 0);
    CHECK_EQ_INT(h264_avcc_nal_length_size(NULL, 0), 0);
    return test_report("test_h264_captions");
}
