/* The fragments fmp4.c writes, read back box by box: sample flags (every audio sample a sync
 * sample, video by its keyframe flag), tfhd without default sample flags, durations. */
#include "media/fmp4.h"

#include <stdio.h>

#include "media/boxes.h"
#include "packager/clip.h"
#include "core/buf.h"
#include "test.h"

static struct clip clip;

/* The clip's first two seconds through one muxer, a fragment every 0.5 s, as RTMP ingest hands
 * them over: audio packets carry no key flag. */
static void test_sample_flags(void)
{
    struct fmp4_track tr[2] = {{clip.par[0], {1, 1000}}, {clip.par[1], {1, 1000}}};
    struct fmp4 *m = NULL;
    struct blob *init = NULL;
    CHECK_EQ_INT(fmp4_create(tr, 2, "test", &init, &m), 0);
    if (!m)
        return;
    struct buf all;
    buf_init(&all);
    buf_append(&all, init->data, init->len);
    int keys = 0, video = 0, audio = 0, audio_keyed = 0;
    int64_t next_flush = 500;
    for (int i = 0; i < clip.n && clip.pkts[i].pkt->dts < 2000; i++) {
        AVPacket *p = av_packet_clone(clip.pkts[i].pkt);
        p->duration = p->stream_index == 0 ? 33 : 23;
        if (p->dts < 0) {
            av_packet_free(&p);
            continue;
        }
        if (p->dts >= next_flush) {
            struct blob *frag = NULL;
            CHECK_EQ_INT(fmp4_flush(m, &frag), 0);
            if (frag)
                buf_append(&all, frag->data, frag->len);
            blob_unref(frag);
            next_flush += 500;
        }
        CHECK_EQ_INT(fmp4_write(m, p->stream_index, p), 0);
        if (p->stream_index == 0) {
            video++;
            keys += !!(p->flags & AV_PKT_FLAG_KEY);
        } else {
            audio++;
            audio_keyed += !!(p->flags & AV_PKT_FLAG_KEY);
        }
        av_packet_free(&p);
    }
    struct blob *frag = NULL;
    CHECK_EQ_INT(fmp4_flush(m, &frag), 0);
    if (frag)
        buf_append(&all, frag->data, frag->len);
    blob_unref(frag);
    CHECK_EQ_INT(audio_keyed, 0); /* as RTMP gives them */

    struct boxes b = {0};
    boxes_read(&b, buf_head(&all), buf_size(&all));
    CHECK_EQ_INT(b.fragments, 4);
    struct box_track *v = boxes_by_handler(&b, "vide"), *a = boxes_by_handler(&b, "soun");
    CHECK(v && a);
    if (v && a) {
        fprintf(stderr, "video: %d sync, %d non-sync; audio: %d sync, %d non-sync\n", v->sync,
                v->non_sync, a->sync, a->non_sync);
        CHECK_EQ_INT(v->sync, keys);
        CHECK_EQ_INT(v->non_sync, video - keys);
        CHECK_EQ_INT(a->sync, audio);
        CHECK_EQ_INT(a->non_sync, 0);
        /* tfhd: default-base-is-moof only, no default sample flags to override trun's */
        CHECK_EQ_INT(v->tfhd_flags, 0x020000);
        CHECK_EQ_INT(a->tfhd_flags, 0x020000);
        CHECK_EQ_INT(a->timescale, 44100);
    }
    buf_free(&all);
    blob_unref(init);
    fmp4_destroy(&m);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    if (clip_make(&clip, 3, 30, 30, true) < 0) {
        fprintf(stderr, "test_fmp4: cannot encode the test clip (libx264 and aac needed)\n");
        return 1;
    }
    test_sample_flags();
    clip_free(&clip);
    return test_report("test_fmp4");
}
