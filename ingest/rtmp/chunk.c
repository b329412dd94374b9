#include "ingest/rtmp/chunk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Message buffers above this are freed after their message is delivered, so an idle
 * connection does not keep a keyframe-sized buffer per chunk stream. */
#define KEEP_BUFFER_MAX (256u << 10)
#define HEADER_MAX 18 /* 3 basic + 11 message + 4 extended timestamp */

struct cstream {
    uint32_t csid;
    uint8_t type;
    uint32_t len, stream_id;
    uint32_t ts, delta;
    bool ext;    /* the last fmt 0..2 header carried an extended timestamp */
    bool inprog; /* a message has started and is not complete */
    uint8_t *data;
    size_t have, cap;
};

struct chunk_reader {
    chunk_msg_cb cb;
    void *opaque;
    uint32_t chunk_size;
    struct cstream cs[CHUNK_MAX_STREAMS];
    int ncs;
    uint8_t hdr[HEADER_MAX];
    size_t hdr_len;
    struct cstream *cur; /* chunk body being read, or NULL while reading a header */
    size_t chunk_left;
    size_t pending; /* bytes of partial messages, all chunk streams */
    char err[128];
};

static const size_t msg_header_len[4] = {11, 7, 3, 0};

struct chunk_reader *chunk_reader_create(chunk_msg_cb cb, void *opaque)
{
    struct chunk_reader *r = xcalloc(1, sizeof(*r));
    r->cb = cb;
    r->opaque = opaque;
    r->chunk_size = CHUNK_DEFAULT_SIZE;
    return r;
}

void chunk_reader_destroy(struct chunk_reader **pr)
{
    struct chunk_reader *r = *pr;
    if (!r)
        return;
    for (int i = 0; i < r->ncs; i++)
        free(r->cs[i].data);
    free(r);
    *pr = NULL;
}

const char *chunk_reader_error(const struct chunk_reader *r)
{
    return r->err[0] ? r->err : "no error";
}

uint32_t chunk_reader_chunk_size(const struct chunk_reader *r)
{
    return r->chunk_size;
}

static int fail(struct chunk_reader *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct chunk_reader *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return err;
}

static uint32_t be(const uint8_t *p, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static struct cstream *find_cs(struct chunk_reader *r, uint32_t csid)
{
    for (int i = 0; i < r->ncs; i++)
        if (r->cs[i].csid == csid)
            return &r->cs[i];
    return NULL;
}

static size_t basic_len(uint8_t b0)
{
    return (b0 & 0x3F) == 0 ? 2 : (b0 & 0x3F) == 1 ? 3 : 1;
}

static uint32_t header_csid(const uint8_t *h)
{
    switch (h[0] & 0x3F) {
    case 0:
        return 64u + h[1];
    case 1:
        return 64u + h[1] + 256u * h[2];
    default:
        return h[0] & 0x3Fu;
    }
}

/* How many header bytes the chunk needs, given the hdr_len bytes read so far. The answer grows
 * as more of the header is known (csid form, fmt, then the extended timestamp). */
static size_t header_need(struct chunk_reader *r)
{
    if (r->hdr_len < 1)
        return 1;
    size_t bl = basic_len(r->hdr[0]);
    unsigned fmt = r->hdr[0] >> 6;
    size_t need = bl + msg_header_len[fmt];
    if (r->hdr_len < need)
        return need;
    bool ext;
    if (fmt < 3) {
        ext = be(r->hdr + bl, 3) == 0xFFFFFF;
    } else {
        const struct cstream *cs = find_cs(r, header_csid(r->hdr));
        ext = cs && cs->ext;
    }
    return need + (ext ? 4 : 0);
}

static int set_chunk_size(struct chunk_reader *r, const uint8_t *p, size_t len)
{
    if (len < 4)
        return fail(r, -EPROTO, "Set Chunk Size message of %zu bytes", len);
    uint32_t v = be(p, 4);
    if (v == 0 || (v & 0x80000000u) || v > CHUNK_MAX_SIZE)
        return fail(r, -EPROTO, "Set Chunk Size %u out of range 1..%u", v, CHUNK_MAX_SIZE);
    r->chunk_size = v;
    return 0;
}

static void abort_message(struct chunk_reader *r, const uint8_t *p, size_t len)
{
    if (len < 4)
        return;
    struct cstream *cs = find_cs(r, be(p, 4));
    if (!cs || !cs->inprog)
        return;
    r->pending -= cs->have;
    cs->have = 0;
    cs->inprog = false;
}

static int deliver(struct chunk_reader *r, struct cstream *cs)
{
    cs->inprog = false;
    r->pending -= cs->have;
    int err = 0;
    if (cs->type == RTMP_MSG_SET_CHUNK_SIZE) {
        err = set_chunk_size(r, cs->data, cs->have);
    } else if (cs->type == RTMP_MSG_ABORT) {
        abort_message(r, cs->data, cs->have);
    } else {
        struct rtmp_msg m = {cs->csid, cs->type, cs->stream_id, cs->ts, cs->data, cs->have};
        err = r->cb(r->opaque, &m);
    }
    cs->have = 0;
    if (cs->cap > KEEP_BUFFER_MAX) {
        xfreep(&cs->data);
        cs->cap = 0;
    }
    return err;
}

static struct cstream *new_cs(struct chunk_reader *r, uint32_t csid)
{
    if (r->ncs == CHUNK_MAX_STREAMS)
        return NULL;
    struct cstream *cs = &r->cs[r->ncs++];
    memset(cs, 0, sizeof(*cs));
    cs->csid = csid;
    return cs;
}

/* Applies a fmt 0..2 message header (after the basic header bl bytes) to cs. */
static int apply_msg_header(struct chunk_reader *r, struct cstream *cs, unsigned fmt, size_t bl)
{
    const uint8_t *h = r->hdr + bl;
    if (cs->inprog)
        return fail(r, -EPROTO, "fmt %u header on csid %u before its %u-byte message ended", fmt,
                    cs->csid, cs->len);
    uint32_t t = be(h, 3);
    cs->ext = t == 0xFFFFFF;
    if (cs->ext)
        t = be(h + msg_header_len[fmt], 4);
    if (fmt <= 1) {
        cs->len = be(h + 3, 3);
        cs->type = h[6];
    }
    if (fmt == 0) {
        cs->stream_id =
            (uint32_t)h[7] | (uint32_t)h[8] << 8 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 24;
        cs->ts = t;
        cs->delta = 0;
    } else {
        cs->ts += t;
        cs->delta = t;
    }
    return 0;
}

/* A complete chunk header is in r->hdr: update the chunk stream and start reading the body. */
static int process_header(struct chunk_reader *r)
{
    unsigned fmt = r->hdr[0] >> 6;
    size_t bl = basic_len(r->hdr[0]);
    uint32_t csid = header_csid(r->hdr);
    struct cstream *cs = find_cs(r, csid);
    if (!cs) {
        if (fmt != 0)
            return fail(r, -EPROTO, "fmt %u chunk on unseen csid %u", fmt, csid);
        cs = new_cs(r, csid);
        if (!cs)
            return fail(r, -EPROTO, "more than %d chunk streams", CHUNK_MAX_STREAMS);
    }
    if (fmt < 3) {
        int err = apply_msg_header(r, cs, fmt, bl);
        if (err < 0)
            return err;
    } else if (!cs->inprog) {
        cs->ts += cs->delta; /* a new message repeating the previous header */
    }
    if (cs->len > CHUNK_MAX_MESSAGE)
        return fail(r, -EMSGSIZE, "message of %u bytes on csid %u (limit %u)", cs->len, csid,
                    CHUNK_MAX_MESSAGE);
    if (!cs->inprog) {
        cs->inprog = true;
        cs->have = 0;
    }
    r->hdr_len = 0;
    size_t rest = cs->len - cs->have;
    r->chunk_left = rest < r->chunk_size ? rest : r->chunk_size;
    r->cur = cs;
    if (r->chunk_left == 0) { /* an empty message */
        r->cur = NULL;
        return deliver(r, cs);
    }
    return 0;
}

static void grow(struct cstream *cs, size_t need)
{
    if (need <= cs->cap)
        return;
    size_t cap = cs->cap ? cs->cap * 2 : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > cs->len)
        cap = cs->len;
    cs->data = xrealloc(cs->data, cap);
    cs->cap = cap;
}

/* Copies up to n body bytes of the current chunk; delivers the message when it completes. */
static int read_body(struct chunk_reader *r, const uint8_t *p, size_t n, size_t *used)
{
    struct cstream *cs = r->cur;
    size_t k = n < r->chunk_left ? n : r->chunk_left;
    if (r->pending + k > CHUNK_MAX_PENDING)
        return fail(r, -EMSGSIZE, "more than %u bytes of unfinished messages", CHUNK_MAX_PENDING);
    grow(cs, cs->have + k);
    memcpy(cs->data + cs->have, p, k);
    cs->have += k;
    r->pending += k;
    r->chunk_left -= k;
    *used = k;
    if (r->chunk_left > 0)
        return 0;
    r->cur = NULL;
    return cs->have == cs->len ? deliver(r, cs) : 0;
}

int chunk_reader_feed(struct chunk_reader *r, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t used = 0;
        if (r->cur) {
            int err = read_body(r, p, n, &used);
            if (err < 0)
                return err;
        } else {
            size_t need = header_need(r);
            used = 0;
            while (r->hdr_len < need && used < n) {
                r->hdr[r->hdr_len++] = p[used++];
                need = header_need(r);
            }
            if (r->hdr_len == need) {
                int err = process_header(r);
                if (err < 0)
                    return err;
            }
        }
        p += used;
        n -= used;
    }
    return 0;
}

static size_t put_basic(uint8_t *h, unsigned fmt, uint32_t csid)
{
    if (csid >= 2 && csid < 64) {
        h[0] = (uint8_t)(fmt << 6 | csid);
        return 1;
    }
    if (csid >= 64 && csid < 320) {
        h[0] = (uint8_t)(fmt << 6);
        h[1] = (uint8_t)(csid - 64);
        return 2;
    }
    h[0] = (uint8_t)(fmt << 6 | 1);
    h[1] = (uint8_t)((csid - 64) & 0xFF);
    h[2] = (uint8_t)((csid - 64) >> 8);
    return 3;
}

static size_t put_be(uint8_t *h, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        h[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return (size_t)bytes;
}

void chunk_write(struct buf *out, uint32_t chunk_size, const struct rtmp_msg *msg)
{
    uint8_t h[HEADER_MAX];
    bool ext = msg->timestamp >= 0xFFFFFF;
    size_t n = put_basic(h, 0, msg->csid);
    n += put_be(h + n, ext ? 0xFFFFFF : msg->timestamp, 3);
    n += put_be(h + n, (uint32_t)msg->len, 3);
    h[n++] = msg->type;
    for (int i = 0; i < 4; i++)
        h[n++] = (uint8_t)(msg->stream_id >> (8 * i));
    if (ext)
        n += put_be(h + n, msg->timestamp, 4);
    size_t off = 0;
    do {
        buf_append(out, h, n);
        size_t k = msg->len - off < chunk_size ? msg->len - off : chunk_size;
        if (k > 0)
            buf_append(out, msg->data + off, k);
        off += k;
        n = put_basic(h, 3, msg->csid);
        if (ext)
            n += put_be(h + n, msg->timestamp, 4);
    } while (off < msg->len);
}
