/* Refcounted immutable bytes: a finished part, segment or playlist handed from the packager to
 * HTTP responses on other threads. Whoever holds a reference may read data until blob_unref;
 * nobody writes after blob_create's caller has filled it and shared it. */
#ifndef KIBITKA_CORE_BLOB_H
#define KIBITKA_CORE_BLOB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct blob {
    atomic_int refs;
    size_t len;
    uint8_t data[];
};

/* A blob of len bytes (contents uninitialised, one reference). Copies p when it is not NULL. */
struct blob *blob_create(const void *p, size_t len);
struct blob *blob_ref(struct blob *b);
void blob_unref(struct blob *b);
/* blob_unref(*pb) and set *pb to NULL; NULL-safe. */
void blob_unrefp(struct blob **pb);

#endif
