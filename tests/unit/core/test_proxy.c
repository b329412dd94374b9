/* --trusted-proxy: parsing the list, and which address is the client's (core/proxy.h). */
#include <arpa/inet.h>
#include <stdlib.h>

#include "core/proxy.h"
#include "test.h"

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(40000);
    } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(40000);
    } else {
        abort();
    }
    return ss;
}

/* The client of a request from peer with one X-Forwarded-For line (NULL: none) and one
 * Forwarded line (NULL: none), as text. */
static char out[64];
static enum proxy_source who(const struct proxy_trust *t, const char *peer, const char *xff,
                             const char *fwd)
{
    struct sockaddr_storage p = addr(peer);
    struct proxy_headers h = {&xff, xff ? 1 : 0, &fwd, fwd ? 1 : 0};
    return proxy_client_str(t, (const struct sockaddr *)&p, &h, out, sizeof(out));
}

static bool trusted(const struct proxy_trust *t, const char *ip)
{
    struct sockaddr_storage a = addr(ip);
    return proxy_trusted(t, (const struct sockaddr *)&a);
}

int main(void)
{
    struct proxy_net n;
    /* Parsing: addresses, networks; junk and host bits refused. */
    CHECK_EQ_INT(proxy_net_parse("127.0.0.1", &n), 0);
    CHECK_EQ_INT(n.bits, 32);
    CHECK_EQ_INT(proxy_net_parse("10.0.0.0/8", &n), 0);
    CHECK_EQ_INT(n.bits, 8);
    CHECK_EQ_INT(proxy_net_parse("::1", &n), 0);
    CHECK_EQ_INT(n.bits, 128);
    CHECK_EQ_INT(proxy_net_parse("fd00::/8", &n), 0);
    CHECK_EQ_INT(proxy_net_parse("0.0.0.0/0", &n), 0);
    CHECK_EQ_INT(proxy_net_parse("::ffff:10.1.0.0/112", &n), 0); /* mapped: IPv4 10.1.0.0/16 */
    CHECK_EQ_INT(n.family, AF_INET);
    CHECK_EQ_INT(n.bits, 16);
    const char *bad[] = {"",          "localhost",   "10.0.0.1/8",   "10.0.0.0/33", "::/129",
                         "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",  "1.2.3",       "1.2.3.4:80",
                         "[::1]",     "/8",          "10.0.0.0/08/1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = proxy_net_parse(bad[i], &n);
        if (rc == 0)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        CHECK(rc < 0);
    }

    struct proxy_trust t = {0};
    CHECK_EQ_INT(proxy_trust_add(&t, "127.0.0.1"), 0);
    CHECK_EQ_INT(proxy_trust_add(&t, "10.0.0.0/8"), 0);
    CHECK_EQ_INT(proxy_trust_add(&t, "fd00::/8"), 0);
    CHECK(proxy_trust_add(&t, "nope") < 0);
    CHECK_EQ_INT(t.n, 3);
    CHECK(trusted(&t, "127.0.0.1"));
    CHECK(trusted(&t, "::ffff:127.0.0.1")); /* a dual-stack socket's IPv4 peer */
    CHECK(trusted(&t, "10.200.3.4"));
    CHECK(trusted(&t, "fd12::1"));
    CHECK(!trusted(&t, "127.0.0.2"));
    CHECK(!trusted(&t, "11.0.0.1"));
    CHECK(!trusted(&t, "fe80::1"));
    CHECK(!trusted(NULL, "127.0.0.1"));

    /* No proxy trusted: the peer, whatever the headers say. */
    CHECK_EQ_INT(who(NULL, "127.0.0.1", "203.0.113.7", NULL), PROXY_PEER);
    CHECK_STREQ(out, "127.0.0.1");
    /* A spoofed header from a peer that is not trusted is ignored. */
    CHECK_EQ_INT(who(&t, "198.51.100.9", "203.0.113.7", "for=203.0.113.8"), PROXY_PEER);
    CHECK_STREQ(out, "198.51.100.9");
    CHECK_EQ_INT(who(&t, "::ffff:198.51.100.9", "203.0.113.7", NULL), PROXY_PEER);
    CHECK_STREQ(out, "198.51.100.9"); /* mapped IPv4 shown as IPv4 */
    /* A trusted peer without headers: itself. */
    CHECK_EQ_INT(who(&t, "127.0.0.1", NULL, NULL), PROXY_PEER);
    CHECK_STREQ(out, "127.0.0.1");
    /* One hop. */
    CHECK_EQ_INT(who(&t, "127.0.0.1", "203.0.113.7", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.7");
    /* Several hops: the rightmost untrusted one; what the client wrote left of it is ignored. */
    CHECK_EQ_INT(who(&t, "127.0.0.1", "1.1.1.1, 203.0.113.7, 10.1.2.3", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.7");
    CHECK_EQ_INT(who(&t, "127.0.0.1", "6.6.6.6,203.0.113.7,10.9.9.9 , 10.1.2.3", NULL),
                 PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.7");
    /* A client that claims to be a trusted proxy only pushes its claim left: the hop that
     * appended its real address is read first. */
    CHECK_EQ_INT(who(&t, "127.0.0.1", "10.0.0.1, 203.0.113.7", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.7");
    /* Every hop trusted: the leftmost (a request made from inside). */
    CHECK_EQ_INT(who(&t, "127.0.0.1", "10.0.0.5, 10.0.0.6", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "10.0.0.5");
    /* Ports, brackets, IPv6. */
    CHECK_EQ_INT(who(&t, "127.0.0.1", "203.0.113.7:4711", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.7");
    CHECK_EQ_INT(who(&t, "127.0.0.1", "[2001:db8::7]:4711", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "2001:db8::7");
    CHECK_EQ_INT(who(&t, "::1", "2001:db8::8", NULL), PROXY_PEER); /* ::1 is not in the list */
    CHECK_EQ_INT(who(&t, "fd00::1", "2001:db8::8", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "2001:db8::8");
    CHECK_EQ_INT(who(&t, "127.0.0.1", "::ffff:203.0.113.9", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.9");
    /* Malformed values: never used; the trusted hop that passed them on is the client. */
    const char *junk[] = {"",
                          " ",
                          "unknown",
                          "evil.example",
                          "1.2.3.4.5",
                          "300.1.1.1",
                          "1.2.3.4:",
                          "1.2.3.4:port",
                          "[2001:db8::1",
                          "[1.2.3.4]",
                          "2001:db8::1]:80",
                          "1.2.3.4:123456",
                          ",",
                          "\"1.2.3.4\""};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        who(&t, "127.0.0.1", junk[i], NULL);
        if (strcmp(out, "127.0.0.1"))
            fprintf(stderr, "junk '%s' gave %s\n", junk[i], out);
        CHECK_STREQ(out, "127.0.0.1");
    }
    CHECK_EQ_INT(who(&t, "127.0.0.1", "203.0.113.7, junk, 10.1.2.3", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "10.1.2.3"); /* the trusted hop that reported the junk */
    /* Junk left of the client is never looked at. */
    CHECK_EQ_INT(who(&t, "127.0.0.1", "junk, <script>, 203.0.113.7", NULL), PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.7");

    /* Several header lines are one list, in order. */
    {
        const char *lines[] = {"6.6.6.6", "203.0.113.7, 10.0.0.1"};
        struct sockaddr_storage p = addr("127.0.0.1");
        struct proxy_headers h = {lines, 2, NULL, 0};
        proxy_client_str(&t, (const struct sockaddr *)&p, &h, out, sizeof(out));
        CHECK_STREQ(out, "203.0.113.7");
    }
    /* A long header from a client: only the rightmost entries matter. */
    {
        char *big = malloc(20000);
        big[0] = '\0';
        for (int i = 0; i < 1000; i++)
            strcat(big, "6.6.6.6, ");
        strcat(big, "203.0.113.7");
        CHECK_EQ_INT(who(&t, "127.0.0.1", big, NULL), PROXY_HEADER);
        CHECK_STREQ(out, "203.0.113.7");
        free(big);
    }

    /* Forwarded (RFC 7239), read when there is no X-Forwarded-For. */
    CHECK_EQ_INT(who(&t, "127.0.0.1", NULL, "for=203.0.113.7;proto=https"), PROXY_HEADER);
    CHECK_STREQ(out, "203.0.113.7");
    who(&t, "127.0.0.1", NULL, "for=6.6.6.6, For=\"[2001:db8::7]:4711\";by=10.0.0.1");
    CHECK_STREQ(out, "2001:db8::7");
    who(&t, "127.0.0.1", NULL, "for=203.0.113.7, proto=https;for=10.0.0.3");
    CHECK_STREQ(out, "203.0.113.7");
    who(&t, "127.0.0.1", NULL, "for=unknown");
    CHECK_STREQ(out, "127.0.0.1");
    who(&t, "127.0.0.1", NULL, "for=_hidden, for=10.0.0.4");
    CHECK_STREQ(out, "10.0.0.4");
    who(&t, "127.0.0.1", NULL, "proto=https");
    CHECK_STREQ(out, "127.0.0.1");
    who(&t, "127.0.0.1", NULL, "for=\"6.6.6.6, 7.7.7.7\"");
    CHECK_STREQ(out, "127.0.0.1"); /* a quoted comma is not a separator, and not an address */
    /* X-Forwarded-For wins over Forwarded. */
    who(&t, "127.0.0.1", "203.0.113.7", "for=6.6.6.6");
    CHECK_STREQ(out, "203.0.113.7");
    /* Forwarded from an untrusted peer: ignored too. */
    CHECK_EQ_INT(who(&t, "198.51.100.9", NULL, "for=203.0.113.7"), PROXY_PEER);
    CHECK_STREQ(out, "198.51.100.9");

    proxy_trust_clear(&t);
    CHECK_EQ_INT(t.n, 0);
    return test_report("test_proxy");
}
