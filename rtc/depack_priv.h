/* What the depacketizers (depack_h264.c, depack_vp8.c, depack_opus.c) share with depack.c:
 * the common state and the helpers that emit and drop frames. Not for users of depack.h. */
#ifndef KIBITKA_RTC_DEPACK_PRIV_H
#define KIBITKA_RTC_DEPACK_PRIV_H

#include "rtc/depack.h"

struct depack {
    const struct depack_ops *ops;
    void *priv; /* ops->priv_size bytes, zeroed at create */
    struct depack_stats stats;
    bool have_seq;
    uint64_t last_seq;
    bool waiting_key; /* video: drop frames until a keyframe */
    bool asked_key;   /* need_keyframe raised for this wait already */
};

/* Appends a frame (a copy of p, n) to out; config_changed attaches extradata as new-extradata
 * side data. */
void depack_emit(struct depack *d, struct depack_out *out, const uint8_t *p, size_t n, uint32_t ts,
                 bool key, bool config_changed, const uint8_t *extradata, int extradata_size);
/* A frame was lost or dropped: counts it (when counted), waits for a keyframe, and raises
 * need_keyframe once per wait. */
void depack_drop(struct depack *d, struct depack_out *out, bool counted);

#endif
