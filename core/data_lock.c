#include "core/data_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"

struct data_lock {
    int fd;
};

/* The pid the holder wrote, 0 if none yet. The holder writes it right after it got the lock, so
 * an empty file is read again for a little while. */
static long read_holder(int fd)
{
    for (int tries = 0; tries < 20; tries++) {
        char text[32] = "";
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        long pid = n > 0 ? strtol(text, NULL, 10) : 0;
        if (pid > 0)
            return pid;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return 0;
}

int data_lock_acquire(const char *dir, struct data_lock **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = fs_mkdir_p(dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create the data directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    size_t n = strlen(dir) + 8;
    char *path = xmalloc(n);
    snprintf(path, n, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
    } else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        long pid = rc == -EBUSY ? read_holder(fd) : 0;
        if (pid > 0)
            snprintf(err, errlen, "data directory %s is in use by pid %ld", dir, pid);
        else if (rc == -EBUSY)
            snprintf(err, errlen, "data directory %s is in use by another process", dir);
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(-rc));
        close(fd);
    } else {
        char text[32];
        int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
        errno = EIO; /* a short write sets none */
        if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len) {
            rc = -errno;
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
            close(fd);
        } else {
            *out = xmalloc(sizeof(**out));
            (*out)->fd = fd;
        }
    }
    free(path);
    return rc;
}

void data_lock_release(struct data_lock **plock)
{
    struct data_lock *l = *plock;
    if (!l)
        return;
    close(l->fd); /* the last descriptor of the open file: the flock goes with it */
    free(l);
    *plock = NULL;
}
