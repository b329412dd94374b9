/* libFuzzer target: the voice signaling's message parser (sfu/signal_msg.c), which reads every
 * text message a WebSocket client sends (join, offer, trickle with a browser's candidate turned
 * into an sdpfrag, mute, leave, ping), and the error message written back from its reason.
 * Seeds: tests/fuzz/corpus/fuzz_signal_msg/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/signal_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct signal_msg m;
    const char *code = NULL;
    char why[256];
    struct buf out;
    buf_init(&out);
    if (signal_msg_parse((const char *)data, size, &m, &code, why, sizeof(why)) < 0) {
        signal_msg_error(&out, code, why);
    } else {
        if (m.type == SIGNAL_OFFER && (!m.sdp || strlen(m.sdp) != m.sdp_len))
            abort();
        if (m.type == SIGNAL_TRICKLE && (!m.frag || strlen(m.frag) != m.frag_len))
            abort();
        if (strlen(m.room) > SFU_NAME_MAX || strlen(m.display) > SFU_NAME_MAX)
            abort();
        signal_msg_simple(&out, "answer", "sdp", m.sdp ? m.sdp : "", m.sdp_len);
        signal_msg_clear(&m);
    }
    buf_free(&out);
    return 0;
}
