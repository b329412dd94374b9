/* A small blocking WebSocket client for the signaling tests: a hand-made handshake on a TCP
 * socket, masked frames out, frames in (answering pings only when asked to), so a test can also
 * play a client that never answers a ping or sends a frame bigger than the server allows. */
#ifndef KIBITKA_TEST_WS_CLIENT_H
#define KIBITKA_TEST_WS_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"

struct wsc {
    int fd;
    bool auto_pong; /* answer pings while reading */
    uint8_t in[1 << 16];
    size_t len;
    int close_code; /* the server's close frame, once read; -1 EOF without one */
    char close_reason[128];
    bool closed;
    int pings;  /* pings received */
    int status; /* the handshake's HTTP status (101 when it switched), 0: none read */
};

/* Connects to 127.0.0.1:port and asks for path, with more request header lines (each ending in
 * \r\n; "" for none). 0 on a 101 answer; -1 otherwise (refused: c->status says how). */
static inline int wsc_open_hdr(struct wsc *c, int port, const char *path, const char *headers)
{
    memset(c, 0, sizeof(*c));
    c->auto_pong = true;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     path, port, headers);
    if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    /* The answer's head, byte by byte so no frame after it is eaten. */
    char head[2048];
    size_t h = 0;
    int64_t deadline = clock_mono_us() + 10000000;
    while (h < sizeof(head) - 1 && clock_mono_us() < deadline) {
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(c->fd, head + h, 1, 0);
        if (r <= 0)
            return -1;
        h++;
        head[h] = '\0';
        if (h == 12 && !strncmp(head, "HTTP/1.", 7)) /* lws refuses in HTTP/1.0 */
            c->status = atoi(head + 9);              /* a refusal may close before its head ends */
        if (h >= 4 && !memcmp(head + h - 4, "\r\n\r\n", 4))
            return strncmp(head, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
    }
    return -1;
}

/* wsc_open_hdr without extra headers. */
static inline int wsc_open(struct wsc *c, int port, const char *path)
{
    return wsc_open_hdr(c, port, path, "");
}

static inline void wsc_close(struct wsc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* One masked frame whose first byte (FIN, opcode) is first. 0, or -1 when the socket is gone. */
static inline int wsc_frame_raw(struct wsc *c, uint8_t first, const void *data, size_t len)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = first;
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(hdr + h, mask, 4);
    h += 4;
    uint8_t *out = malloc(h + len);
    memcpy(out, hdr, h);
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
    size_t off = 0;
    int rc = 0;
    while (off < h + len) {
        ssize_t n = send(c->fd, out + off, h + len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    free(out);
    return rc;
}

/* One whole (FIN) frame. */
static inline int wsc_frame(struct wsc *c, int opcode, const void *data, size_t len)
{
    return wsc_frame_raw(c, (uint8_t)(0x80 | opcode), data, len);
}

static inline int wsc_text(struct wsc *c, const char *text)
{
    return wsc_frame(c, 1, text, strlen(text));
}

/* Reads frames until a text frame (returned, malloc'd, NUL-terminated) or the close; NULL on a
 * close, EOF or timeout (c->closed tells the first two). */
static inline char *wsc_read(struct wsc *c, int timeout_ms)
{
    int64_t deadline = clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        /* A whole frame in c->in? (the server does not mask, and never sends 64-bit lengths) */
        if (c->len >= 2) {
            size_t plen = c->in[1] & 0x7f, h = 2;
            if (plen == 126 && c->len >= 4) {
                plen = (size_t)c->in[2] << 8 | c->in[3];
                h = 4;
            }
            if (!(plen == 126 && h == 2) && c->len >= h + plen) {
                int op = c->in[0] & 0x0f;
                char *text = NULL;
                if (op == 1) {
                    text = malloc(plen + 1);
                    memcpy(text, c->in + h, plen);
                    text[plen] = '\0';
                } else if (op == 8) {
                    c->closed = true;
                    c->close_code = plen >= 2 ? (c->in[h] << 8 | c->in[h + 1]) : 1005;
                    snprintf(c->close_reason, sizeof(c->close_reason), "%.*s",
                             plen > 2 ? (int)(plen - 2) : 0, (const char *)c->in + h + 2);
                } else if (op == 9) {
                    c->pings++;
                    if (c->auto_pong)
                        wsc_frame(c, 10, c->in + h, plen);
                }
                memmove(c->in, c->in + h + plen, c->len - h - plen);
                c->len -= h + plen;
                if (text || c->closed)
                    return text;
                continue;
            }
        }
        int left = (int)((deadline - clock_mono_us()) / 1000);
        if (left <= 0)
            return NULL;
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, left > 100 ? 100 : left) <= 0)
            continue;
        ssize_t n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
        if (n <= 0) {
            c->closed = true;
            if (!c->close_code)
                c->close_code = -1;
            return NULL;
        }
        c->len += (size_t)n;
    }
}

#endif
