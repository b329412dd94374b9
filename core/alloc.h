/* Allocation that never returns NULL.
 *
 * Out-of-memory is decided once, here: the process logs and aborts. Call sites therefore carry no
 * NULL checks for these (the redis zmalloc approach). Use plain malloc only where a failed
 * allocation is a recoverable condition with a meaningful error for the peer. */
#ifndef KIBITKA_CORE_ALLOC_H
#define KIBITKA_CORE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* free(*pp) and set *pp to NULL. */
void xfreep(void *pp);

#endif
