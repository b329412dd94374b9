/* The ICE-lite agent of one session (RFC 8445 §2.5 lite, controlled role; RFC 7675 consent).
 *
 * A lite agent sends no checks: it answers the peer's binding requests on the one server
 * address and learns from them where the peer is. This module is that logic alone, with no
 * socket and no loop: the transport gives it each STUN packet with the sender's address and
 * the time, sends what it writes back to that address, and arms one timer at
 * ice_agent_next_deadline_us().
 *
 * Order of checks in ice_agent_handle_stun (nothing in the agent changes before the last step):
 *   1. parse (stun.h, strict); a broken FINGERPRINT is dropped silently;
 *   2. only binding requests are answered; indications (keepalives) and responses are ignored;
 *   3. USERNAME and MESSAGE-INTEGRITY present (else 400), USERNAME "LOCAL:REMOTE" with our
 *      ufrag (and theirs, once known) (else 401), MESSAGE-INTEGRITY with our password (else 401);
 *   4. unknown comprehension-required attributes: 420; ICE-CONTROLLED: 487 (below); no PRIORITY:
 *      400;
 *   5. a valid check: the sender's address is validated, consent refreshed, the selection
 *      updated; the answer is a success response with XOR-MAPPED-ADDRESS.
 * Error responses are written only when they are no longer than the request, so that forged
 * sources cannot use us to amplify (a bare 20-byte request gets silence, not a 48-byte 400).
 * Errors from step 4 carry MESSAGE-INTEGRITY; those of step 3 cannot.
 *
 * Role: a lite agent is always controlled (RFC 8445 §6.1.1). A peer that says ICE-CONTROLLED
 * is a role conflict (§7.3.1.1); we act as if our tiebreaker were the largest possible, so we
 * always keep our role and answer 487, and the peer, a full agent, switches to controlling.
 *
 * Selection: the first valid check's address is selected at once (a peer that never nominates
 * still gets media); a check with USE-CANDIDATE nominates its address, which then stays
 * selected until another nomination (a network change: the browser nominates the new path).
 * After ice_agent_restart the old selection is kept, and the first valid check on the new
 * credentials selects its address as if it were the first.
 *
 * Consent (RFC 7675): a lite agent sends no consent checks, so the full peer's checks (every
 * few seconds) are the consent; 30 s without a valid check from the selected address (or, before
 * any, since creation) and the session is over. The validated addresses (at most
 * ICE_MAX_VALIDATED; the least recently checked is replaced) are those that passed a check in
 * the last 30 s: the transport takes DTLS and SRTP only from those. */
#ifndef KIBITKA_RTC_ICE_H
#define KIBITKA_RTC_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rtc/stun.h"

#define ICE_UFRAG_LEN 8         /* local ufrag: ice-chars, 48 bits */
#define ICE_PWD_LEN 24          /* local password: ice-chars, 144 bits (RFC: at least 22) */
#define ICE_MAX_CRED 256        /* longest remote ufrag / password accepted (RFC 8839) */
#define ICE_MAX_VALIDATED 8     /* addresses remembered */
#define ICE_CONSENT_US 30000000 /* RFC 7675 §5.1: consent lost after 30 s */

struct ice_agent;

/* Creates an agent with fresh local credentials (OpenSSL RAND_bytes). 0 or -EIO if the random
 * generator fails. now_us: monotonic clock; the consent clock starts then. */
int ice_agent_create(int64_t now_us, struct ice_agent **out);
/* Frees the agent and sets *ap to NULL; NULL is fine. */
void ice_agent_destroy(struct ice_agent **ap);

/* NUL-terminated, owned by the agent, valid until the next restart or destroy. */
const char *ice_agent_local_ufrag(const struct ice_agent *a);
const char *ice_agent_local_pwd(const struct ice_agent *a);

/* The peer's credentials from its SDP (a=ice-ufrag, a=ice-pwd). ufrag may be NULL (unknown
 * until a trickle fragment tells it: until then any remote part of USERNAME is accepted).
 * pwd may be NULL (a lite agent sends no checks, so it does not need it). 0, or -EINVAL for a
 * value that is not 4..256 (ufrag) or 22..256 (pwd) ice-chars. */
int ice_agent_set_remote(struct ice_agent *a, const char *ufrag, const char *pwd);

/* ICE restart: new local credentials, the remote ones replaced (as ice_agent_set_remote). The
 * selected address stays until a check on the new credentials succeeds. 0, -EINVAL, -EIO. */
int ice_agent_restart(struct ice_agent *a, const char *remote_ufrag, const char *remote_pwd);

enum ice_result {
    ICE_CHECK_OK = 0,         /* a valid check: success response written */
    ICE_CHECK_SELECTED,       /* a valid check that changed the selected address (first, switch) */
    ICE_IGNORED,              /* an indication or a response: nothing to do */
    ICE_REJECT_MALFORMED,     /* not a STUN message by stun_parse; silence */
    ICE_REJECT_FINGERPRINT,   /* FINGERPRINT present and wrong; silence */
    ICE_REJECT_BAD_REQUEST,   /* no USERNAME, MESSAGE-INTEGRITY or PRIORITY: 400 */
    ICE_REJECT_USERNAME,      /* USERNAME not ours: 401 */
    ICE_REJECT_INTEGRITY,     /* MESSAGE-INTEGRITY does not verify: 401 */
    ICE_REJECT_UNKNOWN_ATTR,  /* unknown comprehension-required attribute: 420 */
    ICE_REJECT_ROLE_CONFLICT, /* peer also controlled: 487 */
    ICE_REJECT_ADDRESS,       /* from is neither AF_INET nor AF_INET6; silence */
    ICE_REJECT_NOSPACE,       /* outcap too small for the answer (a caller's bug); silence */
};
/* "ok", "selected", "ignored", "malformed", ... : a log word and a metric label. */
const char *ice_result_name(enum ice_result r);

/* Handles one STUN packet from `from` (AF_INET or AF_INET6). A response to send back to `from`
 * is written to out[0..outcap) with *outlen its length; *outlen = 0 means send nothing. outcap
 * of 128 is enough for every response. The agent changes only on ICE_CHECK_OK and
 * ICE_CHECK_SELECTED. */
enum ice_result ice_agent_handle_stun(struct ice_agent *a, const uint8_t *pkt, size_t len,
                                      const struct sockaddr *from, int64_t now_us, uint8_t *out,
                                      size_t outcap, size_t *outlen);

/* The selected address: true and *out filled if there is one; *nominated tells whether the peer
 * nominated it (USE-CANDIDATE) or it is only the first valid one. nominated may be NULL. */
bool ice_agent_selected(const struct ice_agent *a, struct sockaddr_storage *out, bool *nominated);
/* Whether addr passed a check in the last 30 s (compares family, address and port). */
bool ice_agent_is_validated(const struct ice_agent *a, const struct sockaddr *addr, int64_t now_us);
/* Copies up to cap validated addresses (fresh at now_us) to out; returns how many. */
size_t ice_agent_validated(const struct ice_agent *a, int64_t now_us, struct sockaddr_storage *out,
                           size_t cap);

/* RFC 7675: true when 30 s have passed without a valid check from the selected address (or,
 * before any, since creation). The transport then ends the session. */
bool ice_agent_consent_expired(const struct ice_agent *a, int64_t now_us);
/* When consent expires unless refreshed: the one timer the transport arms. */
int64_t ice_agent_next_deadline_us(const struct ice_agent *a);

/* The local ufrag of a parsed request (USERNAME up to the first ':'), for the transport to find
 * the session a packet belongs to. 0 with *ufrag pointing into the packet, or -ENOENT if there is
 * no USERNAME or it has no ':' or an empty local part. */
int ice_local_ufrag(const struct stun_msg *m, const char **ufrag, size_t *len);

#endif
