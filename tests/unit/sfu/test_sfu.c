/* sfu/ with real WebRTC sessions on loopback (issue 14): members join a room, offer one
 * microphone and 2 slots, connect (ICE, DTLS, SRTP by the hand-driven peers of
 * tests/unit/rtc/transport_peer.h), and speak: RTP with the RFC 6464 level, the payload's
 * first byte naming the speaker.
 *
 * Checked: a speaker's audio reaches every other member and never itself; with 3 speakers and
 * 2 slots each speaker hears the 2 others and a listen-only member hears 2, never a
 * listen-only one's microphone; a speaker who gets louder takes a listener's slot and every
 * slot stays one continuous stream (sequence numbers +1, timestamps increasing, per SSRC);
 * self-mute and server-mute stop the forwarding; events (joined, participant_joined/left,
 * speakers, mute); the snapshot; kick; detach and resume with the same id, and after the
 * grace (2 s here) the member gone and its key refused; leave; the room gone with its last
 * member; bad offers refused (malformed, too many m-lines, no Opus microphone) with the member
 * unharmed; a name cut inside a UTF-8 character. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "rtc/dtls.h"
#include "rtc/net.h"
#include "rtc/rtp.h"
#include "rtc/transport.h"
#include "sfu/sfu.h"

/* The helpers of the peer that this test does not use are fine. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "rtc/transport_peer.h"

static struct sfu *sfu;

/* A room member: a peer, its member, what the signaling side was sent. */
struct mem {
    struct peer *p;
    struct sfu_member *m;
    char id[SFU_ID_MAX], resume[SFU_RESUME_MAX];
    int joined_events, left_events, speakers_events, mute_events, closed;
    char closed_reason[128];
    char last_speakers[1024];
    /* speaking */
    int tag, level;
    bool speaking;
    int limit, sent; /* limit > 0: stop speaking after that many packets */
    int64_t next_us;
    uint16_t seq;
    uint32_t ts, ssrc;
};

static struct mem mems[6];

static void m_send(void *opaque, const char *json, size_t len)
{
    struct mem *x = opaque;
    json_error_t e;
    json_t *j = json_loadb(json, len, 0, &e);
    CHECK(j != NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    CHECK(type != NULL);
    if (type && strcmp(type, "participant_joined") == 0)
        x->joined_events++;
    else if (type && strcmp(type, "participant_left") == 0)
        x->left_events++;
    else if (type && strcmp(type, "mute") == 0)
        x->mute_events++;
    else if (type && strcmp(type, "speakers") == 0) {
        x->speakers_events++;
        snprintf(x->last_speakers, sizeof(x->last_speakers), "%.*s", (int)len, json);
    }
    json_decref(j);
}

static void m_closed(void *opaque, const char *reason)
{
    struct mem *x = opaque;
    x->closed++;
    snprintf(x->closed_reason, sizeof(x->closed_reason), "%s", reason);
    x->m = NULL;
}

static const struct sfu_member_ops mops = {.send = m_send, .closed = m_closed};

static void join(struct mem *x, const char *name, bool may_speak, const char *resume)
{
    struct sfu_identity id = {.may_speak = may_speak};
    snprintf(id.room, sizeof(id.room), "r1");
    snprintf(id.display, sizeof(id.display), "%s", name);
    struct buf reply;
    buf_init(&reply);
    char why[160];
    int err = sfu_join(sfu, &id, resume, &mops, x, &x->m, &reply, why, sizeof(why));
    CHECK_EQ_INT(err, 0);
    buf_append(&reply, "", 1);
    json_error_t e;
    json_t *j = json_loads((const char *)buf_head(&reply), 0, &e);
    CHECK(j != NULL);
    CHECK_STREQ(json_string_value(json_object_get(j, "type")), "joined");
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "slots")), 2);
    CHECK(json_is_array(json_object_get(j, "participants")));
    snprintf(x->id, sizeof(x->id), "%s", json_string_value(json_object_get(j, "id")));
    snprintf(x->resume, sizeof(x->resume), "%s", json_string_value(json_object_get(j, "resume")));
    json_decref(j);
    buf_free(&reply);
}

/* The offer (microphone sendrecv + 2 recvonly slots), the answer, ICE and DTLS. */
static bool offer_and_connect(struct mem *x, const char *name)
{
    if (!x->p)
        x->p = peer_alloc(name, false);
    struct peer *p = x->p;
    p->level_id = 1;
    if (!x->ssrc)
        x->ssrc = 0x1000u + (uint32_t)x->tag;
    char mic[512];
    snprintf(mic, sizeof(mic),
             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
             "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1;usedtx=1\r\n"
             "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
             "a=ssrc:%u cname:%s\r\n",
             x->ssrc, name);
    const char *slot = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\n"
                       "a=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
                       "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
    char s1[400], s2[400];
    snprintf(s1, sizeof(s1), slot, 1);
    snprintf(s2, sizeof(s2), slot, 2);
    const char *media[3] = {mic, s1, s2};
    struct buf offer, ans;
    buf_init(&offer);
    buf_init(&ans);
    peer_offer(p, ctx_good, "0 1 2", media, 3, &offer);
    char why[200];
    int err =
        sfu_offer(x->m, (const char *)buf_head(&offer), buf_size(&offer), &ans, why, sizeof(why));
    if (err)
        fprintf(stderr, "offer refused: %s\n", why);
    CHECK_EQ_INT(err, 0);
    buf_append(&ans, "", 1);
    const char *a = (const char *)buf_head(&ans);
    CHECK(strstr(a, "a=recvonly") || strstr(a, "a=inactive"));
    CHECK(strstr(a, "msid:kibitka-slot1 slot1") != NULL);
    rtc_dtls_destroy(&p->dtls);
    rtc_srtp_destroy(&p->srtp);
    peer_take_answer(p, a, ctx_good);
    buf_free(&offer);
    buf_free(&ans);
    if (!peer_check(p))
        return false;
    rtc_dtls_start(p->dtls, clock_mono_us());
    struct rtc_session_stats st;
    for (int i = 0; i < 500; i++) {
        run_until(NULL, NULL, 10);
        if (p->srtp && x->m) {
            /* the server side is connected once it has keys too */
            char *snap = NULL;
            (void)snap;
            return true;
        }
    }
    (void)st;
    return false;
}

/* One packet of x's microphone: level in the RFC 6464 element, the tag first in the payload. */
static void speak_once(struct mem *x)
{
    uint8_t b[12 + 8 + 30];
    rtp_header(b, 0x90, 111, x->seq++, x->ts += 960, x->ssrc);
    b[12] = 0xbe;
    b[13] = 0xde;
    b[14] = 0;
    b[15] = 1;
    b[16] = 0x10; /* id 1, length 1 */
    b[17] = (uint8_t)(x->level | 0x80);
    b[18] = b[19] = 0;
    memset(b + 20, 0xaa, 30);
    b[20] = (uint8_t)x->tag;
    send_rtp_raw(x->p, x->p->fd, b, sizeof(b));
}

static void speak_tick(void)
{
    peers_tick();
    int64_t now = clock_mono_us();
    for (int i = 0; i < 6; i++) {
        struct mem *x = &mems[i];
        if (!x->speaking || !x->p || !x->p->srtp)
            continue;
        if (now >= x->next_us) {
            speak_once(x);
            x->next_us = now + 20000;
            if (x->limit && ++x->sent >= x->limit) {
                x->speaking = false;
                x->sent = 0;
            }
        }
    }
}

static int heard(const struct mem *x, int tag)
{
    int n = 0;
    for (int i = 0; i < x->p->n_rxs; i++)
        n += x->p->rxs[i].tag_n[tag];
    return n;
}

struct heard_wait {
    const struct mem *x;
    int tag, want;
};
static bool heard_reached(void *a)
{
    struct heard_wait *w = a;
    return heard(w->x, w->tag) >= w->want;
}
static bool wait_heard(const struct mem *x, int tag, int want)
{
    struct heard_wait w = {x, tag, heard(x, tag) + want};
    return run_until(heard_reached, &w, 8000);
}

static void check_continuity(const struct mem *x)
{
    for (int i = 0; i < x->p->n_rxs; i++) {
        const struct rx_stream *r = &x->p->rxs[i];
        if (!r->n)
            continue;
        CHECK_EQ_INT(r->seq_jumps, 0);
        CHECK_EQ_INT(r->ts_back, 0);
        CHECK(r->level >= 0 && r->level <= 80); /* the speaker's level, passed on */
        CHECK_EQ_INT(r->payload_len, 30);       /* the payload untouched */
    }
}

int main(void)
{
    log_set_level(LOG_WARN);
    loop = loop_create();
    mx = metrics_create();
    int ufd, tfd;
    CHECK_EQ_INT(rtc_net_open("127.0.0.1:0", false, &ufd, &tfd), 0);
    struct rtc_transport_config cfg = {.udp_fd = ufd, .tcp_fd = -1, .metrics = mx};
    tr = rtc_transport_create(loop, &cfg);
    CHECK_EQ_INT(rtc_dtls_ctx_create(&ctx_good, NULL), 0);
    /* A 2 s grace, so that its end is tested without a 30 s wait. */
    struct sfu_config sc = {.slots = 2, .rejoin_grace_s = 2, .metrics = mx};
    sfu = sfu_create(loop, tr, &sc);
    CHECK(tr && sfu);
    if (!tr || !sfu)
        return test_report("sfu");
    struct sfu_config bad = {.slots = 0};
    CHECK(sfu_create(loop, tr, &bad) == NULL);
    tick_hook = speak_tick;

    const char *names[4] = {"alice", "bob", "carol", "dave"};
    for (int i = 0; i < 4; i++) {
        mems[i].tag = i + 1;
        mems[i].level = 30;
        join(&mems[i], names[i], i != 3, NULL); /* dave is listen-only */
        CHECK(offer_and_connect(&mems[i], names[i]));
    }
    CHECK_EQ_INT(mems[0].joined_events, 3);
    CHECK_EQ_INT(mems[3].joined_events, 0);

    /* alice speaks: everyone else hears her, she hears nothing of herself. */
    mems[0].speaking = true;
    mems[0].limit = 25;
    for (int i = 1; i < 4; i++)
        CHECK(wait_heard(&mems[i], 1, 25 - heard(&mems[i], 1)));
    run_until(NULL, NULL, 100);
    for (int i = 1; i < 4; i++) /* from the first packet on: none waited for a tick */
        CHECK_EQ_INT(heard(&mems[i], 1), 25);
    mems[0].limit = 0;
    mems[0].speaking = true;
    CHECK(wait_heard(&mems[1], 1, 10));
    CHECK_EQ_INT(heard(&mems[0], 1), 0);
    CHECK(mems[1].speakers_events > 0 && strstr(mems[1].last_speakers, mems[0].id));

    /* dave (listen-only) sends anyway: never forwarded. bob and carol speak too. */
    mems[3].speaking = true;
    mems[1].speaking = true;
    mems[2].speaking = true;
    CHECK(wait_heard(&mems[0], 2, 20) && wait_heard(&mems[0], 3, 20));
    CHECK(wait_heard(&mems[1], 1, 20) && wait_heard(&mems[1], 3, 20));
    CHECK(wait_heard(&mems[2], 1, 20) && wait_heard(&mems[2], 2, 20));
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(heard(&mems[i], i + 1), 0); /* never themselves */
        CHECK_EQ_INT(heard(&mems[i], 4), 0);     /* never the listen-only one */
    }
    /* dave has 2 slots for 3 speakers: alice, bob (first in) hold them at equal levels. */
    int d_before3 = heard(&mems[3], 3);
    CHECK(wait_heard(&mems[3], 1, 20) && wait_heard(&mems[3], 2, 20));

    /* carol gets loud and alice quiet: carol takes a slot at dave's. */
    mems[2].level = 5;
    mems[0].level = 80;
    CHECK(wait_heard(&mems[3], 3, 20 + d_before3));
    check_continuity(&mems[3]);
    CHECK(mems[3].p->n_rxs <= 2); /* two slots: two SSRCs, whoever speaks in them */
    for (int i = 0; i < 3; i++)
        check_continuity(&mems[i]);

    /* bob's microphone restarts with a new SSRC, sequence numbers and timestamps far back:
     * the slots holding him stay continuous at alice, carol and dave. */
    int b_at_a = heard(&mems[0], 2);
    mems[1].ssrc = 0x7777;
    mems[1].seq = 3;
    mems[1].ts = 5;
    CHECK(wait_heard(&mems[0], 2, 20 + b_at_a - heard(&mems[0], 2)));
    for (int i = 0; i < 4; i++)
        check_continuity(&mems[i]);

    /* self-mute: alice's audio stops reaching bob; the others got the mute event. */
    int mutes = mems[1].mute_events;
    sfu_set_self_muted(mems[0].m, true);
    CHECK(mems[1].mute_events == mutes + 1);
    run_until(NULL, NULL, 200);
    int a_at_b = heard(&mems[1], 1);
    run_until(NULL, NULL, 400);
    CHECK_EQ_INT(heard(&mems[1], 1), a_at_b);
    sfu_set_self_muted(mems[0].m, false);
    mems[0].level = 20;
    CHECK(wait_heard(&mems[1], 1, 10));
    /* server-mute the same way, and an unknown member */
    CHECK_EQ_INT(sfu_server_mute(sfu, "r1", mems[0].id, true), 0);
    CHECK_EQ_INT(sfu_server_mute(sfu, "r1", "nobody", true), -ENOENT);
    run_until(NULL, NULL, 200);
    a_at_b = heard(&mems[1], 1);
    run_until(NULL, NULL, 400);
    CHECK_EQ_INT(heard(&mems[1], 1), a_at_b);
    CHECK_EQ_INT(sfu_server_mute(sfu, "r1", mems[0].id, false), 0);

    /* the snapshot, from this thread (any thread may read it) */
    run_until(NULL, NULL, 400);
    char *snap = sfu_room_snapshot_json(sfu, "r1");
    CHECK(snap != NULL);
    if (snap) {
        json_error_t e;
        json_t *j = json_loads(snap, 0, &e);
        json_t *list = json_object_get(j, "members");
        CHECK_EQ_INT(json_array_size(list), 4);
        int64_t fwd = 0;
        for (size_t i = 0; i < json_array_size(list); i++)
            fwd +=
                json_integer_value(json_object_get(json_array_get(list, i), "packets_forwarded"));
        CHECK(fwd > 100);
        json_decref(j);
        free(snap);
    }
    CHECK(sfu_room_snapshot_json(sfu, "nope") == NULL);
    char *sum = sfu_rooms_summary_json(sfu);
    CHECK(strstr(sum, "\"name\":\"r1\"") && strstr(sum, "\"members\":4"));
    free(sum);
    CHECK(metrics_value(mx, "kibitka_voice_room_packets_forwarded_total", "r1") > 100);
    CHECK(metrics_value(mx, "kibitka_voice_room_members", "r1") == 4);
    /* per participant: one series each, labelled with the room and the member id */
    struct buf text;
    buf_init(&text);
    metrics_write(mx, &text);
    buf_append(&text, "", 1);
    for (int i = 0; i < 4; i++) {
        char want[160];
        snprintf(want, sizeof(want),
                 "kibitka_voice_participant_packets_forwarded_total{room=\"r1\","
                 "participant=\"%s\"} ",
                 mems[i].id);
        const char *line = strstr((const char *)buf_head(&text), want);
        CHECK(line != NULL);
        if (line)
            CHECK(atoll(line + strlen(want)) > 0);
    }
    CHECK(strstr((const char *)buf_head(&text), "kibitka_voice_participant_rtt_ms{room=\"r1\""));
    /* The forwarding delay: one observation per copy that left in a sendmmsg (every copy
     * forwarded, unless the socket dropped some), measured from its packet's read batch. */
    {
        const char *t = (const char *)buf_head(&text);
        const char *cnt = strstr(t, "\nkibitka_voice_forward_delay_seconds_count ");
        const char *inf = strstr(t, "kibitka_voice_forward_delay_seconds_bucket{le=\"+Inf\"} ");
        const char *sum = strstr(t, "\nkibitka_voice_forward_delay_seconds_sum ");
        CHECK(cnt && inf && sum &&
              strstr(t, "# TYPE kibitka_voice_forward_delay_seconds histogram"));
        if (cnt && inf && sum) {
            long long n = atoll(cnt + strlen("\nkibitka_voice_forward_delay_seconds_count "));
            long long fwd =
                (long long)metrics_value(mx, "kibitka_voice_packets_forwarded_total", NULL);
            long long drops = (long long)metrics_value(mx, "kibitka_rtc_send_drops_total", NULL);
            CHECK(fwd > 100);
            CHECK(n <= fwd && n >= fwd - drops);
            if (drops == 0)
                CHECK_EQ_INT(n, fwd);
            CHECK_EQ_INT(atoll(strchr(inf, '}') + 2), n);
            CHECK(atof(sum + strlen("\nkibitka_voice_forward_delay_seconds_sum ")) > 0);
        }
    }
    buf_free(&text);

    /* kick dave: closed "kicked", the others see participant_left */
    int left = mems[0].left_events;
    CHECK_EQ_INT(sfu_kick(sfu, "r1", mems[3].id), 0);
    CHECK_EQ_INT(mems[3].closed, 1);
    CHECK_STREQ(mems[3].closed_reason, "kicked");
    CHECK_EQ_INT(mems[0].left_events, left + 1);
    CHECK_EQ_INT(sfu_kick(sfu, "r1", mems[3].id), -ENOENT);

    /* carol's socket drops and she comes back with her resume key: same id, audio again */
    char carol_id[SFU_ID_MAX];
    snprintf(carol_id, sizeof(carol_id), "%s", mems[2].id);
    mems[2].speaking = false;
    sfu_detach(&mems[2].m);
    CHECK(mems[2].m == NULL);
    run_until(NULL, NULL, 100);
    CHECK_EQ_INT(mems[0].left_events, left + 1); /* still in the room */
    struct buf reply;
    buf_init(&reply);
    char why[160];
    struct sfu_identity cid = {.may_speak = true};
    snprintf(cid.room, sizeof(cid.room), "r1");
    CHECK_EQ_INT(
        sfu_join(sfu, &cid, "bad-key", &mops, &mems[2], &mems[2].m, &reply, why, sizeof(why)),
        -ENOENT);
    buf_free(&reply);
    join(&mems[2], "carol", true, mems[2].resume);
    CHECK_STREQ(mems[2].id, carol_id);
    CHECK(offer_and_connect(&mems[2], "carol"));
    mems[2].speaking = true;
    CHECK(wait_heard(&mems[0], 3, 20));

    /* a display name cut inside a UTF-8 character still makes valid events ('?' for the
     * broken byte) */
    int joins = mems[0].joined_events;
    join(&mems[4], "caf\xc3", false, NULL);
    CHECK_EQ_INT(mems[0].joined_events, joins + 1);
    sfu_leave(&mems[4].m);

    /* a bad offer: refused with a reason, the member unharmed */
    struct buf ans;
    buf_init(&ans);
    CHECK(sfu_offer(mems[1].m, "v=0\r\nbad", 8, &ans, why, sizeof(why)) < 0);
    CHECK(strstr(why, "bad offer") != NULL);
    /* one m-line more than 1 + slots; a first m-line that is not Opus audio */
    const char *audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\n"
                        "a=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n";
    char ml[4][300];
    const char *mp[4];
    for (int i = 0; i < 4; i++) {
        snprintf(ml[i], sizeof(ml[i]), audio, i);
        mp[i] = ml[i];
    }
    struct buf off;
    buf_init(&off);
    peer_offer(mems[1].p, ctx_good, "0 1 2 3", mp, 4, &off);
    CHECK_EQ_INT(
        sfu_offer(mems[1].m, (const char *)buf_head(&off), buf_size(&off), &ans, why, sizeof(why)),
        -E2BIG);
    CHECK(strstr(why, "at most 1 + 2 slots") != NULL);
    buf_clear(&off);
    snprintf(ml[0], sizeof(ml[0]),
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
             "a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n");
    peer_offer(mems[1].p, ctx_good, "0 1", mp, 2, &off);
    CHECK_EQ_INT(
        sfu_offer(mems[1].m, (const char *)buf_head(&off), buf_size(&off), &ans, why, sizeof(why)),
        -EINVAL);
    CHECK(strstr(why, "Opus") != NULL);
    buf_free(&off);
    CHECK_EQ_INT(buf_size(&ans), 0);
    buf_free(&ans);
    CHECK(wait_heard(&mems[1], 1, 10));

    /* bob drops and does not come back within the grace: participant_left, key refused */
    left = mems[0].left_events;
    char bob_resume[SFU_RESUME_MAX];
    snprintf(bob_resume, sizeof(bob_resume), "%s", mems[1].resume);
    mems[1].speaking = false;
    sfu_detach(&mems[1].m);
    run_until(NULL, NULL, 500);
    CHECK_EQ_INT(mems[0].left_events, left);
    CHECK(wait_count(&mems[0].left_events, left + 1, 5000));
    buf_init(&reply);
    struct sfu_identity bid = {.may_speak = true};
    snprintf(bid.room, sizeof(bid.room), "r1");
    CHECK_EQ_INT(
        sfu_join(sfu, &bid, bob_resume, &mops, &mems[1], &mems[1].m, &reply, why, sizeof(why)),
        -ENOENT);
    buf_free(&reply);
    join(&mems[1], "bob", true, NULL); /* a new seat, a new id */
    CHECK(strcmp(mems[1].id, bob_resume) != 0);
    CHECK(offer_and_connect(&mems[1], "bob"));
    CHECK(wait_heard(&mems[1], 3, 10));

    /* leave: gone at once */
    left = mems[1].left_events;
    sfu_leave(&mems[2].m);
    CHECK_EQ_INT(mems[1].left_events, left + 1);
    CHECK_EQ_INT(mems[2].closed, 0);
    for (int i = 0; i < 4; i++)
        mems[i].speaking = false;
    /* the room goes with its last member */
    sfu_leave(&mems[0].m);
    sfu_leave(&mems[1].m);
    run_until(NULL, NULL, 300);
    CHECK(sfu_room_snapshot_json(sfu, "r1") == NULL);
    CHECK_EQ_INT(metrics_value(mx, "kibitka_voice_rooms", NULL), 0);
    buf_init(&text);
    metrics_write(mx, &text);
    buf_append(&text, "", 1);
    CHECK(strstr((const char *)buf_head(&text), "participant=\"") == NULL); /* all gone */
    buf_free(&text);

    sfu_destroy(&sfu);
    for (int i = 0; i < 4; i++)
        if (mems[i].p)
            peer_free(mems[i].p);
    rtc_transport_destroy(&tr);
    rtc_dtls_ctx_destroy(&ctx_good);
    loop_destroy(&loop);
    metrics_destroy(&mx);
    return test_report("sfu");
}
