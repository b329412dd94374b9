/* Annex B to avcC and to length-prefixed packets. */
#include <errno.h>

#include "test.h"
#include "transcode/avcc.h"

int main(void)
{
    /* 4-byte start code SPS, 3-byte start code PPS, a trailing zero before the next start code */
    static const uint8_t annexb[] = {0,    0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac,
                                     0x00, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80};
    uint8_t *avcc;
    int n;
    CHECK_EQ_INT(avcc_from_annexb(annexb, sizeof(annexb), &avcc, &n), 0);
    static const uint8_t want[] = {1,    0x64, 0x00, 0x1f, 0xff, 0xe1, 0,    5,    0x67, 0x64,
                                   0x00, 0x1f, 0xac, 1,    0,    4,    0x68, 0xee, 0x3c, 0x80};
    CHECK_EQ_INT(n, sizeof(want));
    CHECK(n == sizeof(want) && memcmp(avcc, want, sizeof(want)) == 0);
    av_free(avcc);

    CHECK_EQ_INT(avcc_from_annexb(annexb, 10, &avcc, &n), -EINVAL); /* SPS only */
    CHECK(avcc == NULL);
    CHECK_EQ_INT(avcc_from_annexb(annexb, 0, &avcc, &n), -EINVAL);

    AVPacket *pkt = av_packet_alloc();
    static const uint8_t frame[] = {0, 0, 0, 1, 0x06, 0xaa, 0, 0, 1, 0x65, 0x88, 0x84, 0x00};
    av_new_packet(pkt, sizeof(frame));
    memcpy(pkt->data, frame, sizeof(frame));
    pkt->pts = 42;
    pkt->flags = AV_PKT_FLAG_KEY;
    CHECK_EQ_INT(avcc_packet_from_annexb(pkt), 0);
    static const uint8_t lengths[] = {0, 0, 0, 2, 0x06, 0xaa, 0, 0, 0, 3, 0x65, 0x88, 0x84};
    CHECK_EQ_INT(pkt->size, sizeof(lengths));
    CHECK(pkt->size == sizeof(lengths) && memcmp(pkt->data, lengths, sizeof(lengths)) == 0);
    CHECK_EQ_INT(pkt->pts, 42);
    CHECK(pkt->flags & AV_PKT_FLAG_KEY);
    av_packet_free(&pkt);
    return test_report("test_avcc");
}
