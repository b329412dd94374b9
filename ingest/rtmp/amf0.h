/* AMF0: the value encoding of RTMP commands (connect, publish ...) and data messages
 * (@setDataFrame / onMetaData).
 *
 * The decoder reads untrusted bytes into a small tree of malloc'd nodes. Every length is checked
 * against the bytes that remain, counts are never trusted for allocation (a strict array that
 * claims 2^32 items grows as items actually decode), nesting is bounded by AMF0_MAX_DEPTH, and
 * the AMF3 switch marker or an unknown type is an error. Reference types (0x07) and typed objects
 * (0x10), which no encoder sends to an ingest server, are errors too.
 *
 * The encoder appends to a struct buf; strings longer than 65535 bytes become long strings. */
#ifndef KIBITKA_INGEST_RTMP_AMF0_H
#define KIBITKA_INGEST_RTMP_AMF0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define AMF0_MAX_DEPTH 16

enum amf0_type {
    AMF0_NUMBER = 0x00,
    AMF0_BOOLEAN = 0x01,
    AMF0_STRING = 0x02,
    AMF0_OBJECT = 0x03,
    AMF0_NULL = 0x05,
    AMF0_UNDEFINED = 0x06,
    AMF0_ECMA_ARRAY = 0x08,
    AMF0_OBJECT_END = 0x09,
    AMF0_STRICT_ARRAY = 0x0A,
    AMF0_DATE = 0x0B,
    AMF0_LONG_STRING = 0x0C,
    AMF0_AMF3_SWITCH = 0x11,
};

struct amf0_prop;

/* One decoded value. Strings are NUL-terminated copies (they may also contain NULs; len is the
 * byte count). Objects and ECMA arrays hold props, strict arrays hold items. */
struct amf0_value {
    enum amf0_type type;
    double num;               /* NUMBER, DATE (ms since epoch); BOOLEAN as 0/1 */
    int16_t tz;               /* DATE: the (unused) time-zone field */
    char *str;                /* STRING, LONG_STRING */
    size_t len;               /* string bytes, or number of props / items */
    struct amf0_prop *props;  /* OBJECT, ECMA_ARRAY */
    struct amf0_value *items; /* STRICT_ARRAY */
};

struct amf0_prop {
    char *key;
    size_t keylen;
    struct amf0_value val;
};

/* Decodes one value from p[*pos, n) into *out and advances *pos. Returns 0, or -EINVAL on
 * malformed, truncated or unsupported input (then *out holds nothing to free and *pos is
 * unchanged). On success the caller frees *out with amf0_value_clear. */
int amf0_decode(const uint8_t *p, size_t n, size_t *pos, struct amf0_value *out);
/* Frees what a value owns and resets it to NULL type. */
void amf0_value_clear(struct amf0_value *v);

/* Lookups on an OBJECT or ECMA_ARRAY (NULL when v is not one or the key is absent). */
const struct amf0_value *amf0_get(const struct amf0_value *v, const char *key);
/* The string value of key, or NULL when missing or not a string. */
const char *amf0_get_str(const struct amf0_value *v, const char *key);
/* The number value of key into *out; false when missing or not a number. */
bool amf0_get_num(const struct amf0_value *v, const char *key, double *out);

/* Encoder. Objects: amf0_put_object_begin, then amf0_put_key + a value per property, then
 * amf0_put_object_end. */
void amf0_put_number(struct buf *b, double d);
void amf0_put_bool(struct buf *b, bool v);
void amf0_put_string(struct buf *b, const char *s);
void amf0_put_stringn(struct buf *b, const char *s, size_t n);
void amf0_put_null(struct buf *b);
void amf0_put_undefined(struct buf *b);
void amf0_put_object_begin(struct buf *b);
void amf0_put_ecma_array_begin(struct buf *b, uint32_t count_hint);
void amf0_put_key(struct buf *b, const char *key);
void amf0_put_object_end(struct buf *b);
void amf0_put_strict_array_begin(struct buf *b, uint32_t count);
void amf0_put_date(struct buf *b, double ms, int16_t tz);
/* Encodes a decoded tree back (round trips). */
void amf0_encode(struct buf *b, const struct amf0_value *v);

#endif
