/* AMF0: round trips of every type, and the hostile inputs of docs/RELIABILITY.md 5. */
#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "ingest/rtmp/amf0.h"
#include "test.h"

/* Decodes everything in b, re-encodes it and checks the bytes are identical. */
static void check_round_trip(const struct buf *b, int nvalues)
{
    size_t pos = 0;
    struct buf again;
    buf_init(&again);
    int n = 0;
    while (pos < buf_size(b)) {
        struct amf0_value v;
        if (amf0_decode(buf_head(b), buf_size(b), &pos, &v) < 0) {
            CHECK(!"decode failed");
            break;
        }
        amf0_encode(&again, &v);
        amf0_value_clear(&v);
        n++;
    }
    CHECK_EQ_INT(n, nvalues);
    CHECK_EQ_INT(buf_size(&again), buf_size(b));
    CHECK(buf_size(&again) == buf_size(b) &&
          memcmp(buf_head(&again), buf_head(b), buf_size(b)) == 0);
    buf_free(&again);
}

static void test_round_trip(void)
{
    struct buf b;
    buf_init(&b);
    amf0_put_number(&b, 3.25);
    amf0_put_bool(&b, true);
    amf0_put_string(&b, "connect");
    amf0_put_null(&b);
    amf0_put_undefined(&b);
    amf0_put_date(&b, 1.7e12, -60);
    amf0_put_object_begin(&b);
    amf0_put_key(&b, "app");
    amf0_put_string(&b, "live");
    amf0_put_key(&b, "nested");
    amf0_put_ecma_array_begin(&b, 2);
    amf0_put_key(&b, "width");
    amf0_put_number(&b, 1280);
    amf0_put_key(&b, "list");
    amf0_put_strict_array_begin(&b, 3);
    amf0_put_number(&b, 1);
    amf0_put_string(&b, "two");
    amf0_put_bool(&b, false);
    amf0_put_object_end(&b);
    amf0_put_object_end(&b);
    char *big = xmalloc(70000);
    memset(big, 'x', 70000);
    amf0_put_stringn(&b, big, 70000); /* becomes a long string */
    free(big);
    check_round_trip(&b, 8);

    /* Values read back as written. */
    size_t pos = 0;
    struct amf0_value v[8];
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(amf0_decode(buf_head(&b), buf_size(&b), &pos, &v[i]), 0);
    CHECK(v[0].type == AMF0_NUMBER && v[0].num == 3.25);
    CHECK(v[1].type == AMF0_BOOLEAN && v[1].num == 1);
    CHECK_STREQ(v[2].str, "connect");
    CHECK(v[3].type == AMF0_NULL);
    CHECK(v[4].type == AMF0_UNDEFINED);
    CHECK(v[5].type == AMF0_DATE && v[5].num == 1.7e12 && v[5].tz == -60);
    CHECK_STREQ(amf0_get_str(&v[6], "app"), "live");
    double w = 0;
    CHECK(amf0_get_num(amf0_get(&v[6], "nested"), "width", &w) && w == 1280);
    const struct amf0_value *list = amf0_get(amf0_get(&v[6], "nested"), "list");
    CHECK(list && list->type == AMF0_STRICT_ARRAY && list->len == 3);
    CHECK(list && list->len == 3 && list->items[1].type == AMF0_STRING);
    CHECK(amf0_get(&v[6], "missing") == NULL);
    CHECK(amf0_get_str(&v[6], "nested") == NULL);
    CHECK(v[7].type == AMF0_LONG_STRING && v[7].len == 70000);
    for (int i = 0; i < 8; i++)
        amf0_value_clear(&v[i]);
    buf_free(&b);
}

static int decode_bytes(const uint8_t *p, size_t n)
{
    size_t pos = 0;
    struct amf0_value v;
    int err = amf0_decode(p, n, &pos, &v);
    if (err == 0)
        amf0_value_clear(&v);
    else
        CHECK_EQ_INT(pos, 0); /* a failed decode does not advance */
    return err;
}

static void test_truncated(void)
{
    struct buf b;
    buf_init(&b);
    amf0_put_object_begin(&b);
    amf0_put_key(&b, "code");
    amf0_put_string(&b, "NetStream.Publish.Start");
    amf0_put_key(&b, "n");
    amf0_put_number(&b, 1);
    amf0_put_object_end(&b);
    for (size_t k = 0; k < buf_size(&b); k++)
        CHECK_EQ_INT(decode_bytes(buf_head(&b), k), -EINVAL);
    CHECK_EQ_INT(decode_bytes(buf_head(&b), buf_size(&b)), 0);
    buf_free(&b);

    uint8_t str[] = {AMF0_STRING, 0x00, 0x10, 'a', 'b'}; /* claims 16 bytes, has 2 */
    CHECK_EQ_INT(decode_bytes(str, sizeof(str)), -EINVAL);
    uint8_t lstr[] = {AMF0_LONG_STRING, 0xFF, 0xFF, 0xFF, 0xFF, 'a'}; /* 2^32-1 */
    CHECK_EQ_INT(decode_bytes(lstr, sizeof(lstr)), -EINVAL);
    uint8_t num[] = {AMF0_NUMBER, 0x40, 0x09};
    CHECK_EQ_INT(decode_bytes(num, sizeof(num)), -EINVAL);
    uint8_t date[] = {AMF0_DATE, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(decode_bytes(date, sizeof(date)), -EINVAL);
    CHECK_EQ_INT(decode_bytes(date, 0), -EINVAL);
}

static void test_hostile(void)
{
    /* Objects nested 10,000 deep: refused at AMF0_MAX_DEPTH, no stack exhaustion. */
    size_t depth = 10000;
    uint8_t *deep = xmalloc(depth * 4 + 1);
    for (size_t i = 0; i < depth; i++) {
        deep[i * 4] = AMF0_OBJECT;
        deep[i * 4 + 1] = 0;
        deep[i * 4 + 2] = 1;
        deep[i * 4 + 3] = 'k';
    }
    deep[depth * 4] = AMF0_NULL;
    CHECK_EQ_INT(decode_bytes(deep, depth * 4 + 1), -EINVAL);
    free(deep);

    /* Strict arrays nested just below and just past the limit. */
    uint8_t arr[AMF0_MAX_DEPTH * 5 + 6];
    size_t n = 0;
    for (int i = 0; i < AMF0_MAX_DEPTH - 1; i++) {
        uint8_t one[] = {AMF0_STRICT_ARRAY, 0, 0, 0, 1};
        memcpy(arr + n, one, 5);
        n += 5;
    }
    arr[n++] = AMF0_NULL;
    CHECK_EQ_INT(decode_bytes(arr, n), 0);
    uint8_t over[sizeof(arr) + 5] = {AMF0_STRICT_ARRAY, 0, 0, 0, 1};
    memcpy(over + 5, arr, n);
    CHECK_EQ_INT(decode_bytes(over, n + 5), -EINVAL);

    /* Strict array counts 2^32-1 and 0xFFFF with a few bytes: no allocation by count. */
    uint8_t big[] = {AMF0_STRICT_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF, AMF0_NULL, AMF0_NULL};
    CHECK_EQ_INT(decode_bytes(big, sizeof(big)), -EINVAL);
    uint8_t mid[] = {AMF0_STRICT_ARRAY, 0x00, 0x00, 0x00, 0x03, AMF0_NULL, AMF0_NULL};
    CHECK_EQ_INT(decode_bytes(mid, sizeof(mid)), -EINVAL);
    uint8_t ecma[] = {AMF0_ECMA_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, AMF0_OBJECT_END};
    CHECK_EQ_INT(decode_bytes(ecma, sizeof(ecma)), 0); /* the count is only a hint */

    /* AMF3 switch, references, typed objects, unknown types, a bare object end: errors. */
    uint8_t bad[] = {AMF0_AMF3_SWITCH, 0x07, 0x10, 0x0D, 0x0E, 0x0F, 0x42, 0xFF, AMF0_OBJECT_END};
    for (size_t i = 0; i < sizeof(bad); i++)
        CHECK_EQ_INT(decode_bytes(&bad[i], 1), -EINVAL);
    uint8_t amf3_in_obj[] = {AMF0_OBJECT, 0, 1, 'a', AMF0_AMF3_SWITCH, 0x02, 0, 0, 9};
    CHECK_EQ_INT(decode_bytes(amf3_in_obj, sizeof(amf3_in_obj)), -EINVAL);

    /* An object without its end marker. */
    uint8_t open_obj[] = {AMF0_OBJECT, 0, 1, 'a', AMF0_NULL};
    CHECK_EQ_INT(decode_bytes(open_obj, sizeof(open_obj)), -EINVAL);
    size_t pos = 5;
    struct amf0_value v;
    CHECK_EQ_INT(amf0_decode(open_obj, sizeof(open_obj), &pos, &v), -EINVAL); /* at the end */
    pos = 99;
    CHECK_EQ_INT(amf0_decode(open_obj, sizeof(open_obj), &pos, &v), -EINVAL); /* past it */
}

int main(void)
{
    test_round_trip();
    test_truncated();
    test_hostile();
    return test_report("test_amf0");
}
