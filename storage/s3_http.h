/* One signed S3 request with libcurl, and the retry loop around it. Internal to storage/:
 * s3.c builds the operations (PUT, multipart, DELETE, the bucket check) out of these.
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"). What libcurl 7.88 does and does
 * not do, read from lib/http_aws_sigv4.c at curl-7_88_1, shapes this file:
 *   - it signs host plus every header we set, and takes the payload hash from our
 *     x-amz-content-sha256 header; without that header it would hash CURLOPT_POSTFIELDS (empty
 *     for a streamed PUT), so every request sets the header to the real SHA-256 of its body;
 *   - it puts the url's path and query into the canonical request as they are, without
 *     sorting or re-encoding: so paths are URI-encoded here (sigv4_uri_encode) and queries are
 *     written already canonical (sorted, every name with '=': "uploads=", not "uploads");
 *   - headers we set with an empty value ("Expect:") would be signed but never sent, so we set
 *     none.
 * A CURL handle is reused across the requests of one operation (curl_easy_reset keeps its
 * connections), never shared between threads. */
#ifndef KIBITKA_STORAGE_S3_HTTP_H
#define KIBITKA_STORAGE_S3_HTTP_H

#include <curl/curl.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

struct s3 {
    char *bucket, *prefix, *region; /* prefix "" or "a/b" */
    char *key_id, *secret, *token;  /* token NULL when AWS_SESSION_TOKEN is unset */
    char *scheme;                   /* "http" or "https" */
    char *host;                     /* Host: as sent, "127.0.0.1:9000", "b.s3.r.amazonaws.com" */
    char *bucket_path;              /* "/bucket" (path style) or "" (virtual-hosted style) */
    char *sigv4;                    /* "aws:amz:REGION:s3" */
    char *where;                    /* "bucket 'b' at http://...", for messages */
    int attempts, backoff_ms;
};

/* A body: len bytes of fd from off (a file or a part of it), or of mem, or nothing. */
struct s3_body {
    int fd;
    off_t off;
    const char *mem;
    uint64_t len;
    uint64_t pos; /* how far libcurl has read */
};

struct s3_request {
    const char *method;       /* GET HEAD PUT POST DELETE */
    const char *path;         /* URI-encoded, from '/': "/bucket/prefix/key" */
    const char *query;        /* canonical ("partNumber=1&uploadId=x") or NULL */
    struct s3_body body;      /* fd -1 and mem NULL: no body */
    const char *sha256;       /* hex SHA-256 of the body */
    const char *content_md5;  /* base64 MD5 of the body, or NULL */
    const char *content_type; /* or NULL */
    const char *what;         /* for messages: "PUT alice/x.mp4" */
};

struct s3_response {
    long status;
    char etag[80]; /* without quotes; "" when none */
    char code[64]; /* <Code> of an error body, "" when none */
    char message[160];
    struct buf body; /* capped at 1 MiB; NUL-terminated */
};

void s3_response_init(struct s3_response *rs);
void s3_response_free(struct s3_response *rs);

/* One try. 0 on a 2xx without an <Error> body, else a negative errno (storage.h's mapping)
 * with a line in err. */
int s3_perform(struct s3 *s3, CURL *c, struct s3_request *rq, struct s3_response *rs, char *err,
               size_t errlen);
/* Up to s3->attempts tries while the result is -EAGAIN, waiting backoff_ms, 2x, 4x... (at most
 * 20 s) between them. */
int s3_perform_retry(struct s3 *s3, CURL *c, struct s3_request *rq, struct s3_response *rs,
                     char *err, size_t errlen);

/* Copies the text of the first <tag>...</tag> in xml into out (XML entities for quotes
 * decoded); returns 0, or -1 when absent or too long. */
int s3_xml_tag(const char *xml, const char *tag, char *out, size_t outlen);

/* Removes surrounding quotes ("..." or &quot;...&quot;) and spaces from an ETag, in place. */
void s3_etag_clean(char *etag);

#endif
