/* The audio transcoder: any audio libavcodec decodes (MP3 from RTMP now, Opus from WHIP later)
 * to AAC-LC, once per stream, so that every rendition shares one AAC track that hls.js, Safari
 * and VLC all play.
 *
 *   packet --decode--> frames --swresample (planar float, same rate and layout)--> 1024-sample
 *   frames (AVAudioFifo) --aac (libavcodec's native encoder)--> AAC packets
 *
 * Cheap enough to run synchronously on the caller's thread (the packager's sink on the network
 * thread): about a hundred microseconds per 20-30 ms of stereo audio.
 *
 * Timestamps. Output packets are in 1/sample_rate, counted from the first decoded frame's pts
 * (rescaled) by the number of samples encoded, so a source with jittery millisecond timestamps
 * (RTMP) comes out as exact 1024-sample steps; a gap of more than 100 ms in the source restarts
 * the count from the new pts. The encoder's priming (its first packet starts 1024 samples
 * early) is kept: the packager shifts and drops what precedes the stream start.
 *
 * Ownership: the caller keeps what it sends; received packets are the caller's. */
#ifndef KIBITKA_TRANSCODE_AUDIO_H
#define KIBITKA_TRANSCODE_AUDIO_H

#include <libavcodec/avcodec.h>

struct audio_transcoder;

/* src: the source track (codec_id, and sample_rate/channels when known: the decoder learns them
 * from the stream otherwise); src_tb: its packets' time base; bit_rate: the AAC bitrate (0:
 * 128 kbit/s). The output rate and layout follow the first decoded frame (AAC takes 8 to 96
 * kHz; more than 2 channels are mixed down to stereo). Returns 0 and *out, -ENOSYS when there is
 * no decoder for the codec or no AAC encoder, or an AVERROR. */
int audio_transcoder_create(const AVCodecParameters *src, AVRational src_tb, int64_t bit_rate,
                            struct audio_transcoder **out);
void audio_transcoder_destroy(struct audio_transcoder **pt);

/* The AAC output's parameters (AudioSpecificConfig extradata, rate, layout) and time base
 * (1/sample_rate), known from create on: the encoder opens at the source's declared rate and
 * layout (44.1 kHz stereo when the source declares none, re-opened never: a source whose first
 * frame disagrees is resampled to what was declared). */
const AVCodecParameters *audio_transcoder_par(const struct audio_transcoder *t);
AVRational audio_transcoder_time_base(const struct audio_transcoder *t);

/* Feeds one packet (NULL flushes at the end). 0, or a negative error; an undecodable packet is
 * skipped (returns 0, counted). */
int audio_transcoder_send(struct audio_transcoder *t, const AVPacket *pkt);
/* The next AAC packet into out (blank), or -EAGAIN. */
int audio_transcoder_receive(struct audio_transcoder *t, AVPacket *out);

#endif
