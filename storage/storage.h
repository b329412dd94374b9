/* The blob store: where finished recording chunks end up. One interface, two backends, each in
 * its own file behind a const table of function pointers (storage/file.c, storage/s3.c).
 *
 *   file:DIR                                  (default DATA/recordings) objects are files under DIR
 *   s3://BUCKET/PREFIX?endpoint=URL&region=R  Amazon S3 or anything that speaks it (MinIO, s3rver);
 *                                             path-style URLs when an endpoint is given, signed
 * with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4); credentials from AWS_ACCESS_KEY_ID,
 *                                             AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional)
 *
 * s3 url details: endpoint is http(s)://HOST[:PORT] (percent-encoded or not); without it, Amazon
 * S3 in region (default AWS_REGION, else us-east-1), virtual-hosted style. Optional attempts=N
 * (tries per request, default 5) and backoff_ms=N (first wait between tries, doubled each
 * time, default 500). storage/README.md has the rest.
 *
 * Keys are relative ("alice/show/2026-11-23/<recording-id>/000001.mp4"); the store adds its own
 * prefix (the s3 PREFIX, or DIR). Every call blocks (network and disk), so it runs on the upload
 * worker or an HTTP thread, never on the network thread. A store is safe to use from several
 * threads at once.
 *
 * Results: 0, or a negative errno: -EINVAL (bad url or key), -ENOENT (no such object or bucket),
 * -EACCES (credentials refused: 403, SignatureDoesNotMatch, InvalidAccessKeyId), -EAGAIN (a
 * transient failure worth retrying: connection error, timeout, 5xx, 429/SlowDown), -EIO (anything
 * else). A failing call writes one human-readable line into err (when err is not NULL). */
#ifndef KIBITKA_STORAGE_STORAGE_H
#define KIBITKA_STORAGE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

struct storage;

/* Parses url and prepares the backend; does no I/O beyond creating DIR for file:. -EINVAL with
 * a line saying what is wrong for a bad url, or for s3 without AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY in the environment (read here, once). */
int storage_open(const char *url, struct storage **out, char *err, size_t errlen);
void storage_close(struct storage **ps);
/* "file" or "s3". */
const char *storage_backend_name(const struct storage *s);
/* The url with credentials left out, for logs and /metrics. */
const char *storage_describe(const struct storage *s);

/* Checks at start that the store is usable: DIR writable, or the bucket exists and the
 * credentials are accepted (a signed HEAD/GET on the bucket). */
int storage_check(struct storage *s, char *err, size_t errlen);

/* Stores the local file at path under key. Returns 0 only once the store has confirmed the
 * whole object (file: written, fsync'd and renamed into place; s3: the ETag of the PUT, or of
 * every part and the completed multipart upload, checked against the MD5s of what was sent).
 * Files over 16 MiB go to S3 as a multipart upload; each part is retried, and the upload is
 * aborted when giving up. */
int storage_put_file(struct storage *s, const char *key, const char *path, char *err,
                     size_t errlen);

/* Removes the object; a missing object is not an error. */
int storage_delete(struct storage *s, const char *key, char *err, size_t errlen);

/* Where a client can fetch key: for s3 a presigned GET URL (Signature V4, query-string form)
 * valid for expires_s seconds (1..604800, else -EINVAL; no request is made, so a missing
 * object shows only when the URL is fetched); for file: the absolute path of the file (-ENOENT
 * when it is not there). Returns 0 and *out (heap, the caller frees), or a negative errno.
 * *is_url tells which one it is. */
int storage_locate(struct storage *s, const char *key, int expires_s, char **out, int *is_url);

#endif
