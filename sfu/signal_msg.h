/* The signaling server's messages (signal.h): parsing and validating what a client sent, and
 * writing the small messages the server makes itself. Pure functions, no state: the parser of
 * untrusted text lives apart from the threads so a unit test or a fuzz target can drive it. */
#ifndef KIBITKA_SFU_SIGNAL_MSG_H
#define KIBITKA_SFU_SIGNAL_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "sfu/sfu.h"

#define SIGNAL_TOKEN_MAX 1024 /* a join token or an API token */
#define SIGNAL_CANDIDATE_MAX 1024
#define SIGNAL_MID_MAX 32

enum signal_msg_type {
    SIGNAL_JOIN,
    SIGNAL_OFFER,
    SIGNAL_TRICKLE,
    SIGNAL_MUTE,
    SIGNAL_LEAVE,
    SIGNAL_PING,
};

/* One message from a client. The strings are NUL-terminated; sdp and frag are malloc'd (freed
 * by signal_msg_clear), the rest live in the struct. */
struct signal_msg {
    enum signal_msg_type type;
    char room[SFU_NAME_MAX + 1];
    char token[SIGNAL_TOKEN_MAX + 1];
    char display[SFU_NAME_MAX + 1];
    char resume[SFU_RESUME_MAX];
    bool has_resume;
    bool muted;
    char *sdp; /* offer */
    size_t sdp_len;
    char *frag; /* trickle: RFC 8840 sdpfrag text, made from candidate when that was sent */
    size_t frag_len;
};

/* Parses and validates len bytes of text. 0 and *msg filled, or a negative errno with an error
 * code ("bad_json", "bad_message", "unknown_type") and a one-line message for the client. */
int signal_msg_parse(const char *text, size_t len, struct signal_msg *msg, const char **code,
                     char *why, size_t whylen);
void signal_msg_clear(struct signal_msg *msg);

/* Appends {"type":"error","code":code,"message":message} to out. */
void signal_msg_error(struct buf *out, const char *code, const char *message);
/* Appends {"type":type} with one string field (name, value) when name is not NULL. */
void signal_msg_simple(struct buf *out, const char *type, const char *name, const char *value,
                       size_t value_len);

#endif
