/* AWS Signature Version 4 pieces that libcurl does not do for us: the query-string form
 * (presigned GET URLs), plus the hashing and encoding helpers the S3 backend needs for its
 * payload headers. Requests themselves are signed by libcurl (CURLOPT_AWS_SIGV4); this file
 * signs only what a client fetches later without us. Internal to storage/.
 *
 * The algorithm (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html):
 *
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADER-NAMES \n PAYLOAD-HASH
 *   string to sign    = "AWS4-HMAC-SHA256" \n AMZ-DATE \n SCOPE \n hex(sha256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, DATE), REGION), "s3"), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * tests/unit/storage/test_storage.c checks both worked examples of that documentation. */
#ifndef KIBITKA_STORAGE_SIGV4_H
#define KIBITKA_STORAGE_SIGV4_H

#include <stddef.h>
#include <time.h>

struct buf;

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void sigv4_hex(const unsigned char *in, size_t n, char *out);
void sigv4_sha256_hex(const void *data, size_t n, char out[65]);

/* Appends s URI-encoded the way SigV4 wants: every byte but A-Z a-z 0-9 - _ . ~ as %XX
 * (upper-case hex); '/' is kept when keep_slash (object paths) and encoded otherwise. */
void sigv4_uri_encode(struct buf *b, const char *s, int keep_slash);

/* "20130524T000000Z" (16 chars + NUL) for t in UTC. */
void sigv4_amz_date(time_t t, char out[17]);

/* The hex signature of canonical_request, made at amz_date ("YYYYMMDDTHHMMSSZ") for
 * region/service with the secret key. */
void sigv4_sign(const char *secret, const char *amz_date, const char *region, const char *service,
                const char *canonical_request, char out[65]);

struct sigv4_presign {
    const char *scheme; /* "https" or "http" */
    const char *host;   /* as the client sends it in Host: "bucket.s3.amazonaws.com", "h:9000" */
    const char *path;   /* already URI-encoded, starting with '/' */
    const char *key_id; /* AWS_ACCESS_KEY_ID */
    const char *secret; /* AWS_SECRET_ACCESS_KEY */
    const char *token;  /* AWS_SESSION_TOKEN or NULL: sent as X-Amz-Security-Token */
    const char *region;
    int expires_s; /* 1 .. 604800 */
    time_t now;    /* injected, so tests can check AWS's worked example */
};

/* A presigned GET URL (heap, the caller frees): only host is signed, the payload is
 * UNSIGNED-PAYLOAD. */
char *sigv4_presign_get(const struct sigv4_presign *p);

#endif
