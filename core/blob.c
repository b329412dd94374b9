#include "core/blob.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct blob *blob_create(const void *p, size_t len)
{
    struct blob *b = xmalloc(sizeof(*b) + len);
    atomic_init(&b->refs, 1);
    b->len = len;
    if (p && len)
        memcpy(b->data, p, len);
    return b;
}

struct blob *blob_ref(struct blob *b)
{
    atomic_fetch_add(&b->refs, 1);
    return b;
}

void blob_unref(struct blob *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

void blob_unrefp(struct blob **pb)
{
    blob_unref(*pb);
    *pb = NULL;
}
