#include "api/http_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

/* Connections open from one address. IPv4 addresses are kept as IPv4-mapped IPv6 (a dual-stack
 * listener sees both forms); an IPv6 address counts as its /64, which one host or one household
 * gets as a whole (limiting single addresses would let one host use 2^64 of them). */
struct addr_count {
    uint8_t key[16];
    int count;
    struct addr_count *next;
};

#define NBUCKETS 1024 /* a power of two */

struct http_conn {
    int fd;
    struct addr_count *addr; /* NULL for an address of another family (not limited) */
    int64_t deadline_us;     /* while waiting: the whole request must be in by then */
    bool waiting;            /* in the waiting list */
    bool swept;              /* shut down at its deadline: MHD closes it next */
    struct http_conn *prev, *next;
};

struct http_limits {
    pthread_mutex_t lock;
    struct http_limits_config cfg;
    struct {
        atomic_int_fast64_t *connections, *refused_per_address, *request_timeouts;
    } mx;
    int64_t timeout_us;
    uint32_t seed; /* of the address hash: a peer cannot pick addresses that share a bucket */
    struct addr_count *buckets[NBUCKETS];
    int nconns;
    /* Connections waiting for a request, oldest deadline first: every deadline is the time the
     * wait began plus the same timeout, so appending keeps the order, and a sweep stops at the
     * first connection whose deadline is still ahead. */
    struct http_conn *wait_head, *wait_tail;
    /* Refusals and timeouts are logged once a second at most, with the count since the last
     * line: a flood must not become a flood of log lines. */
    int64_t refusal_logged_us, timeout_logged_us;
    int64_t refusals_unlogged, timeouts_unlogged;
};

static bool addr_key(const struct sockaddr *a, uint8_t key[16])
{
    memset(key, 0, 16);
    if (a && a->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)a)->sin_addr, 4);
        return true;
    }
    if (a && a->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(key, b, memcmp(b, mapped, 12) ? 8 : 16);
        return true;
    }
    return false;
}

/* "192.0.2.1" or "2001:db8:1:2::/64". */
static void key_str(const uint8_t key[16], char *out, size_t n)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char a[INET6_ADDRSTRLEN] = "?";
    if (!memcmp(key, mapped, 12)) {
        inet_ntop(AF_INET, key + 12, a, sizeof(a));
        snprintf(out, n, "%s", a);
    } else {
        inet_ntop(AF_INET6, key, a, sizeof(a));
        snprintf(out, n, "%s/64", a);
    }
}

static struct addr_count **bucket(struct http_limits *l, const uint8_t key[16])
{
    uint32_t h = 2166136261u ^ l->seed; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return &l->buckets[h & (NBUCKETS - 1)];
}

static struct addr_count *find(struct http_limits *l, const uint8_t key[16])
{
    for (struct addr_count *a = *bucket(l, key); a; a = a->next)
        if (!memcmp(a->key, key, 16))
            return a;
    return NULL;
}

struct http_limits *http_limits_create(const struct http_limits_config *cfg)
{
    struct http_limits *l = xcalloc(1, sizeof(*l));
    l->cfg = *cfg;
    l->mx.connections =
        metrics_gauge(cfg->metrics, "kibitka_http_connections", "Open HTTP connections.");
    l->mx.refused_per_address = metrics_labelled(
        cfg->metrics, METRIC_COUNTER, "kibitka_http_connections_refused_total",
        "HTTP connections closed at accept, by reason.", "reason", "per_address_limit");
    l->mx.request_timeouts =
        metrics_counter(cfg->metrics, "kibitka_http_request_timeouts_total",
                        "HTTP connections closed because a whole request was not in within "
                        "--http-request-timeout (slow headers or body, or idle after a response).");
    l->timeout_us = (int64_t)(cfg->request_timeout_s * 1e6);
    if (getrandom(&l->seed, sizeof(l->seed), 0) != (ssize_t)sizeof(l->seed))
        l->seed = (uint32_t)clock_mono_us();
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void http_limits_destroy(struct http_limits **pl)
{
    struct http_limits *l = *pl;
    if (!l)
        return;
    for (int i = 0; i < NBUCKETS; i++)
        for (struct addr_count *a = l->buckets[i], *next; a; a = next) {
            next = a->next;
            free(a);
        }
    pthread_mutex_destroy(&l->lock);
    free(l);
    *pl = NULL;
}

bool http_limits_admit(struct http_limits *l, const struct sockaddr *addr)
{
    uint8_t key[16];
    int max = l->cfg.max_per_address;
    if (max <= 0 || !addr_key(addr, key))
        return true;
    pthread_mutex_lock(&l->lock);
    struct addr_count *a = find(l, key);
    int open = a ? a->count : 0;
    bool ok = open < max;
    int64_t now = clock_mono_us(), missed = 0;
    bool log = false;
    if (!ok) {
        l->refusals_unlogged++;
        if (now - l->refusal_logged_us >= 1000000) {
            log = true;
            missed = l->refusals_unlogged - 1;
            l->refusals_unlogged = 0;
            l->refusal_logged_us = now;
        }
    }
    pthread_mutex_unlock(&l->lock);
    if (!ok)
        metrics_add(l->mx.refused_per_address, 1);
    if (log) {
        char peer[INET6_ADDRSTRLEN + 4];
        key_str(key, peer, sizeof(peer));
        char more[64] = "";
        if (missed)
            snprintf(more, sizeof(more), " (and %lld more since the last line)", (long long)missed);
        log_warn("http", NULL,
                 "refusing connection from %s: %d connections open from that address "
                 "(--http-max-connections-per-address)%s",
                 peer, open, more);
    }
    return ok;
}

static void wait_append(struct http_limits *l, struct http_conn *c, int64_t now_us)
{
    c->deadline_us = now_us + l->timeout_us;
    c->waiting = true;
    c->next = NULL;
    c->prev = l->wait_tail;
    if (l->wait_tail)
        l->wait_tail->next = c;
    else
        l->wait_head = c;
    l->wait_tail = c;
}

static void wait_remove(struct http_limits *l, struct http_conn *c)
{
    if (!c->waiting)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->wait_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->wait_tail = c->prev;
    c->prev = c->next = NULL;
    c->waiting = false;
}

struct http_conn *http_limits_open(struct http_limits *l, int fd, const struct sockaddr *addr,
                                   int64_t now_us)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    uint8_t key[16];
    c->fd = fd;
    pthread_mutex_lock(&l->lock);
    if (addr_key(addr, key)) {
        struct addr_count *a = find(l, key);
        if (!a) {
            struct addr_count **b = bucket(l, key);
            a = xcalloc(1, sizeof(*a));
            memcpy(a->key, key, 16);
            a->next = *b;
            *b = a;
        }
        a->count++;
        c->addr = a;
    }
    l->nconns++;
    wait_append(l, c, now_us);
    pthread_mutex_unlock(&l->lock);
    metrics_add(l->mx.connections, 1);
    return c;
}

void http_limits_close(struct http_limits *l, struct http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&l->lock);
    wait_remove(l, c);
    struct addr_count *a = c->addr;
    if (a && --a->count == 0) {
        struct addr_count **p = bucket(l, a->key);
        while (*p != a)
            p = &(*p)->next;
        *p = a->next;
        free(a);
    }
    l->nconns--;
    pthread_mutex_unlock(&l->lock);
    metrics_add(l->mx.connections, -1);
    free(c);
}

void http_limits_request_in(struct http_limits *l, struct http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&l->lock);
    wait_remove(l, c);
    pthread_mutex_unlock(&l->lock);
}

void http_limits_request_done(struct http_limits *l, struct http_conn *c, int64_t now_us)
{
    if (!c)
        return;
    pthread_mutex_lock(&l->lock);
    if (!c->swept && !c->waiting)
        wait_append(l, c, now_us);
    pthread_mutex_unlock(&l->lock);
}

int http_limits_sweep(struct http_limits *l, int64_t now_us)
{
    int n = 0;
    int64_t missed = 0;
    bool log = false;
    uint8_t last[16] = {0};
    pthread_mutex_lock(&l->lock);
    while (l->wait_head && l->wait_head->deadline_us <= now_us) {
        struct http_conn *c = l->wait_head;
        wait_remove(l, c);
        c->swept = true;
        /* MHD reads the end of the stream and closes the connection; the descriptor stays
         * ours to touch until its connection-closed notification, which takes this lock. */
        shutdown(c->fd, SHUT_RDWR);
        if (c->addr)
            memcpy(last, c->addr->key, 16);
        else
            memset(last, 0, 16);
        n++;
    }
    if (n) {
        l->timeouts_unlogged += n;
        if (now_us - l->timeout_logged_us >= 1000000) {
            log = true;
            missed = l->timeouts_unlogged;
            l->timeouts_unlogged = 0;
            l->timeout_logged_us = now_us;
        }
    }
    pthread_mutex_unlock(&l->lock);
    metrics_add(l->mx.request_timeouts, n);
    if (log) {
        char peer[INET6_ADDRSTRLEN + 4];
        key_str(last, peer, sizeof(peer));
        log_info("http", NULL,
                 "closed %lld connections that had not sent a whole request %g s after "
                 "connecting or after their last response (--http-request-timeout), the last "
                 "from %s",
                 (long long)missed, l->cfg.request_timeout_s, peer);
    }
    return n;
}

int http_limits_max_connections(long fd_limit, int rtmp_max_connections, int requested,
                                long *reserve, bool *tight)
{
    long res = 64 + 2L * (rtmp_max_connections > 0 ? rtmp_max_connections : 0);
    long budget = fd_limit - res;
    *reserve = res;
    *tight = budget < 16;
    if (*tight)
        budget = fd_limit / 4 > 16 ? fd_limit / 4 : 16;
    long cap = requested > 0 ? requested : 16384;
    return (int)(cap < budget ? cap : budget);
}
