/* Annex B to avcC and length-prefixed NAL units. See avcc.h. */
#include "transcode/avcc.h"

#include <errno.h>
#include <string.h>

#include "media/h264.h"

/* The next NAL unit at or after *pos: sets *nal and *len (trailing zero bytes, which belong to
 * the next 4-byte start code, excluded) and advances *pos. Returns 0 when there is none. */
static int next_nal(const uint8_t *p, int size, int *pos, const uint8_t **nal, int *len)
{
    int i = *pos;
    while (i + 3 <= size && !(p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1))
        i++;
    if (i + 3 > size)
        return 0;
    int start = i + 3, end = start;
    while (end + 3 <= size && !(p[end] == 0 && p[end + 1] == 0 && p[end + 2] == 1))
        end++;
    if (end + 3 > size)
        end = size;
    *pos = end;
    while (end > start && p[end - 1] == 0)
        end--;
    *nal = p + start;
    *len = end - start;
    return 1;
}

int avcc_from_annexb(const uint8_t *p, int size, uint8_t **out, int *outlen)
{
    const uint8_t *sps = NULL, *pps = NULL, *nal;
    int sps_len = 0, pps_len = 0, len, pos = 0;
    *out = NULL;
    *outlen = 0;
    while (next_nal(p, size, &pos, &nal, &len)) {
        if (len < 1)
            continue;
        if ((nal[0] & 0x1f) == 7 && !sps && len >= 4)
            sps = nal, sps_len = len;
        else if ((nal[0] & 0x1f) == 8 && !pps)
            pps = nal, pps_len = len;
    }
    if (!sps || !pps)
        return -EINVAL;
    return h264_avcc_build(sps, (size_t)sps_len, pps, (size_t)pps_len, out, outlen);
}

int avcc_packet_from_annexb(AVPacket *pkt)
{
    const uint8_t *nal;
    int len, pos = 0, n = 0;
    while (next_nal(pkt->data, pkt->size, &pos, &nal, &len))
        n += 4 + len;
    AVBufferRef *buf = av_buffer_alloc((size_t)n + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!buf)
        return AVERROR(ENOMEM);
    uint8_t *w = buf->data;
    pos = 0;
    while (next_nal(pkt->data, pkt->size, &pos, &nal, &len)) {
        *w++ = (uint8_t)(len >> 24);
        *w++ = (uint8_t)(len >> 16);
        *w++ = (uint8_t)(len >> 8);
        *w++ = (uint8_t)len;
        memcpy(w, nal, (size_t)len);
        w += len;
    }
    memset(w, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    av_buffer_unref(&pkt->buf);
    pkt->buf = buf;
    pkt->data = buf->data;
    pkt->size = n;
    return 0;
}
