/* The media side of the voice SFU: a member's offer becomes its WebRTC session (one
 * microphone m-line we receive, `slots` m-lines we send on), each packet of a microphone is
 * copied to the receivers whose slot holds its speaker (sfu/slots.h decides and rewrites), and
 * every SFU_TICK_MS the ranking runs and changed slot maps are told in `speakers` events.
 *
 * Cost per packet: the transport decrypted it once; for each receiver of the room a slot
 * lookup (at most `slots` compares), and for each copy a header written and one encryption
 * straight into the port's send queue (rtc_session_send_rtp), sent with the rest of the read
 * batch in one sendmmsg. Nothing is allocated and no lock is taken. */
#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "rtc/sdp.h"
#include "sfu/sfu_priv.h"

/* ---- the session's user ---- */

static void on_connected(void *opaque)
{
    struct sfu_member *m = opaque;
    m->connected = true;
}

static void forward(struct sfu_member *from, const struct rtp_packet *pkt, uint64_t seq, int level,
                    bool vad, int64_t now)
{
    struct room *r = from->room;
    struct rtc_rtp_out o = {.audio_level = level,
                            .vad = vad,
                            .payload = pkt->payload,
                            .payload_len = pkt->payload_len,
                            .delay = from->sfu->mx.forward_delay,
                            .arrival_us = rtc_transport_rx_us(from->sfu->rtc)};
    int64_t sent = 0, failed = 0;
    for (int i = 0; i < r->n; i++) {
        struct sfu_member *to = r->m[i];
        if (to == from || !to->connected)
            continue;
        int k = slot_map_find(&to->map, from->num);
        if (k < 0)
            continue;
        if (!slot_out_rewrite(&to->map.slot[k], seq, pkt->ts, 48000, now, &o.seq, &o.ts, &o.marker))
            continue;
        o.marker = o.marker || pkt->marker;
        if (rtc_session_send_rtp(to->rtc, to->slot_mline[k], &o) == 0) {
            to->packets_forwarded++;
            sent++;
        } else {
            failed++;
        }
    }
    metrics_add(from->sfu->mx.forwarded, sent);
    metrics_add(r->mx.forwarded, sent);
    metrics_add(from->sfu->mx.send_errors, failed);
}

/* The microphone's SSRC changed (a new encoder, a renegotiation): its timestamps start
 * anywhere, so every slot holding it makes its offsets again, as on a speaker change. */
static void mic_restarted(struct sfu_member *m)
{
    struct room *r = m->room;
    for (int i = 0; i < r->n; i++) {
        int k = slot_map_find(&r->m[i]->map, m->num);
        if (k >= 0)
            r->m[i]->map.slot[k].fresh = true;
    }
}

static void on_rtp(void *opaque, int mline, const struct rtp_packet *pkt, uint64_t seq,
                   bool lost_before)
{
    struct sfu_member *m = opaque;
    (void)lost_before; /* the gap shows in the rewritten numbers: receivers conceal it */
    if (mline != m->mic_mline)
        return;
    int64_t now = clock_mono_us();
    if (pkt->ssrc != m->mic_ssrc) {
        if (m->mic_ssrc)
            mic_restarted(m);
        m->mic_ssrc = pkt->ssrc;
    }
    m->packets_in++;
    metrics_add(m->sfu->mx.packets_in, 1);
    bool vad = false;
    int level = rtc_session_audio_level(m->rtc, mline, pkt, &vad);
    slot_speaker_level(&m->spk, level, now);
    if (!member_forwardable(m))
        return;
    /* A new voice while places are free: selected now rather than at the next tick, so its
     * first packets (up to SFU_TICK_MS of them) are heard. A full room waits for the tick
     * (its hysteresis decides). */
    if (!m->spk.selected && m->room->nsel < m->sfu->cfg.slots + 1)
        room_admit(m->room, m, now);
    forward(m, pkt, seq, level, vad, now);
}

static void on_closed(void *opaque, const char *reason)
{
    struct sfu_member *m = opaque;
    m->rtc = NULL; /* the transport frees it */
    m->connected = false;
    metrics_add(m->sfu->mx.sessions, -1);
    char why[200];
    snprintf(why, sizeof(why), "media failed: %s", reason);
    member_end(m, why);
}

static const struct rtc_session_ops session_ops = {
    .connected = on_connected, .rtp = on_rtp, .closed = on_closed};

void member_media_destroy(struct sfu_member *m)
{
    if (m->rtc) {
        rtc_session_destroy(&m->rtc);
        metrics_add(m->sfu->mx.sessions, -1);
    }
    m->connected = false;
}

/* ---- the offer ---- */

/* The choices for a member's offer: m-line 0 is the microphone (we receive; inactive for a
 * listen-only member), every further audio m-line the member receives on is a slot (we send). */
static int choose(struct sfu_member *m, const struct sdp_offer *o, struct sdp_choice *ch,
                  int *nslots, char *why, size_t whylen)
{
    *nslots = 0;
    if (o->n_media == 0) {
        snprintf(why, whylen, "the offer has no m-line");
        return -EINVAL;
    }
    if ((int)o->n_media > 1 + m->sfu->cfg.slots) {
        snprintf(why, whylen, "the offer has %zu m-lines; at most 1 + %d slots", o->n_media,
                 m->sfu->cfg.slots);
        return -E2BIG;
    }
    for (size_t i = 0; i < o->n_media; i++) {
        const struct sdp_media *md = &o->media[i];
        int err = sdp_choose(o, i, &ch[i]);
        if (i == 0) {
            if (err < 0 || md->kind != SDP_KIND_AUDIO) {
                snprintf(why, whylen, "the first m-line (the microphone) must be Opus audio");
                return -EINVAL;
            }
            bool sends = md->dir == SDP_DIR_SENDRECV || md->dir == SDP_DIR_SENDONLY;
            ch[i].dir = m->ident.may_speak && sends ? SDP_DIR_RECVONLY : SDP_DIR_INACTIVE;
            continue;
        }
        if (err < 0)
            continue;
        if (md->kind != SDP_KIND_AUDIO ||
            (md->dir != SDP_DIR_RECVONLY && md->dir != SDP_DIR_SENDRECV)) {
            ch[i].accept = false;
            snprintf(ch[i].reason, sizeof(ch[i].reason), "not a receiving audio slot");
            continue;
        }
        ch[i].dir = SDP_DIR_SENDONLY;
        ch[i].fb = 0;
        snprintf(ch[i].cname, sizeof(ch[i].cname), "kibitka");
        snprintf(ch[i].msid, sizeof(ch[i].msid), "kibitka-slot%d slot%d", *nslots, *nslots);
        RAND_bytes((uint8_t *)&ch[i].ssrc, sizeof(ch[i].ssrc));
        ch[i].ssrc |= 1; /* never 0 */
        m->slot_mline[(*nslots)++] = (int)i;
    }
    return 0;
}

int sfu_offer(struct sfu_member *m, const char *sdp, size_t len, struct buf *answer, char *why,
              size_t whylen)
{
    struct sdp_offer *o = NULL;
    char err_text[SDP_ERR_LEN];
    int err = sdp_offer_parse(sdp, len, &o, err_text, sizeof(err_text));
    if (err < 0) {
        snprintf(why, whylen, "bad offer: %s", err_text);
        return err;
    }
    struct sdp_choice ch[SDP_MAX_MEDIA];
    int nslots = 0;
    int saved[SLOTS_MAX];
    memcpy(saved, m->slot_mline, sizeof(saved));
    err = choose(m, o, ch, &nslots, why, whylen);
    if (err < 0) {
        memcpy(m->slot_mline, saved, sizeof(saved));
        sdp_offer_free(&o);
        return err;
    }
    /* A second offer (a network change) replaces the media session. */
    member_media_destroy(m);
    char name[SFU_NAME_MAX * 2 + 4];
    snprintf(name, sizeof(name), "%s/%s", m->ident.room, m->id);
    struct rtc_session_params p = {.kind = RTC_SESSION_SFU,
                                   .offer = o,
                                   .choices = ch,
                                   .ops = &session_ops,
                                   .opaque = m,
                                   .log_name = name};
    err = rtc_session_create(m->sfu->rtc, &p, answer, why, whylen, &m->rtc);
    sdp_offer_free(&o);
    if (err < 0)
        return err;
    metrics_add(m->sfu->mx.sessions, 1);
    m->mic_mline = ch[0].dir == SDP_DIR_RECVONLY ? 0 : -1;
    if (nslots != m->nslots) {
        uint16_t seq0;
        uint32_t ts0;
        RAND_bytes((uint8_t *)&seq0, sizeof(seq0));
        RAND_bytes((uint8_t *)&ts0, sizeof(ts0));
        slot_map_init(&m->map, nslots, seq0, ts0);
        m->nslots = nslots;
    }
    m->map_dirty = true;
    return 0;
}

int sfu_trickle(struct sfu_member *m, const char *frag, size_t len, char *why, size_t whylen)
{
    struct sdp_frag *f = calloc(1, sizeof(*f));
    char err_text[SDP_ERR_LEN];
    int err = f ? sdp_frag_parse(frag, len, f, err_text, sizeof(err_text)) : -ENOMEM;
    if (err < 0) {
        snprintf(why, whylen, "bad trickle fragment: %s", f ? err_text : "out of memory");
        free(f);
        return err;
    }
    if (!m->rtc) {
        free(f);
        snprintf(why, whylen, "no offer yet");
        return -ENOTCONN;
    }
    /* Candidates need nothing (an ICE-lite agent learns the peer's address from its checks);
     * an ICE restart needs an answer, which only a new offer gets. */
    struct buf ans;
    buf_init(&ans);
    bool restarted = false;
    err = rtc_session_trickle(m->rtc, f, &restarted, &ans, why, whylen);
    buf_free(&ans);
    free(f);
    if (err == 0 && restarted) {
        snprintf(why, whylen, "an ICE restart takes a new offer");
        return -EINVAL;
    }
    return err;
}

/* ---- ranking and events ---- */

static int by_score_desc(struct room *r, const struct slot_speaker *a, const struct slot_speaker *b)
{
    (void)r;
    return (b->score > a->score) - (b->score < a->score);
}

/* The selected speakers into sel (r->sel the ids), loudest first. */
static int collect_selected(struct room *r, struct slot_speaker **sel)
{
    int n = 0;
    for (int i = 0; i < r->n && n < SLOTS_MAX + 1; i++)
        if (r->m[i]->spk.selected)
            sel[n++] = &r->m[i]->spk;
    for (int i = 1; i < n; i++) /* insertion sort: n <= 33 */
        for (int k = i; k > 0 && by_score_desc(r, sel[k - 1], sel[k]) > 0; k--) {
            struct slot_speaker *t = sel[k];
            sel[k] = sel[k - 1];
            sel[k - 1] = t;
        }
    for (int i = 0; i < n; i++)
        r->sel[i] = sel[i]->id;
    r->nsel = n;
    return n;
}

static struct sfu_member *member_by_num(struct room *r, uint32_t num)
{
    for (int i = 0; i < r->n; i++)
        if (r->m[i]->num == num)
            return r->m[i];
    return NULL;
}

/* {"type":"speakers","slots":[{"slot","participant","level"}...]}: level is loudness 0-127
 * (127 - the RFC 6464 level, averaged), one entry per slot holding a speaker. */
static void send_speakers(struct room *r, struct sfu_member *to, int64_t now)
{
    json_t *slots = json_array();
    for (int k = 0; k < to->map.nslots; k++) {
        if (to->map.slot[k].src < 0)
            continue;
        struct sfu_member *s = member_by_num(r, (uint32_t)to->map.slot[k].src);
        if (!s)
            continue;
        json_array_append_new(slots, json_pack("{s:i,s:s,s:i}", "slot", k, "participant", s->id,
                                               "level", slot_speaker_loudness(&s->spk)));
    }
    member_send(to, json_pack("{s:s,s:o}", "type", "speakers", "slots", slots));
    to->speakers_sent_us = now;
    to->map_dirty = false;
}

/* Each receiver's slots from the selection, and the speakers events that are due. */
static void room_assign(struct room *r, int64_t now)
{
    struct slot_speaker *sel[SLOTS_MAX + 1];
    int nsel = collect_selected(r, sel);
    uint32_t ids[SLOTS_MAX + 1];
    for (int i = 0; i < r->n; i++) {
        struct sfu_member *to = r->m[i];
        int n = slots_for_receiver(sel, nsel, to->num, &to->map, ids);
        if (slot_map_assign(&to->map, ids, n) > 0)
            to->map_dirty = true;
        if (!to->attached || !to->rtc)
            continue;
        int64_t since = now - to->speakers_sent_us;
        if ((to->map_dirty && since >= SFU_SPEAKERS_MIN_MS * 1000) ||
            (slot_map_used(&to->map) > 0 && since >= SFU_SPEAKERS_IDLE_MS * 1000))
            send_speakers(r, to, now);
    }
}

void room_rank(struct room *r, int64_t now)
{
    for (int i = 0; i < r->n; i++) {
        r->m[i]->spk.eligible = member_forwardable(r->m[i]);
        r->spk[i] = &r->m[i]->spk;
    }
    slots_select(r->spk, r->n, r->sfu->cfg.slots + 1, now, NULL);
    room_assign(r, now);
}

void room_admit(struct room *r, struct sfu_member *m, int64_t now)
{
    m->spk.eligible = true; /* the caller checked member_forwardable */
    for (int i = 0; i < r->n; i++)
        r->spk[i] = &r->m[i]->spk;
    if (slots_admit(r->spk, r->n, r->sfu->cfg.slots + 1, &m->spk, now))
        room_assign(r, now);
}
