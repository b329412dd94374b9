/* The file: backend: objects are files under DIR, at DIR/<key>. A put copies into a temporary
 * file next to the target (a hard link to the spool file on the same filesystem, else a copy),
 * fsyncs it, renames it into place and fsyncs the directory, so after
 * a crash the object is either whole or absent, never a prefix. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "storage/backend.h"

struct file_store {
    char *dir; /* absolute, no trailing '/' */
};

static const char *dir_of(struct storage *s)
{
    return ((struct file_store *)s->impl)->dir;
}

static int file_open(struct storage *s, const struct storage_url *u, char *err, size_t errlen)
{
    struct file_store *f = xcalloc(1, sizeof(*f));
    s->impl = f;
    f->dir = xstrdup(u->dir);
    int rc = fs_mkdir_p(f->dir);
    if (rc < 0)
        return storage_fail(err, errlen, rc, "file storage: cannot create %s: %s", f->dir,
                            strerror(-rc));
    return 0;
}

static void file_close(struct storage *s)
{
    struct file_store *f = s->impl;
    if (!f)
        return;
    free(f->dir);
    free(f);
    s->impl = NULL;
}

static int file_check(struct storage *s, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.kibitka-check-XXXXXX", dir_of(s));
    int fd = mkstemp(tmp);
    if (fd < 0)
        return storage_fail(err, errlen, -errno, "file storage: %s is not writable: %s", dir_of(s),
                            strerror(errno));
    close(fd);
    unlink(tmp);
    return 0;
}

/* Copies all of in to out (copy_file_range, falling back to read/write across filesystems
 * that refuse it). */
static int copy_fd(int in, int out)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -errno;
        break;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                return -errno;
            off += w > 0 ? w : 0;
        }
    }
}

/* Writes src into a fresh temporary file tmp (a template, filled in) and fsyncs it. */
static int write_temp(const char *src, char *tmp, char *err, size_t errlen)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return storage_fail(err, errlen, errno == ENOENT ? -ENOENT : -EIO,
                            "file storage: cannot read %s: %s", src, strerror(errno));
    int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        int e = errno;
        close(in);
        return storage_fail(err, errlen, -EIO, "file storage: cannot create %s: %s", tmp,
                            strerror(e));
    }
    int rc = copy_fd(in, out);
    if (rc == 0 && fsync(out) < 0)
        rc = -errno;
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    close(in);
    if (rc < 0) {
        unlink(tmp);
        return storage_fail(err, errlen, -EIO, "file storage: writing %s: %s", tmp, strerror(-rc));
    }
    return 0;
}

/* On the same filesystem the object is a hard link to the (closed, complete) spool file, so the
 * chunk's bytes are written to disk once, not twice; the spool name is removed after the upload
 * and the object keeps the data. 0, or -EXDEV (or another errno) when a copy is needed. */
static int link_temp(const char *src, char *tmp)
{
    int fd = mkostemp(tmp, O_CLOEXEC); /* reserves a fresh name in the target directory */
    if (fd < 0)
        return -errno;
    close(fd);
    unlink(tmp);
    if (link(src, tmp) < 0)
        return -errno;
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 || fsync(fd) < 0 ? -errno : 0; /* the recorder fsync'd it; cheap */
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

static int file_put(struct storage *s, const char *key, const char *path, char *err, size_t errlen)
{
    char dst[PATH_MAX], tmp[PATH_MAX + 16], parent[PATH_MAX];
    if (snprintf(dst, sizeof(dst), "%s/%s", dir_of(s), key) >= (int)sizeof(dst))
        return storage_fail(err, errlen, -EINVAL, "file storage: path too long for %s", key);
    snprintf(parent, sizeof(parent), "%s", dst);
    *strrchr(parent, '/') = '\0';
    int rc = fs_mkdir_p(parent);
    if (rc < 0)
        return storage_fail(err, errlen, -EIO, "file storage: cannot create %s: %s", parent,
                            strerror(-rc));
    snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dst);
    if (link_temp(path, tmp) < 0) { /* another filesystem, or no links: copy */
        snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dst);
        rc = write_temp(path, tmp, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return storage_fail(err, errlen, -EIO, "file storage: rename to %s: %s", dst, strerror(e));
    }
    rc = fs_sync_dir(parent);
    if (rc < 0)
        return storage_fail(err, errlen, -EIO, "file storage: fsync %s: %s", parent, strerror(-rc));
    return 0;
}

/* Removes the now empty directories between the deleted file and DIR (best effort: rmdir
 * fails on the first one that still holds something). */
static void prune_dirs(const char *root, char *path)
{
    size_t rootlen = strlen(root);
    for (char *slash = strrchr(path, '/'); slash && (size_t)(slash - path) > rootlen;
         slash = strrchr(path, '/')) {
        *slash = '\0';
        if (rmdir(path) < 0)
            return;
    }
}

static int file_del(struct storage *s, const char *key, char *err, size_t errlen)
{
    char dst[PATH_MAX];
    if (snprintf(dst, sizeof(dst), "%s/%s", dir_of(s), key) >= (int)sizeof(dst))
        return storage_fail(err, errlen, -EINVAL, "file storage: path too long for %s", key);
    if (unlink(dst) < 0) {
        if (errno == ENOENT)
            return 0;
        return storage_fail(err, errlen, errno == EACCES || errno == EPERM ? -EACCES : -EIO,
                            "file storage: cannot delete %s: %s", dst, strerror(errno));
    }
    prune_dirs(dir_of(s), dst);
    return 0;
}

static int file_locate(struct storage *s, const char *key, int expires_s, time_t now, char **out,
                       int *is_url)
{
    char dst[PATH_MAX];
    struct stat st;
    if (snprintf(dst, sizeof(dst), "%s/%s", dir_of(s), key) >= (int)sizeof(dst))
        return -EINVAL;
    if (stat(dst, &st) < 0)
        return errno == ENOENT ? -ENOENT : -EIO;
    *out = xstrdup(dst);
    if (is_url)
        *is_url = 0;
    return 0;
}

const struct storage_ops storage_file_ops = {
    .name = "file",
    .open = file_open,
    .close = file_close,
    .check = file_check,
    .put_file = file_put,
    .del = file_del,
    .locate = file_locate,
};
