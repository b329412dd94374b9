/* The ICE-lite agent (see ice.h for the contract and the order of checks). */
#include "rtc/ice.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

struct validated {
    struct sockaddr_storage addr; /* normalized: zeroed, then family, port, address */
    int64_t last_us;              /* last valid check from it */
};

struct ice_agent {
    char lufrag[ICE_UFRAG_LEN + 1];
    char lpwd[ICE_PWD_LEN + 1];
    char rufrag[ICE_MAX_CRED + 1]; /* "" while unknown */
    char rpwd[ICE_MAX_CRED + 1];
    struct validated v[ICE_MAX_VALIDATED];
    size_t nv;
    bool has_selected;
    bool nominated; /* the selected address came with USE-CANDIDATE */
    bool restarted; /* restart done, no valid check on the new credentials yet */
    struct sockaddr_storage selected;
    int64_t consent_us; /* last valid check from the selected address, or creation */
};

/* ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4): 64 of them, so a random byte's low 6
 * bits pick one uniformly. */
static const char ice_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int random_ice_chars(char *out, size_t n)
{
    unsigned char raw[ICE_PWD_LEN];
    if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
        return -EIO;
    for (size_t i = 0; i < n; i++)
        out[i] = ice_chars[raw[i] & 63];
    out[n] = '\0';
    return 0;
}

static int new_local_credentials(struct ice_agent *a)
{
    char ufrag[ICE_UFRAG_LEN + 1], pwd[ICE_PWD_LEN + 1];
    if (random_ice_chars(ufrag, ICE_UFRAG_LEN) < 0 || random_ice_chars(pwd, ICE_PWD_LEN) < 0)
        return -EIO;
    memcpy(a->lufrag, ufrag, sizeof(ufrag));
    memcpy(a->lpwd, pwd, sizeof(pwd));
    return 0;
}

static bool valid_ice_chars(const char *s, size_t min, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!memchr(ice_chars, s[i], sizeof(ice_chars) - 1))
            return false;
    return true;
}

int ice_agent_create(int64_t now_us, struct ice_agent **out)
{
    struct ice_agent *a = xcalloc(1, sizeof(*a));
    if (new_local_credentials(a) < 0) {
        xfreep(&a);
        *out = NULL;
        return -EIO;
    }
    a->consent_us = now_us;
    *out = a;
    return 0;
}

void ice_agent_destroy(struct ice_agent **ap)
{
    if (*ap)
        OPENSSL_cleanse((*ap)->lpwd, sizeof((*ap)->lpwd));
    xfreep(ap);
}

const char *ice_agent_local_ufrag(const struct ice_agent *a)
{
    return a->lufrag;
}
const char *ice_agent_local_pwd(const struct ice_agent *a)
{
    return a->lpwd;
}

int ice_agent_set_remote(struct ice_agent *a, const char *ufrag, const char *pwd)
{
    if ((ufrag && !valid_ice_chars(ufrag, 4, ICE_MAX_CRED)) ||
        (pwd && !valid_ice_chars(pwd, 22, ICE_MAX_CRED)))
        return -EINVAL;
    snprintf(a->rufrag, sizeof(a->rufrag), "%s", ufrag ? ufrag : "");
    snprintf(a->rpwd, sizeof(a->rpwd), "%s", pwd ? pwd : "");
    return 0;
}

int ice_agent_restart(struct ice_agent *a, const char *remote_ufrag, const char *remote_pwd)
{
    if ((remote_ufrag && !valid_ice_chars(remote_ufrag, 4, ICE_MAX_CRED)) ||
        (remote_pwd && !valid_ice_chars(remote_pwd, 22, ICE_MAX_CRED)))
        return -EINVAL;
    if (new_local_credentials(a) < 0)
        return -EIO;
    ice_agent_set_remote(a, remote_ufrag, remote_pwd);
    a->restarted = true;
    return 0;
}

const char *ice_result_name(enum ice_result r)
{
    switch (r) {
    case ICE_CHECK_OK:
        return "ok";
    case ICE_CHECK_SELECTED:
        return "selected";
    case ICE_IGNORED:
        return "ignored";
    case ICE_REJECT_MALFORMED:
        return "malformed";
    case ICE_REJECT_FINGERPRINT:
        return "fingerprint";
    case ICE_REJECT_BAD_REQUEST:
        return "bad_request";
    case ICE_REJECT_USERNAME:
        return "username";
    case ICE_REJECT_INTEGRITY:
        return "integrity";
    case ICE_REJECT_UNKNOWN_ATTR:
        return "unknown_attribute";
    case ICE_REJECT_ROLE_CONFLICT:
        return "role_conflict";
    case ICE_REJECT_ADDRESS:
        return "address";
    case ICE_REJECT_NOSPACE:
        return "no_space";
    }
    return "unknown";
}

/* A copy with only family, port and address set, so that equal addresses compare equal. */
static int normalize(const struct sockaddr *sa, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        struct sockaddr_in *o = (struct sockaddr_in *)out;
        o->sin_family = AF_INET;
        o->sin_port = in->sin_port;
        o->sin_addr = in->sin_addr;
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        struct sockaddr_in6 *o = (struct sockaddr_in6 *)out;
        o->sin6_family = AF_INET6;
        o->sin6_port = in6->sin6_port;
        o->sin6_addr = in6->sin6_addr;
        return 0;
    }
    return -EAFNOSUPPORT;
}

static bool same_addr(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
    return memcmp(x, y, sizeof(*x)) == 0;
}

/* USERNAME must be "LOCAL:REMOTE" with our ufrag, and theirs once known. */
static bool username_ok(const struct ice_agent *a, const struct stun_msg *m)
{
    size_t ll = strlen(a->lufrag), rl = strlen(a->rufrag);
    if (m->username_len < ll + 2 || memcmp(m->username, a->lufrag, ll) != 0 ||
        m->username[ll] != ':')
        return false;
    if (rl == 0)
        return true;
    return m->username_len == ll + 1 + rl && memcmp(m->username + ll + 1, a->rufrag, rl) == 0;
}

/* The entry of addr in the validated list, adding it (over the least recently checked entry
 * that is not the selected address, when full). */
static struct validated *remember(struct ice_agent *a, const struct sockaddr_storage *addr)
{
    for (size_t i = 0; i < a->nv; i++)
        if (same_addr(&a->v[i].addr, addr))
            return &a->v[i];
    struct validated *slot = NULL;
    if (a->nv < ICE_MAX_VALIDATED) {
        slot = &a->v[a->nv++];
    } else {
        for (size_t i = 0; i < a->nv; i++) {
            if (a->has_selected && same_addr(&a->v[i].addr, &a->selected))
                continue;
            if (!slot || a->v[i].last_us < slot->last_us)
                slot = &a->v[i];
        }
    }
    slot->addr = *addr;
    slot->last_us = 0;
    return slot;
}

/* A check that passed every test: the only place the agent's state changes. */
static enum ice_result accept_check(struct ice_agent *a, const struct stun_msg *m,
                                    const struct sockaddr_storage *from, int64_t now_us)
{
    remember(a, from)->last_us = now_us;
    bool changed = false;
    if (!a->has_selected || a->restarted) {
        changed = !a->has_selected || !same_addr(&a->selected, from);
        a->selected = *from;
        a->has_selected = true;
        a->nominated = m->use_candidate;
        a->restarted = false;
    } else if (m->use_candidate && !same_addr(&a->selected, from)) {
        a->selected = *from;
        a->nominated = true;
        changed = true;
    } else if (m->use_candidate) {
        a->nominated = true;
    }
    if (same_addr(&a->selected, from))
        a->consent_us = now_us;
    return changed ? ICE_CHECK_SELECTED : ICE_CHECK_OK;
}

/* An error response, unless it would be longer than the request (see ice.h). */
static void answer_error(const struct stun_msg *m, int code, const char *key, uint8_t *out,
                         size_t outcap, size_t *outlen)
{
    int n = stun_write_error(out, outcap, m->method, m->txid, code, m->unknown, m->n_unknown, key,
                             key ? strlen(key) : 0);
    *outlen = n > 0 && (size_t)n <= m->len ? (size_t)n : 0;
}

enum ice_result ice_agent_handle_stun(struct ice_agent *a, const uint8_t *pkt, size_t len,
                                      const struct sockaddr *from, int64_t now_us, uint8_t *out,
                                      size_t outcap, size_t *outlen)
{
    *outlen = 0;
    struct sockaddr_storage peer;
    if (normalize(from, &peer) < 0)
        return ICE_REJECT_ADDRESS;
    struct stun_msg m;
    if (stun_parse(pkt, len, &m) < 0)
        return ICE_REJECT_MALFORMED;
    if (m.fingerprint_off && !stun_check_fingerprint(&m))
        return ICE_REJECT_FINGERPRINT;
    if (m.method != STUN_METHOD_BINDING || m.cls != STUN_CLASS_REQUEST)
        return ICE_IGNORED;
    if (!m.username || !m.integrity_off) {
        answer_error(&m, 400, NULL, out, outcap, outlen);
        return ICE_REJECT_BAD_REQUEST;
    }
    if (!username_ok(a, &m)) {
        answer_error(&m, 401, NULL, out, outcap, outlen);
        return ICE_REJECT_USERNAME;
    }
    if (!stun_check_integrity(&m, a->lpwd, strlen(a->lpwd))) {
        answer_error(&m, 401, NULL, out, outcap, outlen);
        return ICE_REJECT_INTEGRITY;
    }
    /* Authenticated from here: errors carry MESSAGE-INTEGRITY. */
    if (m.n_unknown) {
        answer_error(&m, 420, a->lpwd, out, outcap, outlen);
        return ICE_REJECT_UNKNOWN_ATTR;
    }
    if (m.has_controlled) {
        answer_error(&m, 487, a->lpwd, out, outcap, outlen);
        return ICE_REJECT_ROLE_CONFLICT;
    }
    if (!m.has_priority) {
        answer_error(&m, 400, a->lpwd, out, outcap, outlen);
        return ICE_REJECT_BAD_REQUEST;
    }
    int n = stun_write_binding_success(out, outcap, m.txid, (const struct sockaddr *)&peer, a->lpwd,
                                       strlen(a->lpwd));
    if (n < 0)
        return ICE_REJECT_NOSPACE; /* change nothing: the check is not answered */
    *outlen = (size_t)n;
    return accept_check(a, &m, &peer, now_us);
}

bool ice_agent_selected(const struct ice_agent *a, struct sockaddr_storage *out, bool *nominated)
{
    if (!a->has_selected)
        return false;
    *out = a->selected;
    if (nominated)
        *nominated = a->nominated;
    return true;
}

static bool fresh(const struct validated *v, int64_t now_us)
{
    return now_us - v->last_us < ICE_CONSENT_US;
}

bool ice_agent_is_validated(const struct ice_agent *a, const struct sockaddr *addr, int64_t now_us)
{
    struct sockaddr_storage x;
    if (normalize(addr, &x) < 0)
        return false;
    for (size_t i = 0; i < a->nv; i++)
        if (same_addr(&a->v[i].addr, &x))
            return fresh(&a->v[i], now_us);
    return false;
}

size_t ice_agent_validated(const struct ice_agent *a, int64_t now_us, struct sockaddr_storage *out,
                           size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nv && n < cap; i++)
        if (fresh(&a->v[i], now_us))
            out[n++] = a->v[i].addr;
    return n;
}

bool ice_agent_consent_expired(const struct ice_agent *a, int64_t now_us)
{
    return now_us >= ice_agent_next_deadline_us(a);
}

int64_t ice_agent_next_deadline_us(const struct ice_agent *a)
{
    return a->consent_us + ICE_CONSENT_US;
}

int ice_local_ufrag(const struct stun_msg *m, const char **ufrag, size_t *len)
{
    if (!m->username)
        return -ENOENT;
    const char *colon = memchr(m->username, ':', m->username_len);
    if (!colon || colon == m->username)
        return -ENOENT;
    *ufrag = m->username;
    *len = (size_t)(colon - m->username);
    return 0;
}
