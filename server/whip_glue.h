/* /whip on the HTTP server, served by ingest/whip (see whip_glue.c). */
#ifndef KIBITKA_SERVER_WHIP_GLUE_H
#define KIBITKA_SERVER_WHIP_GLUE_H

#include "api/api.h"
#include "ingest/whip/whip.h"

/* An api_external_fn: opaque is the struct whip. */
int whip_glue_http(void *opaque, const struct api_request *req, struct api_response *resp);

#endif
