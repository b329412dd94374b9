/* Helpers shared by the operation files (ops.c, recordings.c): parameter values, column
 * copies, ids, and running a statement into an array of row structs. See rows.h. */
#include "db/rows.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"

struct db_val db_txt(const char *s)
{
    return (struct db_val){.type = s ? DB_TEXT : DB_NULL, .s = s};
}
struct db_val db_num(int64_t i)
{
    return (struct db_val){.type = DB_INT, .i = i};
}
char *db_dup_col(const struct db_val *v)
{
    return v->type == DB_TEXT ? xstrdup(v->s) : NULL;
}

/* 16 random bytes as 32 hex characters: ids need uniqueness, not secrecy, but getrandom gives
 * both without any state to share between threads. */
char *db_new_id(void)
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    char *s = xmalloc(33);
    for (size_t i = 0; i < sizeof(r); i++) {
        s[2 * i] = "0123456789abcdef"[r[i] >> 4];
        s[2 * i + 1] = "0123456789abcdef"[r[i] & 15];
    }
    s[32] = '\0';
    return s;
}

/* Runs an INSERT/UPDATE/DELETE that must change a row; none changed is -ENOENT. */
int db_exec_change(struct db *db, const struct db_stmt *st, const struct db_val *p, int np)
{
    int64_t changed = 0;
    int rc = db_exec(db, st, p, np, NULL, NULL, &changed);
    if (rc == 0 && changed == 0)
        rc = -ENOENT;
    return rc;
}

/* A growable array of row structs, filled by a row callback. */
struct rows {
    void *items;
    size_t n, cap, size;
    void (*fill)(void *item, const struct db_val *cols);
};

static int collect(void *ctx, const struct db_val *cols)
{
    struct rows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->items = xrealloc(r->items, r->cap * r->size);
    }
    void *item = (char *)r->items + r->n++ * r->size;
    memset(item, 0, r->size);
    r->fill(item, cols);
    return 0;
}

int db_query_list(struct db *db, const struct db_stmt *st, const struct db_val *p, int np,
                  void **out, size_t *n, size_t size, void (*fill)(void *, const struct db_val *),
                  void (*clear)(void *))
{
    struct rows r = {.size = size, .fill = fill};
    int rc = db_exec(db, st, p, np, collect, &r, NULL);
    if (rc < 0) {
        for (size_t i = 0; i < r.n; i++)
            clear((char *)r.items + i * size);
        xfreep(&r.items);
        r.n = 0;
    }
    *out = r.items;
    *n = r.n;
    return rc;
}

/* Runs a query that returns at most one row (a unique key) into out, zeroed first; -ENOENT when
 * there is none. */
int db_query_one(struct db *db, const struct db_stmt *st, const struct db_val *p, int np, void *out,
                 size_t size, void (*fill)(void *, const struct db_val *), void (*clear)(void *))
{
    void *items;
    size_t n;
    memset(out, 0, size);
    int rc = db_query_list(db, st, p, np, &items, &n, size, fill, clear);
    if (rc == 0 && n == 0)
        rc = -ENOENT;
    if (rc == 0)
        memcpy(out, items, size);
    for (size_t i = 1; i < n; i++)
        clear((char *)items + i * size);
    free(items);
    return rc;
}
