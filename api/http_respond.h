/* The HTTP server's answers, built on libmicrohttpd responses: plain text, the packager's blobs,
 * the CORS preflights, an /api answer (struct api_response: JSON, text, a blob or a file sent
 * with sendfile, and its headers) and the refusals made before routing. http.c decides which;
 * these only build and queue them. Each returns what MHD_queue_response returned (MHD_NO when
 * MHD could not make the response: the connection is then dropped).
 *
 * cors: the Access-Control-Allow-Origin value to send, NULL for none. */
#ifndef KIBITKA_API_HTTP_RESPOND_H
#define KIBITKA_API_HTTP_RESPOND_H

#include <microhttpd.h>

#include "api/api.h"
#include "packager/hls.h"

/* text (copied) with Content-Type ctype and Cache-Control: no-store. */
enum MHD_Result http_send_text(struct MHD_Connection *conn, unsigned status, const char *ctype,
                               const char *text, const char *cors);
/* msg and a newline, as text/plain. */
enum MHD_Result http_send_status(struct MHD_Connection *conn, unsigned status, const char *msg,
                                 const char *cors);
/* A packager answer with a body: the blob's reference goes to MHD (dropped when sent). */
enum MHD_Result http_send_blob(struct MHD_Connection *conn, const struct hls_response *hr,
                               const char *cors);
/* 204 to the CORS preflight of /hls and the recordings' media (GET, HEAD; Range). */
enum MHD_Result http_send_preflight(struct MHD_Connection *conn, const char *cors);
/* 204 to WHIP's preflight (POST, PATCH, DELETE; RFC 9725 4.2). */
enum MHD_Result http_send_whip_preflight(struct MHD_Connection *conn, const char *cors);
/* ar's answer with its headers. Takes what ar owns that MHD can send from (file descriptor,
 * blob, text); the caller still clears ar. cors is sent when ar->cors asks for it. */
enum MHD_Result http_send_api(struct MHD_Connection *conn, struct api_response *ar,
                              const char *cors);
/* text/plain why and Connection: close: what follows on the connection cannot be trusted to
 * start a request (smuggling, a refused target). */
enum MHD_Result http_send_refusal(struct MHD_Connection *conn, unsigned status, const char *why);

#endif
