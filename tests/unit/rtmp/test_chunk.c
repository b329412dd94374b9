/* The chunk stream reader and writer: reassembly across header types, csid forms, extended
 * timestamps and chunk sizes; the hostile inputs of docs/RELIABILITY.md 1-3. */
#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "ingest/rtmp/chunk.h"
#include "test.h"

#define MAX_GOT 64

struct got {
    int n;
    struct rtmp_msg m[MAX_GOT];
    uint8_t *data[MAX_GOT];
};

static int collect(void *opaque, const struct rtmp_msg *m)
{
    struct got *g = opaque;
    if (g->n == MAX_GOT)
        return -ENOSPC;
    g->m[g->n] = *m;
    g->data[g->n] = xmalloc(m->len + 1);
    if (m->len)
        memcpy(g->data[g->n], m->data, m->len);
    g->n++;
    return 0;
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
    g->n = 0;
}

static void put_set_chunk_size(struct buf *b, uint32_t size)
{
    uint8_t v[4] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8),
                    (uint8_t)size};
    struct rtmp_msg m = {2, RTMP_MSG_SET_CHUNK_SIZE, 0, 0, v, 4};
    chunk_write(b, CHUNK_DEFAULT_SIZE, &m);
}

/* Feeds b in slices of `slice` bytes (0: all at once). */
static int feed(struct chunk_reader *r, const struct buf *b, size_t slice)
{
    size_t n = buf_size(b), off = 0;
    if (slice == 0)
        slice = n ? n : 1;
    while (off < n) {
        size_t k = n - off < slice ? n - off : slice;
        int err = chunk_reader_feed(r, buf_head(b) + off, k);
        if (err < 0)
            return err;
        off += k;
    }
    return 0;
}

static void test_round_trips(void)
{
    static const uint32_t sizes[] = {1, 128, 4096, 65536};
    static const uint32_t csids[] = {2, 3, 63, 64, 319, 320, 65599};
    static const size_t lens[] = {0, 1, 127, 128, 129, 5000, 70000};
    static const size_t slices[] = {0, 1, 7, 1000};
    uint8_t *payload = xmalloc(70000);
    for (size_t i = 0; i < 70000; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    for (size_t si = 0; si < 4; si++) {
        struct buf b;
        buf_init(&b);
        if (sizes[si] != CHUNK_DEFAULT_SIZE)
            put_set_chunk_size(&b, sizes[si]);
        for (size_t k = 0; k < 7; k++) {
            uint32_t ts = k == 6 ? 0x12345678u : (uint32_t)(k * 1000);
            struct rtmp_msg m = {csids[k], RTMP_MSG_VIDEO, (uint32_t)k, ts, payload, lens[k]};
            chunk_write(&b, sizes[si], &m);
        }
        for (size_t sl = 0; sl < 4; sl++) {
            if (sizes[si] == 1 && slices[sl] == 1000)
                continue;
            struct got g = {0};
            struct chunk_reader *r = chunk_reader_create(collect, &g);
            CHECK_EQ_INT(feed(r, &b, slices[sl]), 0);
            CHECK_EQ_INT(chunk_reader_chunk_size(r), sizes[si]);
            CHECK_EQ_INT(g.n, 7);
            for (int k = 0; k < g.n && k < 7; k++) {
                CHECK_EQ_INT(g.m[k].csid, csids[k]);
                CHECK_EQ_INT(g.m[k].len, lens[k]);
                CHECK_EQ_INT(g.m[k].stream_id, k);
                CHECK_EQ_INT(g.m[k].timestamp, k == 6 ? 0x12345678u : (uint32_t)k * 1000);
                CHECK(memcmp(g.data[k], payload, lens[k]) == 0);
            }
            got_free(&g);
            chunk_reader_destroy(&r);
        }
        buf_free(&b);
    }
    free(payload);
}

/* fmt 0, then fmt 1 (new length and type), fmt 2 (delta only), fmt 3 (repeat the delta). */
static void test_header_types(void)
{
    static const uint8_t in[] = {
        0x04, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x02, 0x09, 0x01, 0x00, 0x00,
        0x00, 'a',  'b',                                                 /* fmt 0 */
        0x44, 0x00, 0x00, 0x21, 0x00, 0x00, 0x03, 0x08, 'c',  'd',  'e', /* fmt 1: +33, 3 bytes */
        0x84, 0x00, 0x00, 0x28, 'f',  'g',  'h',                         /* fmt 2: +40 */
        0xC4, 'i',  'j',  'k',                                           /* fmt 3: +40 again */
    };
    struct got g = {0};
    struct chunk_reader *r = chunk_reader_create(collect, &g);
    CHECK_EQ_INT(chunk_reader_feed(r, in, sizeof(in)), 0);
    CHECK_EQ_INT(g.n, 4);
    if (g.n == 4) {
        CHECK_EQ_INT(g.m[0].timestamp, 1000);
        CHECK_EQ_INT(g.m[0].type, RTMP_MSG_VIDEO);
        CHECK_EQ_INT(g.m[0].stream_id, 1);
        CHECK_EQ_INT(g.m[1].timestamp, 1033);
        CHECK_EQ_INT(g.m[1].type, RTMP_MSG_AUDIO);
        CHECK_EQ_INT(g.m[1].len, 3);
        CHECK_EQ_INT(g.m[1].stream_id, 1);
        CHECK_EQ_INT(g.m[2].timestamp, 1073);
        CHECK_EQ_INT(g.m[3].timestamp, 1113);
        CHECK(memcmp(g.data[3], "ijk", 3) == 0);
    }
    got_free(&g);
    chunk_reader_destroy(&r);
}

/* Extended timestamps: on a fmt 0 header and repeated on its fmt 3 continuation chunks; as a
 * fmt 1 delta. */
static void test_extended_timestamps(void)
{
    uint8_t body[300];
    memset(body, 0x5A, sizeof(body));
    struct buf b;
    buf_init(&b);
    struct rtmp_msg m = {5, RTMP_MSG_VIDEO, 1, 0x01000000, body, sizeof(body)};
    chunk_write(&b, CHUNK_DEFAULT_SIZE, &m);
    /* 12-byte header + 4 ext, two fmt 3 chunks of 1 + 4 ext each. */
    CHECK_EQ_INT(buf_size(&b), 12 + 4 + 300 + 2 * 5);
    static const uint8_t delta[] = {0x45, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01,
                                    0x09, 0x00, 0x10, 0x00, 0x00, 'x'}; /* fmt 1, delta 0x100000 */
    buf_append(&b, delta, sizeof(delta));
    struct got g = {0};
    struct chunk_reader *r = chunk_reader_create(collect, &g);
    CHECK_EQ_INT(feed(r, &b, 3), 0);
    CHECK_EQ_INT(g.n, 2);
    if (g.n == 2) {
        CHECK_EQ_INT(g.m[0].timestamp, 0x01000000);
        CHECK_EQ_INT(g.m[0].len, 300);
        CHECK(memcmp(g.data[0], body, 300) == 0);
        CHECK_EQ_INT(g.m[1].timestamp, 0x01100000);
    }
    got_free(&g);
    chunk_reader_destroy(&r);
    buf_free(&b);
}

/* Two messages of 300 bytes whose chunks alternate between csid 4 and 6. */
static void test_interleaved(void)
{
    uint8_t a[300], v[300];
    memset(a, 'a', sizeof(a));
    memset(v, 'v', sizeof(v));
    struct buf ba, bv, b;
    buf_init(&ba);
    buf_init(&bv);
    buf_init(&b);
    chunk_write(&ba, 128, &(struct rtmp_msg){4, RTMP_MSG_AUDIO, 1, 10, a, sizeof(a)});
    chunk_write(&bv, 128, &(struct rtmp_msg){6, RTMP_MSG_VIDEO, 1, 20, v, sizeof(v)});
    /* Chunks: 12+128, 1+128, 1+44 for each. */
    size_t cuts[] = {0, 140, 269, 314};
    for (int i = 0; i < 3; i++) {
        buf_append(&b, buf_head(&ba) + cuts[i], cuts[i + 1] - cuts[i]);
        buf_append(&b, buf_head(&bv) + cuts[i], cuts[i + 1] - cuts[i]);
    }
    struct got g = {0};
    struct chunk_reader *r = chunk_reader_create(collect, &g);
    CHECK_EQ_INT(feed(r, &b, 0), 0);
    CHECK_EQ_INT(g.n, 2);
    if (g.n == 2) {
        CHECK_EQ_INT(g.m[0].csid, 4);
        CHECK(memcmp(g.data[0], a, 300) == 0);
        CHECK_EQ_INT(g.m[1].csid, 6);
        CHECK(memcmp(g.data[1], v, 300) == 0);
    }
    got_free(&g);
    chunk_reader_destroy(&r);
    buf_free(&ba);
    buf_free(&bv);
    buf_free(&b);
}

static int feed_bytes(const uint8_t *p, size_t n)
{
    struct got g = {0};
    struct chunk_reader *r = chunk_reader_create(collect, &g);
    int err = chunk_reader_feed(r, p, n);
    got_free(&g);
    chunk_reader_destroy(&r);
    return err;
}

static int feed_buf_fresh(const struct buf *b)
{
    return feed_bytes(buf_head(b), buf_size(b));
}

static void test_bad_chunk_sizes(void)
{
    static const uint32_t bad[] = {0, 0x7FFFFFFF, 0x80000000, 0x01000000, 0xFFFFFFFF};
    for (int i = 0; i < 5; i++) {
        struct buf b;
        buf_init(&b);
        put_set_chunk_size(&b, bad[i]);
        CHECK_EQ_INT(feed_buf_fresh(&b), -EPROTO);
        buf_free(&b);
    }
    struct buf b;
    buf_init(&b);
    put_set_chunk_size(&b, 0xFFFFFF); /* the largest allowed: accepted, nothing allocated */
    CHECK_EQ_INT(feed_buf_fresh(&b), 0);
    buf_free(&b);
}

static void test_bad_inputs(void)
{
    /* fmt 3, 2 and 1 on a csid never seen. */
    static const uint8_t fmt3[] = {0xC4, 0x00};
    CHECK_EQ_INT(feed_bytes(fmt3, sizeof(fmt3)), -EPROTO);
    static const uint8_t fmt1[] = {0x44, 0, 0, 0, 0, 0, 1, 9, 'x'};
    CHECK_EQ_INT(feed_bytes(fmt1, sizeof(fmt1)), -EPROTO);
    static const uint8_t fmt2_3byte[] = {0x81, 0x10, 0x20, 0, 0, 0};
    CHECK_EQ_INT(feed_bytes(fmt2_3byte, sizeof(fmt2_3byte)), -EPROTO);

    /* A 16 MB declared message length: refused from the header alone. */
    static const uint8_t huge[] = {0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0};
    CHECK_EQ_INT(feed_bytes(huge, sizeof(huge)), -EMSGSIZE);
    static const uint8_t just_over[] = {0x04, 0, 0, 0, 0x80, 0x00, 0x01, 9, 1, 0, 0, 0};
    CHECK_EQ_INT(feed_bytes(just_over, sizeof(just_over)), -EMSGSIZE);

    /* More distinct csids than the table holds (3-byte form, each an unfinished message). */
    struct buf b;
    buf_init(&b);
    for (uint32_t i = 0; i <= CHUNK_MAX_STREAMS; i++) {
        uint32_t csid = 1000 + i * 17;
        uint8_t h[] = {0x01,
                       (uint8_t)((csid - 64) & 0xFF),
                       (uint8_t)((csid - 64) >> 8),
                       0,
                       0,
                       0,
                       0,
                       0,
                       2,
                       9,
                       1,
                       0,
                       0,
                       0,
                       'x'};
        buf_append(&b, h, sizeof(h));
    }
    CHECK_EQ_INT(feed_buf_fresh(&b), -EPROTO);
    buf_free(&b);

    /* A new fmt 0 header on a csid whose 200-byte message has had one 128-byte chunk. */
    buf_init(&b);
    uint8_t h200[] = {0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0};
    uint8_t body[128] = {0};
    buf_append(&b, h200, sizeof(h200));
    buf_append(&b, body, sizeof(body));
    buf_append(&b, h200, sizeof(h200));
    CHECK_EQ_INT(feed_buf_fresh(&b), -EPROTO);
    buf_free(&b);
}

/* Partial messages across chunk streams are bounded in total. */
static void test_pending_bound(void)
{
    struct buf b;
    buf_init(&b);
    put_set_chunk_size(&b, 7u << 20);
    uint8_t *chunk = xcalloc(1, 7u << 20);
    for (int i = 0; i < 3; i++) {
        uint8_t h[] = {(uint8_t)(4 + i), 0, 0, 0, 0x7F, 0xFF, 0xFF, 9, 1, 0, 0, 0};
        buf_append(&b, h, sizeof(h));
        buf_append(&b, chunk, 7u << 20); /* 7 of its 8 MiB - 1 */
    }
    CHECK_EQ_INT(feed_buf_fresh(&b), -EMSGSIZE);
    free(chunk);
    buf_free(&b);
}

/* Abort drops a partial message; the csid then takes a fresh fmt 0 message. */
static void test_abort(void)
{
    struct buf in;
    buf_init(&in);
    uint8_t h200[] = {0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0}; /* 128 of its 200 bytes */
    uint8_t body[128] = {0};
    buf_append(&in, h200, sizeof(h200));
    buf_append(&in, body, sizeof(body));
    static const uint8_t rest[] = {
        0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0,   0,   0,   4, /* Abort csid 4 */
        0x04, 0, 0, 0, 0, 0, 3, 8, 1, 0, 0, 0, 'x', 'y', 'z',    /* a new message */
    };
    buf_append(&in, rest, sizeof(rest));
    struct got g = {0};
    struct chunk_reader *r = chunk_reader_create(collect, &g);
    CHECK_EQ_INT(feed(r, &in, 0), 0);
    buf_free(&in);
    CHECK_EQ_INT(g.n, 1);
    if (g.n == 1) {
        CHECK_EQ_INT(g.m[0].len, 3);
        CHECK(memcmp(g.data[0], "xyz", 3) == 0);
    }
    got_free(&g);
    chunk_reader_destroy(&r);
}

int main(void)
{
    test_round_trips();
    test_header_types();
    test_extended_timestamps();
    test_interleaved();
    test_bad_chunk_sizes();
    test_bad_inputs();
    test_pending_bound();
    test_abort();
    return test_report("test_chunk");
}
