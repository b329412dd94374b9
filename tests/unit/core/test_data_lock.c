/* The data directory's lock: created with missing parents, exclusive (a second holder gets
 * -EBUSY and the first one's pid), free again after release, and a refused attempt changes
 * nothing in the directory. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/data_lock.h"
#include "test.h"

static time_t mtime_ns(const char *path, long *ns)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    *ns = st.st_mtim.tv_nsec;
    return st.st_mtim.tv_sec;
}

int main(void)
{
    char tmpl[] = "/tmp/kibitka-lock-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    char dir[128], lockfile[160], err[256];
    snprintf(dir, sizeof(dir), "%s/a/b", tmpl);
    snprintf(lockfile, sizeof(lockfile), "%s/lock", dir);

    struct data_lock *first = NULL, *second = NULL;
    CHECK_EQ_INT(data_lock_acquire(dir, &first, err, sizeof(err)), 0);
    CHECK(first != NULL);
    FILE *f = fopen(lockfile, "r");
    long pid = 0;
    CHECK(f && fscanf(f, "%ld", &pid) == 1);
    if (f)
        fclose(f);
    CHECK_EQ_INT(pid, (long)getpid());

    /* flock conflicts between two opens even within one process: this is what a second server
     * sees. */
    long ns1 = 0, ns2 = 0;
    time_t t1 = mtime_ns(lockfile, &ns1);
    usleep(20000);
    CHECK_EQ_INT(data_lock_acquire(dir, &second, err, sizeof(err)), -EBUSY);
    CHECK(second == NULL);
    char want[200];
    snprintf(want, sizeof(want), "data directory %s is in use by pid %ld", dir, (long)getpid());
    CHECK_STREQ(err, want);
    time_t t2 = mtime_ns(lockfile, &ns2);
    CHECK(t1 == t2 && ns1 == ns2); /* the holder's file was not rewritten */

    data_lock_release(&first);
    CHECK(first == NULL);
    data_lock_release(&first); /* NULL is fine */
    CHECK_EQ_INT(data_lock_acquire(dir, &second, err, sizeof(err)), 0);
    data_lock_release(&second);

    /* A directory that cannot be made: the reason, not a lock. */
    char bad[200];
    snprintf(bad, sizeof(bad), "%s/lock/sub", dir); /* "lock" is a file */
    CHECK(data_lock_acquire(bad, &second, err, sizeof(err)) < 0);
    CHECK(strstr(err, "cannot create the data directory") != NULL);

    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
    CHECK_EQ_INT(system(cmd), 0);
    return test_report("test_data_lock");
}
