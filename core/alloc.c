#include "core/alloc.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define KIBITKA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KIBITKA_ASAN 1
#endif
#endif

#ifdef KIBITKA_ASAN
/* From the sanitizer's allocator_interface.h, which gcc does not install. */
void __sanitizer_purge_allocator(void);
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static void oom(size_t n)
{
    fprintf(stderr, "kibitka: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void xfreep(void *pp)
{
    void **p = pp;
    free(*p);
    *p = NULL;
}

void heap_trim(void)
{
#ifdef KIBITKA_ASAN
    __sanitizer_purge_allocator();
#else
    malloc_trim(0);
#endif
}

long long heap_in_use(void)
{
#ifdef KIBITKA_ASAN
    return (long long)__sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return (long long)(mi.uordblks + mi.hblkhd);
#endif
}
