/* SDP lexing: numbers, tokens, and the candidate grammar (rtc/sdp_lex.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rtc/sdp_lex.h"

int sdp_fail(struct sdp_ps *ps, int rc, const char *fmt, ...)
{
    if (!ps->err || !ps->errlen)
        return rc;
    int n = 0;
    if (ps->line)
        n = snprintf(ps->err, ps->errlen, "line %u: ", ps->line);
    if (n < 0 || (size_t)n >= ps->errlen)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

bool sdp_num(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int sdp_range(struct sdp_ps *ps, const char *s, const char *what, uint64_t lo, uint64_t hi,
              uint64_t *out)
{
    if (sdp_num(s, hi, out) && *out >= lo)
        return 0;
    return sdp_fail(ps, -EINVAL, "%s %.40s%s out of range %llu-%llu", what, s,
                    strlen(s) > 40 ? "..." : "", (unsigned long long)lo, (unsigned long long)hi);
}

char *sdp_tok(char **cur)
{
    char *s = *cur;
    while (*s == ' ')
        s++;
    if (!*s)
        return *cur = s, NULL;
    char *e = s;
    while (*e && *e != ' ')
        e++;
    if (*e)
        *e++ = '\0';
    *cur = e;
    return s;
}

int sdp_copy(struct sdp_ps *ps, char *dst, size_t cap, const char *src, const char *what)
{
    size_t n = strlen(src);
    if (n >= cap)
        return sdp_fail(ps, -EINVAL, "%s is %zu bytes, over the %zu-byte limit", what, n, cap - 1);
    memcpy(dst, src, n + 1);
    return 0;
}

bool sdp_ice_chars(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/')
            return false;
    return true;
}

bool sdp_token_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int sdp_parse_dir(const char *s, enum sdp_dir *d)
{
    static const char *const names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return *d = (enum sdp_dir)(SDP_DIR_SENDRECV + i), 0;
    return -1;
}

int sdp_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *sdp_trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

/* Candidate grammar (RFC 8839 5.1): foundation component transport priority address port
 * "typ" type *(name value); raddr, rport and tcptype are among the name/value pairs. */
static int cand_addr(struct sdp_ps *ps, const char *s, struct sdp_candidate *c, bool *fqdn)
{
    unsigned char tmp[16];
    size_t n = strlen(s);
    if (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1) {
        c->addr_kind = strchr(s, ':') ? SDP_ADDR_V6 : SDP_ADDR_V4;
        return sdp_copy(ps, c->addr, sizeof c->addr, s, "candidate address");
    }
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return sdp_fail(ps, -EINVAL, "candidate address is not an IP or a host name");
    if (n > 6 && strcasecmp(s + n - 6, ".local") == 0) {
        c->addr_kind = SDP_ADDR_MDNS;
        return sdp_copy(ps, c->addr, sizeof c->addr, s, "candidate mDNS name");
    }
    *fqdn = true; /* RFC 8839 allows FQDNs; an ICE-lite agent never resolves them */
    return 0;
}

int sdp_parse_candidate(struct sdp_ps *ps, char *v, struct sdp_candidate *c, bool *drop)
{
    char *f = sdp_tok(&v), *comp = sdp_tok(&v), *tr = sdp_tok(&v), *prio = sdp_tok(&v),
         *addr = sdp_tok(&v), *port = sdp_tok(&v), *typ = sdp_tok(&v), *type = sdp_tok(&v);
    uint64_t x;
    int rc;
    if (!type || strcmp(typ, "typ") != 0)
        return sdp_fail(ps, -EINVAL,
                        "a=candidate needs <foundation> <component> <transport> "
                        "<priority> <address> <port> typ <type>");
    if (strlen(f) > 32 || !sdp_ice_chars(f))
        return sdp_fail(ps, -EINVAL, "candidate foundation must be 1-32 ice-chars");
    strcpy(c->foundation, f);
    if ((rc = sdp_range(ps, comp, "candidate component", 1, 256, &x)))
        return rc;
    c->component = (uint16_t)x;
    if (strcasecmp(tr, "udp") == 0)
        c->transport = SDP_TRANSPORT_UDP;
    else if (strcasecmp(tr, "tcp") == 0)
        c->transport = SDP_TRANSPORT_TCP;
    else
        *drop = true; /* RFC 8839: unknown transports are ignored */
    if ((rc = sdp_range(ps, prio, "candidate priority", 1, 0x7fffffff, &x)))
        return rc;
    c->priority = (uint32_t)x;
    if ((rc = cand_addr(ps, addr, c, drop)) || (rc = sdp_range(ps, port, "port", 0, 65535, &x)))
        return rc;
    c->port = (uint16_t)x;
    static const char *const types[] = {"host", "srflx", "prflx", "relay"};
    size_t i;
    for (i = 0; i < 4 && strcmp(type, types[i]) != 0; i++)
        ;
    if (i == 4)
        return sdp_fail(ps, -EINVAL, "candidate type %.16s not host, srflx, prflx or relay", type);
    c->type = (enum sdp_cand_type)i;
    for (char *k; (k = sdp_tok(&v));) {
        char *val = sdp_tok(&v);
        unsigned char tmp[16];
        if (!val)
            return sdp_fail(ps, -EINVAL, "candidate extension %.32s has no value", k);
        if (strcmp(k, "raddr") == 0) {
            if (inet_pton(AF_INET, val, tmp) != 1 && inet_pton(AF_INET6, val, tmp) != 1)
                return sdp_fail(ps, -EINVAL, "candidate raddr is not an IP address");
            strcpy(c->raddr, val); /* inet_pton accepted it: at most 45 chars */
            c->has_raddr = true;
        } else if (strcmp(k, "rport") == 0) {
            if ((rc = sdp_range(ps, val, "rport", 0, 65535, &x)))
                return rc;
            c->rport = (uint16_t)x;
        } else if (strcmp(k, "tcptype") == 0) {
            if (strcmp(val, "active") == 0)
                c->tcptype = SDP_TCPTYPE_ACTIVE;
            else if (strcmp(val, "passive") == 0)
                c->tcptype = SDP_TCPTYPE_PASSIVE;
            else if (strcmp(val, "so") == 0)
                c->tcptype = SDP_TCPTYPE_SO;
            else
                return sdp_fail(ps, -EINVAL, "tcptype %.16s not active, passive or so", val);
        }
    }
    return 0;
}
