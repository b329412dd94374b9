/* Helpers of the packager tests (test_hls.c): a test clip pushed through a hub, requests
 * answered through hls_handle / hls_wait, playlist text probes, decoding init + media with
 * libavformat. The includer includes test.h and clip.h first. */
#ifndef KIBITKA_TEST_PACKAGER_HLS_HELPERS_H
#define KIBITKA_TEST_PACKAGER_HLS_HELPERS_H

#define WALL0 1767225600000000LL /* 2026-01-01T00:00:00.000Z */

static struct clip clip;

/* ---- helpers ---- */

static void push(struct hub *hub, const AVPacket *p)
{
    /* The source received each packet one second after the clip's dts 0. */
    struct hub_packet hp = {p, WALL0 + (p->dts + 1000) * 1000, false};
    hub_push(hub, &hp);
}

/* Pushes clip packets from *i while their dts is below ms. */
static void push_until(struct hub *hub, int *i, int64_t ms)
{
    while (*i < clip.n && clip.pkts[*i].pkt->dts < ms)
        push(hub, clip.pkts[(*i)++].pkt);
}

static int ask(struct hls_server *srv, const char *path, const char *msn, const char *part,
               const char *skip, int64_t started, struct hls_response *r)
{
    struct hls_request rq = {path, msn, part, skip, started, NULL};
    memset(r, 0, sizeof(*r));
    return hls_handle(srv, &rq, r);
}

/* The status of a request (-1 for HLS_BLOCK); frees the body. */
static int status(struct hls_server *srv, const char *path, const char *msn, const char *part,
                  const char *skip, int64_t started)
{
    struct hls_response r;
    if (ask(srv, path, msn, part, skip, started, &r) == HLS_BLOCK)
        return -1;
    blob_unref(r.body);
    return r.status;
}

/* The body of a 200 answer as a string (caller frees), or NULL. */
static char *text(struct hls_server *srv, const char *path, const char *msn, const char *part,
                  const char *skip)
{
    struct hls_response r;
    if (ask(srv, path, msn, part, skip, 0, &r) == HLS_BLOCK || r.status != 200)
        return NULL;
    char *s = xstrndup((const char *)r.body->data, r.body->len);
    blob_unref(r.body);
    return s;
}

static struct blob *fetch(struct hls_server *srv, const char *path)
{
    struct hls_response r;
    if (ask(srv, path, NULL, NULL, NULL, 0, &r) == HLS_BLOCK || r.status != 200)
        return NULL;
    return r.body;
}

struct wake_count {
    int n;
};

static void on_wake(void *arg)
{
    ((struct wake_count *)arg)->n++;
}

static int wait_on(struct hls_server *srv, const char *path, const char *msn, const char *part,
                   struct wake_count *w)
{
    struct hls_request rq = {path, msn, part, NULL, clock_mono_us(), NULL};
    return hls_wait(srv, &rq, on_wake, w);
}

/* The session id from the playlist's EXT-X-MAP. */
static void sid_of(const char *pl, char sid[32])
{
    const char *p = strstr(pl, "init-");
    sid[0] = '\0';
    if (!p)
        return;
    p += 5;
    size_t n = strcspn(p, ".");
    if (n < 32) {
        memcpy(sid, p, n);
        sid[n] = '\0';
    }
}

/* The preload hint's segment and part. */
static bool hint_of(const char *pl, int64_t *msn, int *part)
{
    const char *p = strstr(pl, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-");
    if (!p)
        return false;
    p = strchr(p + 40, '-');
    long long m;
    return p && sscanf(p + 1, "%lld.%d.m4s", &m, part) == 2 && (*msn = m, true);
}

static int64_t tag_int(const char *pl, const char *tag)
{
    const char *p = strstr(pl, tag);
    return p ? atoll(p + strlen(tag)) : -1;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static bool has(const char *s, const char *needle)
{
    return s && strstr(s, needle);
}

/* Demuxes and decodes init + segment (through a file, as a player would get them) and counts
 * the frames per track; *first_key tells whether the first video packet is a keyframe. */
struct decoded {
    int video, audio, video_packets;
    bool first_key, h264, aac;
};

static void decode_track(AVFormatContext *fmt, AVCodecContext **dec, int idx)
{
    const AVCodec *c = avcodec_find_decoder(fmt->streams[idx]->codecpar->codec_id);
    dec[idx] = avcodec_alloc_context3(c);
    avcodec_parameters_to_context(dec[idx], fmt->streams[idx]->codecpar);
    if (avcodec_open2(dec[idx], c, NULL) < 0)
        avcodec_free_context(&dec[idx]);
}

static int receive_all(AVCodecContext *dec, AVFrame *f)
{
    int n = 0;
    while (dec && avcodec_receive_frame(dec, f) == 0)
        n++;
    return n;
}

static struct decoded decode(const struct blob *init, const struct blob *seg)
{
    struct decoded d = {0};
    char path[64];
    snprintf(path, sizeof(path), "/tmp/kibitka-test-hls-%d.mp4", (int)getpid());
    FILE *f = fopen(path, "wb");
    fwrite(init->data, 1, init->len, f);
    fwrite(seg->data, 1, seg->len, f);
    fclose(f);
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0 || fmt->nb_streams != 2) {
        avformat_close_input(&fmt);
        unlink(path);
        return d;
    }
    avformat_find_stream_info(fmt, NULL);
    AVCodecContext *dec[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++)
        decode_track(fmt, dec, i);
    d.h264 = fmt->streams[0]->codecpar->codec_id == AV_CODEC_ID_H264;
    d.aac = fmt->streams[1]->codecpar->codec_id == AV_CODEC_ID_AAC;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    while (av_read_frame(fmt, pkt) >= 0) {
        int s = pkt->stream_index;
        if (s == 0 && d.video_packets++ == 0)
            d.first_key = pkt->flags & AV_PKT_FLAG_KEY;
        if (dec[s] && avcodec_send_packet(dec[s], pkt) == 0)
            *(s == 0 ? &d.video : &d.audio) += receive_all(dec[s], frame);
        av_packet_unref(pkt);
    }
    for (int s = 0; s < 2; s++) {
        if (dec[s] && avcodec_send_packet(dec[s], NULL) == 0)
            *(s == 0 ? &d.video : &d.audio) += receive_all(dec[s], frame);
        avcodec_free_context(&dec[s]);
    }
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    unlink(path);
    return d;
}

static struct hls_server *make_server(struct hub_registry *reg, struct metrics *m, double linger)
{
    struct hls_config cfg = {.part_seconds = 0.5, .linger_seconds = linger, .metrics = m};
    return hls_server_create(&cfg, reg);
}

static struct hub *start_hub(struct hub_registry *reg, const char *name, bool video, bool audio)
{
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(reg, name, &hub), 0);
    struct hub_track tr[2];
    int n = 0;
    if (video)
        tr[n++] = (struct hub_track){clip.par[0], {1, 1000}, {0, 1}};
    if (audio)
        tr[n++] = (struct hub_track){clip.par[1], {1, 1000}, {0, 1}};
    CHECK_EQ_INT(hub_start(hub, tr, n), 0);
    return hub;
}

/* One stream on its own server: the registry, metrics, the server (linger 30 s, 0.5 s parts) and
 * the stream's hub with the clip's video and audio. */
struct one_stream {
    struct hub_registry *reg;
    struct metrics *m;
    struct hls_server *srv;
    struct hub *hub;
};

static struct one_stream one_stream_start(const char *name)
{
    struct one_stream o = {.reg = hub_registry_create(), .m = metrics_create()};
    o.srv = make_server(o.reg, o.m, 30);
    o.hub = start_hub(o.reg, name, true, true);
    return o;
}

/* Ends the stream and frees all of it. */
static void one_stream_end(struct one_stream *o)
{
    hub_end(o->hub);
    hub_unrefp(&o->hub);
    hls_server_destroy(&o->srv);
    hub_registry_destroy(&o->reg);
    metrics_destroy(&o->m);
}

#endif
