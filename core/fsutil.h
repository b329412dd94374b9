#ifndef KIBITKA_CORE_FSUTIL_H
#define KIBITKA_CORE_FSUTIL_H

/* Small filesystem helpers shared by the modules that keep data on disk (the data directory's
 * lock, the recorder's spool, the file store). Each returns 0 or a negative errno. */

/* fsync of a directory, so that an entry created or renamed in it survives a crash. */
int fs_sync_dir(const char *dir);

/* fsync(fd) then close(fd), for a directory (or file) the caller opened its own way (the
 * recorder retries the open when descriptors run out): the fsync's result. fd is closed in any
 * case. */
int fs_sync_close(int fd);

/* mkdir -p: path and any missing parents (mode 0755), fsyncing the parent of every directory
 * it creates. An existing directory is not an error. */
int fs_mkdir_p(const char *path);

#endif
