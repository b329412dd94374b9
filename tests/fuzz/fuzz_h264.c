/* libFuzzer target: the H.264 bytes a publisher sends that kibitka parses itself (media/h264.c):
 * access units scanned for closed captions (h264_au_has_captions, on every video packet the
 * packager cuts), SPS NAL units (h264_sps_parse) and avcC records
 * (h264_avcc_nal_length_size). The first byte picks the NAL length size (its low two bits: 1,
 * 2, 3 (invalid) or 4); the rest is the access unit, and also the SPS and the record.
 * Checked: a parsed SPS has a size within 16384 and a known chroma format.
 * Seeds: tests/fuzz/corpus/fuzz_h264/. */
#include <stddef.h>
#include <stdint.h>

#include "media/h264.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int sizes[4] = {1, 2, 3, 4};
    int ls = sizes[data[0] & 3];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    volatile bool cc = h264_au_has_captions(p, n, ls);
    (void)cc;
    struct avc_config c = {0};
    if (h264_sps_parse(p, n, &c) == 0) {
        if (c.width <= 0 || c.height <= 0 || c.width > 16384 || c.height > 16384)
            __builtin_trap();
        if (c.chroma_format_idc < 0 || c.chroma_format_idc > 3)
            __builtin_trap();
    }
    int nls = h264_avcc_nal_length_size(p, n > 0x7fffffff ? 0x7fffffff : (int)n);
    if (nls != 0 && nls != 1 && nls != 2 && nls != 4)
        __builtin_trap();
    return 0;
}
