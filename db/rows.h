/* Internal to db/: what every operation file needs to bind values, copy columns and collect
 * rows, on top of db_exec (backend.h). */
#ifndef KIBITKA_DB_ROWS_H
#define KIBITKA_DB_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "db/backend.h"

/* A text parameter (NULL binds NULL), an integer parameter. */
struct db_val db_txt(const char *s);
struct db_val db_num(int64_t i);
/* A heap copy of a text column, NULL for NULL. */
char *db_dup_col(const struct db_val *v);
/* A new row id: 32 lowercase hex characters (heap). */
char *db_new_id(void);

/* Runs an INSERT/UPDATE/DELETE that must change a row; none changed is -ENOENT. */
int db_exec_change(struct db *db, const struct db_stmt *st, const struct db_val *p, int np);
/* Runs a query into a heap array of row structs of size bytes, each zeroed and then filled by
 * fill; on error every filled row is cleared and *out is NULL. */
int db_query_list(struct db *db, const struct db_stmt *st, const struct db_val *p, int np,
                  void **out, size_t *n, size_t size, void (*fill)(void *, const struct db_val *),
                  void (*clear)(void *));
/* The same for at most one row (a unique key) into out, zeroed first; -ENOENT when none. */
int db_query_one(struct db *db, const struct db_stmt *st, const struct db_val *p, int np, void *out,
                 size_t size, void (*fill)(void *, const struct db_val *), void (*clear)(void *));

#endif
