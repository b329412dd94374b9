/* Voice rooms: the embedded SFU (issue 14). kibitka forwards Opus between the members of a room;
 * it never decodes or mixes. This header is the contract between the three parts that build it:
 *
 *   - the signaling server (sfu/signal.c, libwebsockets on its own service thread, --ws): one
 *     WebSocket per member, JSON messages validated there; it checks the join token (through the
 *     sfu_access callback the server wires to auth/ and db/, off the network thread) and then
 *     hands the member to the SFU with loop_post, so every sfu_* call below runs on the network
 *     loop's thread;
 *   - the forwarding core (sfu/room.c and friends): rooms, members, slots, speaker ranking by the
 *     RFC 6464 audio level, SSRC/sequence/timestamp rewriting, on the rtc/ transport;
 *   - the API (api/, rooms in the database): reads live state through sfu_room_snapshot_json and
 *     moderates through sfu_kick / sfu_server_mute (posted to the loop by server/ wiring).
 *
 * Threads: everything except sfu_room_snapshot_json and sfu_rooms_summary_json runs on the
 * network loop's thread; those two may be called from any thread (they copy a snapshot the loop
 * refreshes, under a lock the forwarding path never takes). */
#ifndef KIBITKA_SFU_SFU_H
#define KIBITKA_SFU_SFU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct loop;
struct metrics;
struct rtc_transport;
struct sfu;
struct sfu_member;

#define SFU_NAME_MAX 64     /* room names, user names, display names: at most 64 bytes */
#define SFU_ID_MAX 24       /* a member id as text, NUL included */
#define SFU_RESUME_MAX 48   /* a resume key as text, NUL included */
/* --voice-slots upper bound: an offer has 1 + slots m-lines and the SDP parser takes at most
 * SDP_MAX_MEDIA (16) of them (was 32 in the first draft of this contract). */
#define SFU_SLOTS_MAX 15

struct sfu_config {
    int slots;              /* outgoing audio streams per receiver (--voice-slots, default 8) */
    int rejoin_grace_s;     /* how long a dropped member's identity is kept (default 30) */
    int max_members;        /* per room; 0: 500 */
    struct metrics *metrics; /* kibitka_sfu_* / kibitka_voice_*; NULL: none */
};

/* NULL after logging why. rtc and loop are not owned and must outlive the sfu. */
struct sfu *sfu_create(struct loop *loop, struct rtc_transport *rtc, const struct sfu_config *cfg);
/* Ends every member (closed "server stopping"), clears *ps. */
void sfu_destroy(struct sfu **ps);

/* Who a member is, decided by the signaling server from a join token or an API token. */
struct sfu_identity {
    char room[SFU_NAME_MAX + 1];
    char user[SFU_NAME_MAX + 1];    /* account name; "" for a guest */
    int64_t user_id;                /* 0 for a guest */
    char display[SFU_NAME_MAX + 1]; /* shown to the others; any UTF-8 text, never markup */
    bool may_speak;                 /* false: listen-only (its audio is never forwarded) */
    bool moderator;                 /* the room's owner or an admin */
};

/* The join check the signaling server asks for (wired by server/ to sfu/room_access.c, which
 * reads the database and verifies tokens): token is a join token from POST
 * /api/rooms/{name}/token or a logged-in user's API token (public rooms only); display is the
 * name the client asked for (the token's, when it names one, wins). It runs off the calling
 * thread and calls done exactly once, on any thread: status 0 and the identity, or a negative
 * errno and a one-line reason for the client (-EACCES bad or missing token, -EKEYEXPIRED an
 * expired token, -ENOENT no such room, -EPERM a token for another room or a private room). */
typedef void (*sfu_access_done)(void *ctx, int status, const struct sfu_identity *id,
                                const char *why);
typedef void (*sfu_access_fn)(void *opaque, const char *room, const char *token,
                              const char *display, sfu_access_done done, void *ctx);

/* How the SFU talks back to a member's signaling connection. Called on the loop thread. */
struct sfu_member_ops {
    /* One JSON text message for this member (an event: participant_joined, participant_left,
     * speakers, mute, trickle). json is valid during the call only. The shapes:
     *   {"type":"participant_joined","participant":{"id","user","display","speaking",
     *    "muted","joined_at"}}
     *   {"type":"participant_left","participant":"<id>"}
     *   {"type":"speakers","slots":[{"slot":k,"participant":"<id>","level":L}...]}: one
     *    entry per slot (0-based, in the order of the offer's recvonly m-lines) holding a
     *    speaker; L is loudness 0 (silent) to 127; sent when the mapping changes (at most 4
     *    a second) and each second while a slot is used
     *   {"type":"mute","participant":"<id>","muted":bool,"by":"self"|"server"}
     * It runs in the middle of the SFU's own work (a packet's forwarding, the ranking): it must
     * not call any sfu_* function (queue the text; a socket that failed is detached later). */
    void (*send)(void *opaque, const char *json, size_t len);
    /* The SFU ended this member on its own (kicked, room deleted, media failed, server
     * stopping): the signaling side closes the socket with reason. The member is freed right
     * after the call: do not use or destroy it. */
    void (*closed)(void *opaque, const char *reason);
};

/* A new member in id->room, or the return of a dropped one: resume is NULL, or the resume key
 * from an earlier `joined` of the same identity whose connection dropped less than
 * rejoin_grace_s ago (the member gets its id and slot mapping back). Appends the `joined`
 * message to reply: {"type":"joined","id":"...","resume":"...","slots":N,
 * "participants":[{"id","user","display","speaking","muted","joined_at"}...]}. The others get
 * participant_joined. 0, or a negative errno with a one-line reason in why (-EMFILE room
 * full, -ENOENT unknown or expired resume key, -EEXIST that identity is already connected). */
int sfu_join(struct sfu *sfu, const struct sfu_identity *id, const char *resume,
             const struct sfu_member_ops *ops, void *opaque, struct sfu_member **out,
             struct buf *reply, char *why, size_t whylen);

/* The member's SDP offer (one sendrecv audio m-line for its microphone, then `slots` recvonly
 * audio m-lines). Appends the SDP answer to answer. A second offer replaces the media session
 * (a network change). 0, or a negative errno with the reason (a malformed offer, too many
 * m-lines, no Opus). */
int sfu_offer(struct sfu_member *m, const char *sdp, size_t len, struct buf *answer, char *why,
              size_t whylen);
/* A trickle fragment (RFC 8840 sdpfrag text) from the member. 0 or a negative errno + why. */
int sfu_trickle(struct sfu_member *m, const char *frag, size_t len, char *why, size_t whylen);
/* The member mutes or unmutes itself (its audio is not forwarded while muted). */
void sfu_set_self_muted(struct sfu_member *m, bool muted);

/* The member said leave: gone at once (participant_left to the others); clears *pm. */
void sfu_leave(struct sfu_member **pm);
/* The member's socket dropped: its media stops, its identity, id and slot mapping are kept for
 * rejoin_grace_s for a sfu_join with its resume key, then it leaves (participant_left). Clears
 * *pm; no ops call for it happens after this. */
void sfu_detach(struct sfu_member **pm);

/* Moderation (from the API through server/, on the loop thread). 0 or -ENOENT. A kicked member
 * is closed with reason "kicked"; a server-muted one gets a mute event and is not forwarded. */
int sfu_kick(struct sfu *sfu, const char *room, const char *member_id);
int sfu_server_mute(struct sfu *sfu, const char *room, const char *member_id, bool muted);
/* A deleted room: every member closed with "room deleted". */
void sfu_close_room(struct sfu *sfu, const char *room);

/* Any thread. The live state of one room as JSON text (malloc'd, the caller frees):
 * {"members":[{"id","user","display","speaking","muted","joined_at","packets_in",
 * "packets_forwarded","packets_lost","jitter_ms","rtt_ms","slots_in_use","connected"}...]}
 * (rtt_ms null until a receiver report measured it); NULL when the room has no member (live
 * or in its rejoin grace). Refreshed by the loop every 250 ms. */
char *sfu_room_snapshot_json(struct sfu *sfu, const char *room);
/* Any thread. {"rooms":[{"name","members"}...]} for every room with live members. */
char *sfu_rooms_summary_json(struct sfu *sfu);

#endif
