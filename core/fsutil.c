#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fs_sync_close(fd);
}

int fs_sync_close(int fd)
{
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int fs_mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0755) == 0) {
            char *slash = strrchr(tmp, '/');
            if (slash) {
                *slash = '\0';
                fs_sync_dir(slash == tmp ? "/" : tmp);
                *slash = '/';
            } else {
                fs_sync_dir(".");
            }
        } else if (errno != EEXIST) {
            return -errno;
        }
        *p = c;
        if (!c)
            return 0;
    }
}
