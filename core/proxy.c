#include "core/proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/net.h"

/* The entries kept from a request's headers, the rightmost ones: only they are ever looked at
 * (the walk stops at the first untrusted hop from the right), so a long header from a client
 * costs nothing more. */
#define MAX_ENTRIES 32

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An AF_INET6 ::ffff:a.b.c.d becomes AF_INET a.b.c.d; anything else is copied (port 0). */
static void normalize(const struct sockaddr *sa, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *o = (struct sockaddr_in *)out;
        o->sin_family = AF_INET;
        o->sin_addr = ((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (memcmp(a6->s6_addr, v4_mapped, 12) == 0) {
            struct sockaddr_in *o = (struct sockaddr_in *)out;
            o->sin_family = AF_INET;
            memcpy(&o->sin_addr, a6->s6_addr + 12, 4);
        } else {
            struct sockaddr_in6 *o = (struct sockaddr_in6 *)out;
            o->sin6_family = AF_INET6;
            o->sin6_addr = *a6;
        }
    }
}

int proxy_net_parse(const char *spec, struct proxy_net *out)
{
    char host[64];
    const char *slash = strchr(spec, '/');
    size_t hl = slash ? (size_t)(slash - spec) : strlen(spec);
    if (hl == 0 || hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    memset(out, 0, sizeof(*out));
    int max;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -EINVAL;
    }
    out->bits = max;
    if (slash) {
        const char *b = slash + 1;
        if (!isdigit((unsigned char)b[0]) || strlen(b) > 3)
            return -EINVAL;
        char *end;
        long bits = strtol(b, &end, 10);
        if (*end || bits > max)
            return -EINVAL;
        out->bits = (int)bits;
    }
    /* Host bits set (10.0.0.1/8) is most likely a typo for a narrower network: refuse it. */
    for (int i = out->bits; i < max; i++)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return -EINVAL;
    if (out->family == AF_INET6 && out->bits >= 96 && memcmp(out->addr, v4_mapped, 12) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->family = AF_INET;
        out->bits -= 96;
    }
    return 0;
}

int proxy_trust_add(struct proxy_trust *t, const char *spec)
{
    struct proxy_net net;
    if (proxy_net_parse(spec, &net) < 0)
        return -EINVAL;
    t->nets = xrealloc(t->nets, sizeof(*t->nets) * (size_t)(t->n + 1));
    t->nets[t->n++] = net;
    return 0;
}

void proxy_trust_clear(struct proxy_trust *t)
{
    xfreep(&t->nets);
    t->n = 0;
}

static bool net_has(const struct proxy_net *net, const struct sockaddr_storage *a)
{
    const uint8_t *b;
    if (a->ss_family != net->family)
        return false;
    if (a->ss_family == AF_INET)
        b = (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr;
    else
        b = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(b, net->addr, (size_t)full) != 0)
        return false;
    return rest == 0 || ((b[full] ^ net->addr[full]) & (0xff00 >> rest)) == 0;
}

static bool trusted_norm(const struct proxy_trust *t, const struct sockaddr_storage *a)
{
    for (int i = 0; t && i < t->n; i++)
        if (net_has(&t->nets[i], a))
            return true;
    return false;
}

bool proxy_trusted(const struct proxy_trust *t, const struct sockaddr *sa)
{
    struct sockaddr_storage a;
    normalize(sa, &a);
    return trusted_norm(t, &a);
}

static bool all_digits(const char *p)
{
    if (!*p || strlen(p) > 5)
        return false;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

/* "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80", blanks around.
 * 0 or -EINVAL. */
static int parse_node(const char *s, size_t len, struct sockaddr_storage *out)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    char tok[80];
    if (len == 0 || len >= sizeof(tok))
        return -EINVAL;
    memcpy(tok, s, len);
    tok[len] = '\0';
    char *host = tok, *port = NULL;
    if (tok[0] == '[') {
        char *close = strchr(tok, ']');
        if (!close)
            return -EINVAL;
        *close = '\0';
        host = tok + 1;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return -EINVAL;
    } else {
        char *c1 = strchr(tok, ':');
        if (c1 && !strchr(c1 + 1, ':')) { /* a.b.c.d:port; two colons or more: IPv6 */
            *c1 = '\0';
            port = c1 + 1;
        }
    }
    if (port && !all_digits(port))
        return -EINVAL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (tok[0] != '[' && inet_pton(AF_INET, host, &a4->sin_addr) == 1)
        a4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1)
        a6->sin6_family = AF_INET6;
    else
        return -EINVAL;
    normalize((const struct sockaddr *)&ss, out);
    return 0;
}

struct entry {
    const char *p;
    size_t len;
    bool fwd; /* a Forwarded element: its for= is the node */
};

/* The ring of the last MAX_ENTRIES entries. */
struct entries {
    struct entry e[MAX_ENTRIES];
    int n; /* entries seen in all */
};

static void push(struct entries *es, const char *p, size_t len, bool fwd)
{
    es->e[es->n % MAX_ENTRIES] = (struct entry){p, len, fwd};
    es->n++;
}

/* Splits a header value at commas outside quoted strings (Forwarded's quoted values). */
static void split(struct entries *es, const char *v, bool fwd)
{
    const char *start = v;
    bool quoted = false;
    for (const char *p = v;; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '\\' && quoted && p[1])
            p++;
        else if ((*p == ',' && !quoted) || !*p) {
            push(es, start, (size_t)(p - start), fwd);
            if (!*p)
                return;
            start = p + 1;
        }
    }
}

/* A Forwarded element's for= node (RFC 7239 4: for=192.0.2.60;proto=http, for="[2001:db8::1]:80").
 * 0 or -EINVAL (no for=, or not an address: "unknown", an obfuscated "_name"). */
static int parse_forwarded(const char *s, size_t len, struct sockaddr_storage *out)
{
    const char *end = s + len;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *pe = semi ? semi : end;
        while (s < pe && (*s == ' ' || *s == '\t'))
            s++;
        if (pe - s > 4 && strncasecmp(s, "for=", 4) == 0) {
            const char *v = s + 4;
            size_t vl = (size_t)(pe - v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
                v++, vl -= 2;
            return parse_node(v, vl, out);
        }
        s = semi ? semi + 1 : end;
    }
    return -EINVAL;
}

enum proxy_source proxy_client(const struct proxy_trust *t, const struct sockaddr *peer,
                               const struct proxy_headers *h, struct sockaddr_storage *out)
{
    normalize(peer, out);
    if (!trusted_norm(t, out) || !h)
        return PROXY_PEER;
    struct entries es = {.n = 0};
    bool fwd = !(h->xff && h->nxff > 0);
    const char *const *v = fwd ? h->fwd : h->xff;
    int nv = fwd ? h->nfwd : h->nxff;
    for (int i = 0; v && i < nv; i++)
        if (v[i])
            split(&es, v[i], fwd);
    enum proxy_source src = PROXY_PEER;
    int first = es.n > MAX_ENTRIES ? es.n - MAX_ENTRIES : 0;
    for (int i = es.n - 1; i >= first; i--) {
        const struct entry *e = &es.e[i % MAX_ENTRIES];
        struct sockaddr_storage a;
        int rc = e->fwd ? parse_forwarded(e->p, e->len, &a) : parse_node(e->p, e->len, &a);
        if (rc < 0)
            break; /* junk: the trusted hop that passed it on is the client */
        *out = a;
        src = PROXY_HEADER;
        if (!trusted_norm(t, out))
            break;
    }
    return src;
}

enum proxy_source proxy_client_str(const struct proxy_trust *t, const struct sockaddr *peer,
                                   const struct proxy_headers *h, char *out, size_t outlen)
{
    struct sockaddr_storage a;
    enum proxy_source src = proxy_client(t, peer, h, &a);
    net_ip_str((const struct sockaddr *)&a, out, outlen);
    return src;
}
