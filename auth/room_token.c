/* Join tokens: see room_token.h. */
#include "auth/room_token.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

#define SIG_LEN 32
#define SIG_B64_LEN 43 /* 32 bytes in unpadded base64url */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of n bytes into out (room for 4 * (n + 2) / 3 + 1); its length. */
static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = b64url[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

/* Decodes len characters of unpadded base64url into out (room for len * 3 / 4 bytes); the byte
 * count, or -1 for a character outside the alphabet, an impossible length or stray bits. */
static long b64_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc ? -1 : (long)o; /* the leftover bits of a canonical encoding are zero */
}

static void sign(const unsigned char key[ROOM_TOKEN_KEY_LEN], const char *msg, size_t len,
                 unsigned char sig[SIG_LEN])
{
    unsigned int n = SIG_LEN;
    HMAC(EVP_sha256(), key, ROOM_TOKEN_KEY_LEN, (const unsigned char *)msg, len, sig, &n);
}

int room_token_key_load(struct db *db, unsigned char key[ROOM_TOKEN_KEY_LEN])
{
    unsigned char fresh[ROOM_TOKEN_KEY_LEN];
    char hex[2 * ROOM_TOKEN_KEY_LEN + 1];
    if (RAND_bytes(fresh, sizeof(fresh)) != 1)
        return -EIO;
    for (int i = 0; i < ROOM_TOKEN_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", fresh[i]);
    char *stored = NULL;
    int rc = db_setting_ensure(db, ROOM_TOKEN_SETTING, hex, &stored);
    OPENSSL_cleanse(fresh, sizeof(fresh));
    OPENSSL_cleanse(hex, sizeof(hex));
    if (rc < 0)
        return rc;
    rc = strlen(stored) == 2 * ROOM_TOKEN_KEY_LEN ? 0 : -EINVAL;
    for (int i = 0; rc == 0 && i < ROOM_TOKEN_KEY_LEN; i++) {
        unsigned v;
        if (sscanf(stored + 2 * i, "%2x", &v) != 1)
            rc = -EINVAL;
        key[i] = (unsigned char)v;
    }
    OPENSSL_cleanse(stored, strlen(stored));
    free(stored);
    return rc;
}

static bool name_fits(const char *s)
{
    return s && strlen(s) <= ROOM_TOKEN_NAME_MAX;
}

int room_token_make(const unsigned char key[ROOM_TOKEN_KEY_LEN], const struct room_token *t,
                    char *out, size_t outlen)
{
    if (!t->room[0] || !name_fits(t->room) || !name_fits(t->user) || !name_fits(t->display) ||
        strlen(t->user_id) > 32)
        return -EINVAL;
    json_t *o = json_pack("{s:s,s:s,s:b,s:I}", "r", t->room, "d", t->display, "s", t->may_speak,
                          "e", (json_int_t)t->expires_at);
    if (!o)
        return -EINVAL; /* not UTF-8 */
    if (t->user[0]) {
        json_object_set_new(o, "u", json_string(t->user));
        json_object_set_new(o, "i", json_string(t->user_id));
    }
    char *payload = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!payload)
        return -EINVAL;
    size_t plen = strlen(payload);
    size_t need = (plen + 2) / 3 * 4 + 1 + SIG_B64_LEN + 1;
    if (need > outlen) {
        free(payload);
        return -ENOSPC;
    }
    size_t n = b64_encode((const unsigned char *)payload, plen, out);
    free(payload);
    unsigned char sig[SIG_LEN];
    sign(key, out, n, sig);
    out[n++] = '.';
    n += b64_encode(sig, SIG_LEN, out + n);
    return (int)n;
}

/* A string member of at most ROOM_TOKEN_NAME_MAX bytes into dst; absent is "" when optional. */
static bool get_name(json_t *o, const char *k, bool required, char *dst)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return !required;
    if (!json_is_string(v) || json_string_length(v) > ROOM_TOKEN_NAME_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static int parse_payload(const unsigned char *p, size_t len, struct room_token *out)
{
    json_t *o = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *s = json_object_get(o, "s"), *e = json_object_get(o, "e");
    char id[ROOM_TOKEN_NAME_MAX + 1] = "";
    bool ok = json_is_object(o) && json_object_size(o) <= 6 && get_name(o, "r", true, out->room) &&
              out->room[0] && get_name(o, "u", false, out->user) && get_name(o, "i", false, id) &&
              strlen(id) <= 32 && get_name(o, "d", true, out->display) && json_is_boolean(s) &&
              json_is_integer(e) && !out->user[0] == !id[0];
    if (ok) {
        memcpy(out->user_id, id, strlen(id) + 1);
        out->may_speak = json_is_true(s);
        out->expires_at = (int64_t)json_integer_value(e);
    }
    json_decref(o);
    return ok ? 0 : -EACCES;
}

int room_token_verify(const unsigned char key[ROOM_TOKEN_KEY_LEN], const char *token,
                      const char *room, int64_t now_s, struct room_token *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = token ? strnlen(token, ROOM_TOKEN_MAX + 1) : 0;
    const char *dot = len <= ROOM_TOKEN_MAX ? memchr(token ? token : "", '.', len) : NULL;
    if (!dot || len - (size_t)(dot - token) - 1 != SIG_B64_LEN || dot == token)
        return -EACCES;
    size_t plen = (size_t)(dot - token);
    unsigned char want[SIG_LEN], got[SIG_LEN + 3];
    if (b64_decode(dot + 1, SIG_B64_LEN, got) != SIG_LEN)
        return -EACCES;
    sign(key, token, plen, want);
    if (CRYPTO_memcmp(want, got, SIG_LEN) != 0)
        return -EACCES;
    unsigned char payload[ROOM_TOKEN_MAX];
    long n = b64_decode(token, plen, payload);
    if (n <= 0 || parse_payload(payload, (size_t)n, out) < 0) {
        memset(out, 0, sizeof(*out));
        return -EACCES;
    }
    if (out->expires_at <= now_s)
        return -EKEYEXPIRED;
    if (!room || strcmp(out->room, room))
        return -EPERM;
    return 0;
}

/* The length of the well-formed UTF-8 sequence at p (lead byte 0xc2..0xf4, then continuation
 * bytes), or 0 for a byte that starts none (a stray continuation byte, an invalid lead, a
 * sequence cut short). Overlong and surrogate forms past the lead are not told apart: the
 * text is only shown, never decoded. */
static size_t utf8_len(const char *p)
{
    unsigned char c = (unsigned char)*p;
    size_t n = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    for (size_t k = 1; k < n; k++)
        if (((unsigned char)p[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

void room_display_clean(const char *in, char out[ROOM_TOKEN_NAME_MAX + 1])
{
    size_t o = 0;
    for (const char *p = in ? in : ""; *p;) {
        size_t n = utf8_len(p);
        if (o + (n ? n : 1) > ROOM_TOKEN_NAME_MAX)
            break;
        if (n == 0) { /* not UTF-8: one byte shown as '?' */
            out[o++] = '?';
            p++;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)p[k];
            out[o++] = n == 1 && (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        }
        p += n;
    }
    out[o] = '\0';
    size_t start = strspn(out, " ");
    while (o > start && out[o - 1] == ' ')
        o--;
    memmove(out, out + start, o - start);
    out[o - start] = '\0';
}
