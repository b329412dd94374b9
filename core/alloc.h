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

/* Gives the allocator's free memory back to the system: glibc's malloc_trim(0); in an ASan build
 * (where glibc's heap is unused) the sanitizer's allocator is purged instead: its quarantine of
 * freed blocks drained and free pages released, so that RSS after streams end means the same
 * in the soak's sanitizer build as in a release build. Walks the heap: not on a hot path. */
void heap_trim(void);

/* Bytes the program has allocated and not freed (glibc: mallinfo2's uordblks plus mmapped
 * blocks; ASan: its count of live allocations, the quarantine excluded). */
long long heap_in_use(void);

#endif
