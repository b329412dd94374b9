/* Internal to rtc/sdp_*.c: the parser's state and the lexing helpers shared by sdp_parse.c
 * (lines and attributes) and sdp_lex.c (tokens, numbers, candidates). Not for other modules. */
#ifndef KIBITKA_RTC_SDP_LEX_H
#define KIBITKA_RTC_SDP_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtc/sdp.h"

struct sdp_ps {
    struct sdp_offer *o;
    struct sdp_media *m; /* NULL at session level */
    bool frag;           /* a trickle fragment: no v=, no required credentials */
    bool seen_v;
    bool session_eoc;
    unsigned line;
    char *err;
    size_t errlen;
};

/* Writes "line N: <message>" (no prefix once the lines are done) into ps->err; returns rc. */
int sdp_fail(struct sdp_ps *ps, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Decimal digits only, no sign, value <= max; "" and overflow fail. */
bool sdp_num(const char *s, uint64_t max, uint64_t *out);
/* sdp_num() within [lo, hi], else -EINVAL with "<what> <s> out of range lo-hi". */
int sdp_range(struct sdp_ps *ps, const char *s, const char *what, uint64_t lo, uint64_t hi,
              uint64_t *out);
/* Splits off the next space-separated token (runs of spaces skipped); NULL at the end. */
char *sdp_tok(char **cur);
/* Copies src into dst[cap], or -EINVAL naming `what` when it does not fit. */
int sdp_copy(struct sdp_ps *ps, char *dst, size_t cap, const char *src, const char *what);
bool sdp_ice_chars(const char *s);   /* RFC 8839 ice-char: ALPHA / DIGIT / "+" / "/" */
bool sdp_token_chars(const char *s); /* printable ASCII, no space */
int sdp_parse_dir(const char *s, enum sdp_dir *d);
int sdp_hexval(char c);
char *sdp_trim(char *s);
/* The value of a=candidate: into *c; *drop set when it is valid but of no use to us (unknown
 * transport, FQDN address). */
int sdp_parse_candidate(struct sdp_ps *ps, char *v, struct sdp_candidate *c, bool *drop);

#endif
