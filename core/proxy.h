/* Clients behind reverse proxies (--trusted-proxy). Behind deploy/nginx.conf every HTTP request
 * and every signaling WebSocket comes from 127.0.0.1, so the limits kept per address (logins per
 * (user, address), sockets per address) and the logs would treat every user as one. When the
 * direct peer is a proxy we trust, the client is what that proxy says: the rightmost address of
 * X-Forwarded-For that is not itself a trusted proxy (each hop appends the address it saw, so
 * what stands left of the last untrusted hop may be anything the client sent). Without
 * X-Forwarded-For, the for= of RFC 7239's Forwarded header, read the same way. A peer that is not
 * trusted is the client, whatever its headers say.
 *
 * The proxy must append to (or replace) the header read here: nginx's
 * `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for` does. A proxy that sets only
 * Forwarded and passes a client's X-Forwarded-For through would let that client choose its
 * address: X-Forwarded-For is read first.
 *
 * Values: an IPv4 or IPv6 address, bracketed or not ("[2001:db8::1]"), with or without a port
 * ("192.0.2.1:4711", "[2001:db8::1]:4711"), blanks around it. An entry that is not one
 * ("unknown", "_hidden", junk) ends the walk: the client is then the last trusted hop that
 * passed it on (its own peer when that is the first entry seen), never the junk. IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) are IPv4, in the list and in the addresses checked against it.
 */
#ifndef KIBITKA_CORE_PROXY_H
#define KIBITKA_CORE_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* One --trusted-proxy: an address, or a network in CIDR notation (10.0.0.0/8, fd00::/8). */
struct proxy_net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};

/* The trusted proxies. Zeroed: none (every peer is the client). */
struct proxy_trust {
    struct proxy_net *nets;
    int n;
};

/* Parses "ADDR" or "ADDR/BITS" (host bits must be zero). 0 or -EINVAL. */
int proxy_net_parse(const char *spec, struct proxy_net *out);
/* Adds spec to the list. 0 or -EINVAL (the list unchanged). */
int proxy_trust_add(struct proxy_trust *t, const char *spec);
void proxy_trust_clear(struct proxy_trust *t);
/* Is this address (AF_INET or AF_INET6, a mapped IPv4 as IPv4) one of the trusted proxies. */
bool proxy_trusted(const struct proxy_trust *t, const struct sockaddr *sa);

/* The values of a request's X-Forwarded-For and Forwarded header lines, in the order they came
 * (a repeated header is one list, RFC 9110 5.3). NULL or n 0: none. */
struct proxy_headers {
    const char *const *xff;
    int nxff;
    const char *const *fwd;
    int nfwd;
};

enum proxy_source { PROXY_PEER, PROXY_HEADER };

/* Writes the client's address to *out (port 0; a mapped IPv4 as IPv4): the peer's, or the one
 * the trusted peer's headers give. Returns where it came from. t may be NULL (none trusted). */
enum proxy_source proxy_client(const struct proxy_trust *t, const struct sockaddr *peer,
                               const struct proxy_headers *h, struct sockaddr_storage *out);

/* proxy_client as text ("192.0.2.1", "2001:db8::1"; "" when the peer's family is neither). */
enum proxy_source proxy_client_str(const struct proxy_trust *t, const struct sockaddr *peer,
                                   const struct proxy_headers *h, char *out, size_t outlen);

#endif
