/* A synthetic H.264 source for the transcode tests, made with libx264 (B-frames on, keyframes
 * where the includer's is_source_key says): the includer defines W, H, NFRAMES, TB and
 * is_source_key before including this. */
#ifndef KIBITKA_TEST_TRANSCODE_SOURCE_H
#define KIBITKA_TEST_TRANSCODE_SOURCE_H

static int64_t frame_pts(int i)
{
    return av_rescale(i, 1000, 30);
}

static void draw(AVFrame *f, int i)
{
    av_frame_make_writable(f);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            f->data[0][y * f->linesize[0] + x] = (uint8_t)(x + y + 4 * i);
    for (int y = 0; y < H / 2; y++)
        for (int x = 0; x < W / 2; x++) {
            f->data[1][y * f->linesize[1] + x] = (uint8_t)(128 + x / 8 - i);
            f->data[2][y * f->linesize[2] + x] = (uint8_t)(128 + y / 8 + i);
        }
}

/* Encodes the source; returns its packets in decode order and its codec parameters. */
static int make_source(AVPacket **pkts, int *npkts, AVCodecParameters *par)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return -ENOSYS;
    AVCodecContext *c = avcodec_alloc_context3(codec);
    c->width = W;
    c->height = H;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = TB;
    c->framerate = (AVRational){30, 1};
    c->gop_size = 1000;
    c->max_b_frames = 2;
    c->bit_rate = 2000000;
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *o = NULL;
    av_dict_set(&o, "preset", "ultrafast", 0);
    av_dict_set(&o, "forced-idr", "1", 0);
    av_dict_set(&o, "x264-params", "scenecut=0:bframes=2", 0);
    int rc = avcodec_open2(c, codec, &o);
    av_dict_free(&o);
    CHECK_EQ_INT(rc, 0);
    avcodec_parameters_from_context(par, c);
    AVFrame *f = av_frame_alloc();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = W;
    f->height = H;
    av_frame_get_buffer(f, 0);
    *npkts = 0;
    for (int i = 0; i <= NFRAMES; i++) {
        if (i < NFRAMES) {
            draw(f, i);
            f->pts = frame_pts(i);
            f->pict_type = is_source_key(i) ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
        }
        CHECK_EQ_INT(avcodec_send_frame(c, i < NFRAMES ? f : NULL), 0);
        for (;;) {
            AVPacket *p = av_packet_alloc();
            if (avcodec_receive_packet(c, p) < 0) {
                av_packet_free(&p);
                break;
            }
            pkts[(*npkts)++] = p;
        }
    }
    av_frame_free(&f);
    avcodec_free_context(&c);
    return 0;
}

#endif
