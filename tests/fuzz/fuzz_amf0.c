/* libFuzzer target: the AMF0 decoder. Decodes values until the input ends or an error, then
 * checks that encoding a decoded value and decoding that again gives the same bytes.
 * Seeds: tests/fuzz/corpus/fuzz_amf0/ (connect, publish, onMetaData bodies). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ingest/rtmp/amf0.h"

static void round_trip(const struct amf0_value *v)
{
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    amf0_encode(&a, v);
    struct amf0_value again;
    size_t pos = 0;
    if (amf0_decode(buf_head(&a), buf_size(&a), &pos, &again) != 0 || pos != buf_size(&a))
        __builtin_trap();
    amf0_encode(&b, &again);
    if (buf_size(&a) != buf_size(&b) || memcmp(buf_head(&a), buf_head(&b), buf_size(&a)) != 0)
        __builtin_trap();
    amf0_value_clear(&again);
    buf_free(&a);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        struct amf0_value v;
        size_t before = pos;
        if (amf0_decode(data, size, &pos, &v) != 0) {
            if (pos != before)
                __builtin_trap(); /* a failed decode must not move the cursor */
            break;
        }
        amf0_get_str(&v, "app");
        double d;
        amf0_get_num(&v, "width", &d);
        round_trip(&v);
        amf0_value_clear(&v);
    }
    return 0;
}
