/* Socket helpers for the loop's non-blocking TCP servers. */
#ifndef KIBITKA_CORE_NET_H
#define KIBITKA_CORE_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* Parses "ADDR:PORT" (IPv4 dotted quad, or "[v6]:PORT") into *out. 0 or -EINVAL. */
int net_parse_addr(const char *s, struct sockaddr_storage *out);
/* A non-blocking, close-on-exec, SO_REUSEADDR TCP listening socket. fd or -errno. */
int net_listen_tcp(const struct sockaddr_storage *addr, int backlog);
/* "1.2.3.4" or "2001:db8::1" (no port) for an IPv4 or IPv6 address; "" for another family. */
void net_ip_str(const struct sockaddr *addr, char *out, size_t outlen);
/* "1.2.3.4:5678" for a peer address. */
void net_addr_str(const struct sockaddr_storage *addr, char *out, size_t outlen);
/* The port a socket is bound to (for ":0" listeners in tests). */
int net_local_port(int fd);

#endif
