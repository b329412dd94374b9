/* The AMF0 encoder half of amf0.h: what we send (command replies) and the round trip of a
 * decoded tree (tests, fuzzing). */
#include <string.h>

#include "ingest/rtmp/amf0.h"

static void put_u8(struct buf *b, uint8_t v)
{
    buf_append(b, &v, 1);
}

static void put_be(struct buf *b, uint32_t v, int bytes)
{
    uint8_t tmp[4];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    buf_append(b, tmp, (size_t)bytes);
}

static void put_double(struct buf *b, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(bits >> (56 - 8 * i));
    buf_append(b, tmp, 8);
}

void amf0_put_number(struct buf *b, double d)
{
    put_u8(b, AMF0_NUMBER);
    put_double(b, d);
}

void amf0_put_bool(struct buf *b, bool v)
{
    put_u8(b, AMF0_BOOLEAN);
    put_u8(b, v ? 1 : 0);
}

void amf0_put_stringn(struct buf *b, const char *s, size_t n)
{
    if (n > 0xFFFF) {
        put_u8(b, AMF0_LONG_STRING);
        put_be(b, (uint32_t)n, 4);
    } else {
        put_u8(b, AMF0_STRING);
        put_be(b, (uint32_t)n, 2);
    }
    buf_append(b, s, n);
}

void amf0_put_string(struct buf *b, const char *s)
{
    amf0_put_stringn(b, s, strlen(s));
}

void amf0_put_null(struct buf *b)
{
    put_u8(b, AMF0_NULL);
}

void amf0_put_undefined(struct buf *b)
{
    put_u8(b, AMF0_UNDEFINED);
}

void amf0_put_object_begin(struct buf *b)
{
    put_u8(b, AMF0_OBJECT);
}

void amf0_put_ecma_array_begin(struct buf *b, uint32_t count_hint)
{
    put_u8(b, AMF0_ECMA_ARRAY);
    put_be(b, count_hint, 4);
}

/* Keys are at most 65535 bytes; longer ones are cut (we only encode our own short keys and
 * keys that were decoded from a 16-bit length). */
static void put_keyn(struct buf *b, const char *key, size_t n)
{
    if (n > 0xFFFF)
        n = 0xFFFF;
    put_be(b, (uint32_t)n, 2);
    buf_append(b, key, n);
}

void amf0_put_key(struct buf *b, const char *key)
{
    put_keyn(b, key, strlen(key));
}

void amf0_put_object_end(struct buf *b)
{
    put_be(b, 0, 2);
    put_u8(b, AMF0_OBJECT_END);
}

void amf0_put_strict_array_begin(struct buf *b, uint32_t count)
{
    put_u8(b, AMF0_STRICT_ARRAY);
    put_be(b, count, 4);
}

void amf0_put_date(struct buf *b, double ms, int16_t tz)
{
    put_u8(b, AMF0_DATE);
    put_double(b, ms);
    put_be(b, (uint16_t)tz, 2);
}

void amf0_encode(struct buf *b, const struct amf0_value *v)
{
    switch (v->type) {
    case AMF0_NUMBER:
        amf0_put_number(b, v->num);
        break;
    case AMF0_BOOLEAN:
        amf0_put_bool(b, v->num != 0);
        break;
    case AMF0_STRING:
    case AMF0_LONG_STRING:
        put_u8(b, v->type);
        put_be(b, (uint32_t)v->len, v->type == AMF0_STRING ? 2 : 4);
        buf_append(b, v->str, v->len);
        break;
    case AMF0_OBJECT:
    case AMF0_ECMA_ARRAY:
        if (v->type == AMF0_OBJECT)
            amf0_put_object_begin(b);
        else
            amf0_put_ecma_array_begin(b, (uint32_t)v->len);
        for (size_t i = 0; i < v->len; i++) {
            put_keyn(b, v->props[i].key, v->props[i].keylen);
            amf0_encode(b, &v->props[i].val);
        }
        amf0_put_object_end(b);
        break;
    case AMF0_STRICT_ARRAY:
        amf0_put_strict_array_begin(b, (uint32_t)v->len);
        for (size_t i = 0; i < v->len; i++)
            amf0_encode(b, &v->items[i]);
        break;
    case AMF0_DATE:
        amf0_put_date(b, v->num, v->tz);
        break;
    case AMF0_UNDEFINED:
        amf0_put_undefined(b);
        break;
    default:
        amf0_put_null(b);
        break;
    }
}
