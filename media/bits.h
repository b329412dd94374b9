/* A bounds-checked MSB-first bit reader for codec headers (SPS, AudioSpecificConfig). Reading
 * past the end sets err and returns zeros, so parsers check err once at the end of a step. */
#ifndef KIBITKA_MEDIA_BITS_H
#define KIBITKA_MEDIA_BITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bits {
    const uint8_t *p;
    size_t nbits, pos;
    bool err;
};

static inline void bits_init(struct bits *b, const uint8_t *p, size_t n)
{
    b->p = p;
    b->nbits = n * 8;
    b->pos = 0;
    b->err = false;
}

static inline uint32_t bits_get(struct bits *b, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        if (b->pos >= b->nbits) {
            b->err = true;
            return 0;
        }
        v = v << 1 | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1);
        b->pos++;
    }
    return v;
}

/* Unsigned exp-Golomb; more than 31 leading zeros is an error (the value would not fit). */
static inline uint32_t bits_ue(struct bits *b)
{
    int zeros = 0;
    while (!b->err && bits_get(b, 1) == 0) {
        if (++zeros > 31) {
            b->err = true;
            return 0;
        }
    }
    if (b->err)
        return 0;
    return (uint32_t)((1ull << zeros) - 1 + bits_get(b, zeros));
}

static inline int32_t bits_se(struct bits *b)
{
    uint32_t k = bits_ue(b);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

#endif
