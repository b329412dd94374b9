/* Growable byte buffers. A buf is a window [off, len) over a heap array: writers append at len,
 * readers consume from off. The owner of the struct owns the array; buf_free releases it. */
#ifndef KIBITKA_CORE_BUF_H
#define KIBITKA_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t off; /* first unread byte */
    size_t len; /* one past the last written byte */
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Makes room for n more bytes after len, compacting consumed bytes first. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
static inline size_t buf_size(const struct buf *b) { return b->len - b->off; }
static inline uint8_t *buf_head(const struct buf *b) { return b->data + b->off; }
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);

#endif
