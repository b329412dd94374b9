/* What a storage backend implements, and what storage.c hands it. Internal to storage/: the
 * rest of kibitka sees only storage.h. A backend is a const table (file.c: storage_file_ops,
 * s3.c: storage_s3_ops); storage.c parses the url, validates keys and dispatches.
 *
 * Ownership: storage.c owns struct storage and the parsed url; a backend keeps what it needs
 * in its own state (s->impl), allocated in open and freed in close. close also runs after a
 * failed open (like an FFmpeg muxer's deinit), so open may leave s->impl half built. */
#ifndef KIBITKA_STORAGE_BACKEND_H
#define KIBITKA_STORAGE_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

struct storage;

/* A parsed url; every string is heap (storage.c frees them) or NULL. */
struct storage_url {
    char *dir;      /* file: the directory, absolute */
    char *bucket;   /* s3: */
    char *prefix;   /* s3: "" or "a/b" (no leading or trailing '/') */
    char *endpoint; /* s3: "http://127.0.0.1:9000" (no trailing '/'), or NULL for AWS */
    char *region;   /* s3: never NULL after parsing ("us-east-1" when not given) */
    int attempts;   /* s3: tries per request before giving up (default 5) */
    int backoff_ms; /* s3: first wait between tries, doubled each time (default 500) */
};

struct storage_ops {
    const char *name;
    int (*open)(struct storage *s, const struct storage_url *u, char *err, size_t errlen);
    void (*close)(struct storage *s);
    int (*check)(struct storage *s, char *err, size_t errlen);
    int (*put_file)(struct storage *s, const char *key, const char *path, char *err, size_t errlen);
    int (*del)(struct storage *s, const char *key, char *err, size_t errlen);
    int (*locate)(struct storage *s, const char *key, int expires_s, time_t now, char **out,
                  int *is_url);
};

struct storage {
    const struct storage_ops *ops;
    char *description; /* storage_describe */
    void *impl;        /* the backend's state */
};

extern const struct storage_ops storage_file_ops;
extern const struct storage_ops storage_s3_ops;

/* Writes one line into err (when not NULL) and returns rc: `return storage_fail(err, errlen,
 * -EIO, "...", ...);`. */
int storage_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* storage_locate with the clock injected (the presign test uses AWS's example time). */
int storage_locate_at(struct storage *s, const char *key, int expires_s, time_t now, char **out,
                      int *is_url);

#endif
