/* The signaling messages: a table of fields per type, checked with jansson (which refuses
 * invalid UTF-8 and duplicate keys here, and bounds nesting). */
#include "sfu/signal_msg.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define SDP_MAX (256 * 1024)
#define FRAG_MAX (16 * 1024)

enum field_kind { F_STR, F_BOOL, F_INT };

struct field {
    const char *name;
    enum field_kind kind;
    bool required;
    size_t max; /* strings: bytes */
    size_t off; /* into struct signal_msg for F_STR with an array, else 0 (handled by hand) */
};

struct msg_schema {
    const char *type;
    enum signal_msg_type t;
    struct field fields[5];
};

#define S_ARRAY(f) offsetof(struct signal_msg, f)

static const struct msg_schema schemas[] = {
    {"join",
     SIGNAL_JOIN,
     {{"room", F_STR, true, SFU_NAME_MAX, S_ARRAY(room)},
      {"token", F_STR, true, SIGNAL_TOKEN_MAX, S_ARRAY(token)},
      {"display", F_STR, false, SFU_NAME_MAX, S_ARRAY(display)},
      {"resume", F_STR, false, SFU_RESUME_MAX - 1, S_ARRAY(resume)}}},
    {"offer", SIGNAL_OFFER, {{"sdp", F_STR, true, SDP_MAX, 0}}},
    {"trickle",
     SIGNAL_TRICKLE,
     {{"frag", F_STR, false, FRAG_MAX, 0},
      {"candidate", F_STR, false, SIGNAL_CANDIDATE_MAX, 0},
      {"sdpMid", F_STR, false, SIGNAL_MID_MAX, 0},
      {"sdpMLineIndex", F_INT, false, 0, 0},
      {"usernameFragment", F_STR, false, 256, 0}}},
    {"mute", SIGNAL_MUTE, {{"muted", F_BOOL, true, 0, 0}}},
    {"leave", SIGNAL_LEAVE, {{0}}},
    {"ping", SIGNAL_PING, {{0}}},
};

static const struct field *find_field(const struct msg_schema *sc, const char *name)
{
    for (size_t i = 0; i < sizeof(sc->fields) / sizeof(sc->fields[0]) && sc->fields[i].name; i++)
        if (!strcmp(sc->fields[i].name, name))
            return &sc->fields[i];
    return NULL;
}

/* Every field of the object is one the type knows, of the right kind and size; every required
 * one is there. */
static int check_fields(const struct msg_schema *sc, json_t *obj, char *why, size_t whylen)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (!strcmp(key, "type"))
            continue;
        const struct field *f = find_field(sc, key);
        if (!f) {
            snprintf(why, whylen, "%s: unknown field '%.40s'", sc->type, key);
            return -EINVAL;
        }
        bool ok = f->kind == F_STR    ? json_is_string(v)
                  : f->kind == F_BOOL ? json_is_boolean(v)
                                      : json_is_integer(v);
        if (!ok) {
            snprintf(why, whylen, "%s: '%s' must be a %s", sc->type, key,
                     f->kind == F_STR    ? "string"
                     : f->kind == F_BOOL ? "boolean"
                                         : "integer");
            return -EINVAL;
        }
        if (f->kind == F_STR && json_string_length(v) > f->max) {
            snprintf(why, whylen, "%s: '%s' is longer than %zu bytes", sc->type, key, f->max);
            return -EINVAL;
        }
        if (f->kind == F_STR && memchr(json_string_value(v), '\0', json_string_length(v))) {
            snprintf(why, whylen, "%s: '%s' holds a NUL character", sc->type, key);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < sizeof(sc->fields) / sizeof(sc->fields[0]) && sc->fields[i].name; i++)
        if (sc->fields[i].required && !json_object_get(obj, sc->fields[i].name)) {
            snprintf(why, whylen, "%s: '%s' is missing", sc->type, sc->fields[i].name);
            return -EINVAL;
        }
    return 0;
}

/* A browser's RTCIceCandidate as an RFC 8840 fragment: its mid (or "0") and the candidate
 * line, or end-of-candidates for the empty candidate. */
static int trickle_frag(json_t *obj, struct signal_msg *m, char *why, size_t whylen)
{
    json_t *frag = json_object_get(obj, "frag"), *cand = json_object_get(obj, "candidate");
    if (!!frag == !!cand) {
        snprintf(why, whylen, "trickle: send either 'frag' or 'candidate'");
        return -EINVAL;
    }
    if (frag) {
        m->frag_len = json_string_length(frag);
        m->frag = xstrndup(json_string_value(frag), m->frag_len);
        return 0;
    }
    const char *c = json_string_value(cand);
    json_t *mid = json_object_get(obj, "sdpMid"), *uf = json_object_get(obj, "usernameFragment");
    json_t *idx = json_object_get(obj, "sdpMLineIndex");
    if (idx && (json_integer_value(idx) < 0 || json_integer_value(idx) > 1024)) {
        snprintf(why, whylen, "trickle: 'sdpMLineIndex' is out of range");
        return -EINVAL;
    }
    if (c[0] && strncmp(c, "candidate:", 10) != 0) {
        snprintf(why, whylen, "trickle: 'candidate' must start with 'candidate:'");
        return -EINVAL;
    }
    if (strpbrk(c, "\r\n") || (mid && strpbrk(json_string_value(mid), "\r\n")) ||
        (uf && strpbrk(json_string_value(uf), "\r\n"))) {
        snprintf(why, whylen, "trickle: a line break inside a field");
        return -EINVAL;
    }
    struct buf b;
    buf_init(&b);
    if (uf && json_string_length(uf))
        buf_printf(&b, "a=ice-ufrag:%s\r\n", json_string_value(uf));
    char midtext[24];
    if (!mid)
        snprintf(midtext, sizeof(midtext), "%lld", idx ? (long long)json_integer_value(idx) : 0);
    buf_printf(&b, "a=mid:%s\r\n", mid ? json_string_value(mid) : midtext);
    if (c[0])
        buf_printf(&b, "a=%s\r\n", c);
    else
        buf_printf(&b, "a=end-of-candidates\r\n");
    m->frag_len = buf_size(&b);
    m->frag = xstrndup((const char *)buf_head(&b), m->frag_len);
    buf_free(&b);
    return 0;
}

static void copy_strings(const struct msg_schema *sc, json_t *obj, struct signal_msg *m)
{
    for (size_t i = 0; i < sizeof(sc->fields) / sizeof(sc->fields[0]) && sc->fields[i].name; i++) {
        const struct field *f = &sc->fields[i];
        json_t *v = json_object_get(obj, f->name);
        if (v && f->kind == F_STR && f->off)
            memcpy((char *)m + f->off, json_string_value(v), json_string_length(v) + 1);
    }
}

int signal_msg_parse(const char *text, size_t len, struct signal_msg *m, const char **code,
                     char *why, size_t whylen)
{
    memset(m, 0, sizeof(*m));
    json_error_t je;
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc = -EINVAL;
    *code = "bad_message";
    if (!obj) {
        *code = "bad_json";
        snprintf(why, whylen, "not JSON: %s (at byte %d)", je.text, je.position);
        return -EINVAL;
    }
    json_t *type = json_object_get(obj, "type");
    if (!json_is_object(obj) || !json_is_string(type)) {
        snprintf(why, whylen, "a message is a JSON object with a string 'type'");
        goto out;
    }
    const struct msg_schema *sc = NULL;
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++)
        if (!strcmp(schemas[i].type, json_string_value(type)))
            sc = &schemas[i];
    if (!sc) {
        *code = "unknown_type";
        snprintf(why, whylen,
                 "unknown message type '%.40s' (join, offer, trickle, mute, leave, ping)",
                 json_string_value(type));
        goto out;
    }
    if ((rc = check_fields(sc, obj, why, whylen)) < 0)
        goto out;
    m->type = sc->t;
    copy_strings(sc, obj, m);
    if (sc->t == SIGNAL_JOIN) {
        m->has_resume = json_object_get(obj, "resume") != NULL;
        if (!m->room[0] || !m->token[0]) {
            snprintf(why, whylen, "join: 'room' and 'token' must not be empty");
            rc = -EINVAL;
            goto out;
        }
    } else if (sc->t == SIGNAL_OFFER) {
        json_t *sdp = json_object_get(obj, "sdp");
        m->sdp_len = json_string_length(sdp);
        m->sdp = xstrndup(json_string_value(sdp), m->sdp_len);
    } else if (sc->t == SIGNAL_TRICKLE) {
        if ((rc = trickle_frag(obj, m, why, whylen)) < 0)
            goto out;
    } else if (sc->t == SIGNAL_MUTE) {
        m->muted = json_is_true(json_object_get(obj, "muted"));
    }
    rc = 0;
out:
    json_decref(obj);
    if (rc < 0)
        signal_msg_clear(m);
    return rc;
}

void signal_msg_clear(struct signal_msg *m)
{
    free(m->sdp);
    free(m->frag);
    m->sdp = m->frag = NULL;
    /* the token is a secret: not left behind */
    memset(m->token, 0, sizeof(m->token));
}

static void append_json(struct buf *out, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (!s)
        abort(); /* out of memory: decided once, as xmalloc does */
    buf_append(out, s, strlen(s));
    free(s);
    json_decref(o);
}

/* message as a JSON string; text that is not valid UTF-8 (a name cut at 40 bytes inside a
 * character, a reason from elsewhere) has its non-ASCII bytes replaced by '?'. */
static json_t *safe_string(const char *message)
{
    json_t *s = json_string(message ? message : "");
    if (s)
        return s;
    char *copy = xstrdup(message);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    s = json_string(copy);
    free(copy);
    return s;
}

void signal_msg_error(struct buf *out, const char *code, const char *message)
{
    append_json(out, json_pack("{s:s, s:s, s:o}", "type", "error", "code", code, "message",
                               safe_string(message)));
}

void signal_msg_simple(struct buf *out, const char *type, const char *name, const char *value,
                       size_t value_len)
{
    json_t *o = json_pack("{s:s}", "type", type);
    if (name)
        json_object_set_new(o, name, json_stringn(value, value_len));
    append_json(out, o);
}
