#include "ingest/rtmp/amf0.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* A read cursor over untrusted bytes: every read checks the remaining length first. */
struct rd {
    const uint8_t *p;
    size_t n, pos;
};

static size_t left(const struct rd *r)
{
    return r->n - r->pos;
}

static int get_u8(struct rd *r, uint8_t *v)
{
    if (left(r) < 1)
        return -EINVAL;
    *v = r->p[r->pos++];
    return 0;
}

static int get_be(struct rd *r, int bytes, uint32_t *v)
{
    if (left(r) < (size_t)bytes)
        return -EINVAL;
    uint32_t x = 0;
    for (int i = 0; i < bytes; i++)
        x = x << 8 | r->p[r->pos++];
    *v = x;
    return 0;
}

static int get_double(struct rd *r, double *d)
{
    if (left(r) < 8)
        return -EINVAL;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = bits << 8 | r->p[r->pos++];
    memcpy(d, &bits, sizeof(*d));
    return 0;
}

/* A string of len bytes (checked against what remains), copied with a trailing NUL. */
static int get_str(struct rd *r, size_t len, char **out)
{
    if (left(r) < len)
        return -EINVAL;
    char *s = xmalloc(len + 1);
    memcpy(s, r->p + r->pos, len);
    s[len] = '\0';
    r->pos += len;
    *out = s;
    return 0;
}

static int decode_value(struct rd *r, struct amf0_value *out, int depth);

/* Properties until the empty-key + object-end marker (objects and ECMA arrays). The props array
 * grows as properties decode, so its size is bounded by the input actually present. */
static int decode_props(struct rd *r, struct amf0_value *v, int depth)
{
    size_t cap = 0;
    for (;;) {
        uint32_t klen;
        if (get_be(r, 2, &klen) < 0)
            return -EINVAL;
        if (klen == 0 && left(r) >= 1 && r->p[r->pos] == AMF0_OBJECT_END) {
            r->pos++;
            return 0;
        }
        if (v->len == cap) {
            cap = cap ? cap * 2 : 8;
            v->props = xrealloc(v->props, cap * sizeof(*v->props));
        }
        struct amf0_prop *pr = &v->props[v->len];
        memset(pr, 0, sizeof(*pr));
        if (get_str(r, klen, &pr->key) < 0)
            return -EINVAL;
        pr->keylen = klen;
        v->len++; /* counted now so a failure below frees the key */
        if (decode_value(r, &pr->val, depth + 1) < 0)
            return -EINVAL;
    }
}

static int decode_strict_array(struct rd *r, struct amf0_value *v, int depth)
{
    uint32_t count;
    if (get_be(r, 4, &count) < 0)
        return -EINVAL;
    /* Every item takes at least one byte: a count beyond the input is a lie, refuse it early. */
    if (count > left(r))
        return -EINVAL;
    size_t cap = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (v->len == cap) {
            cap = cap ? cap * 2 : 8;
            v->items = xrealloc(v->items, cap * sizeof(*v->items));
        }
        memset(&v->items[v->len], 0, sizeof(*v->items));
        v->len++;
        if (decode_value(r, &v->items[v->len - 1], depth + 1) < 0)
            return -EINVAL;
    }
    return 0;
}

static int decode_body(struct rd *r, struct amf0_value *v, int depth)
{
    uint32_t u;
    uint8_t b;
    switch (v->type) {
    case AMF0_NUMBER:
        return get_double(r, &v->num);
    case AMF0_BOOLEAN:
        if (get_u8(r, &b) < 0)
            return -EINVAL;
        v->num = b ? 1 : 0;
        return 0;
    case AMF0_STRING:
    case AMF0_LONG_STRING:
        if (get_be(r, v->type == AMF0_STRING ? 2 : 4, &u) < 0)
            return -EINVAL;
        v->len = u;
        return get_str(r, u, &v->str);
    case AMF0_OBJECT:
        return decode_props(r, v, depth);
    case AMF0_ECMA_ARRAY:
        if (get_be(r, 4, &u) < 0) /* a count hint only; never trusted */
            return -EINVAL;
        return decode_props(r, v, depth);
    case AMF0_STRICT_ARRAY:
        return decode_strict_array(r, v, depth);
    case AMF0_DATE:
        if (get_double(r, &v->num) < 0 || get_be(r, 2, &u) < 0)
            return -EINVAL;
        v->tz = (int16_t)(uint16_t)u;
        return 0;
    case AMF0_NULL:
    case AMF0_UNDEFINED:
        return 0;
    default:
        return -EINVAL; /* object end out of place, references, AMF3, unknown */
    }
}

static int decode_value(struct rd *r, struct amf0_value *out, int depth)
{
    uint8_t t;
    memset(out, 0, sizeof(*out));
    out->type = AMF0_NULL;
    if (depth > AMF0_MAX_DEPTH || get_u8(r, &t) < 0)
        return -EINVAL;
    out->type = (enum amf0_type)t;
    if (decode_body(r, out, depth) < 0) {
        amf0_value_clear(out);
        return -EINVAL;
    }
    return 0;
}

int amf0_decode(const uint8_t *p, size_t n, size_t *pos, struct amf0_value *out)
{
    if (*pos > n) {
        memset(out, 0, sizeof(*out));
        out->type = AMF0_NULL;
        return -EINVAL;
    }
    struct rd r = {p, n, *pos};
    if (decode_value(&r, out, 1) < 0)
        return -EINVAL;
    *pos = r.pos;
    return 0;
}

void amf0_value_clear(struct amf0_value *v)
{
    for (size_t i = 0; v->props && i < v->len; i++) {
        free(v->props[i].key);
        amf0_value_clear(&v->props[i].val);
    }
    for (size_t i = 0; v->items && i < v->len; i++)
        amf0_value_clear(&v->items[i]);
    free(v->props);
    free(v->items);
    free(v->str);
    memset(v, 0, sizeof(*v));
    v->type = AMF0_NULL;
}

const struct amf0_value *amf0_get(const struct amf0_value *v, const char *key)
{
    if (!v || (v->type != AMF0_OBJECT && v->type != AMF0_ECMA_ARRAY))
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < v->len; i++)
        if (v->props[i].keylen == klen && memcmp(v->props[i].key, key, klen) == 0)
            return &v->props[i].val;
    return NULL;
}

const char *amf0_get_str(const struct amf0_value *v, const char *key)
{
    const struct amf0_value *s = amf0_get(v, key);
    if (!s || (s->type != AMF0_STRING && s->type != AMF0_LONG_STRING))
        return NULL;
    return s->str;
}

bool amf0_get_num(const struct amf0_value *v, const char *key, double *out)
{
    const struct amf0_value *s = amf0_get(v, key);
    if (!s || s->type != AMF0_NUMBER)
        return false;
    *out = s->num;
    return true;
}
