/* The signaling messages (sfu/signal_msg.c): what each type accepts and refuses, the sdpfrag made
 * from a browser's RTCIceCandidate, and error messages that stay valid JSON whatever the reason
 * holds. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "sfu/signal_msg.h"
#include "test.h"

static int parse(const char *text, struct signal_msg *m, const char **code)
{
    char why[256];
    return signal_msg_parse(text, strlen(text), m, code, why, sizeof(why));
}

static void test_join(void)
{
    struct signal_msg m;
    const char *code;
    CHECK_EQ_INT(parse("{\"type\":\"join\",\"room\":\"lobby\",\"token\":\"t\",\"display\":\"Ann "
                       "\\u00e9\",\"resume\":\"abc\"}",
                       &m, &code),
                 0);
    CHECK_EQ_INT(m.type, SIGNAL_JOIN);
    CHECK_STREQ(m.room, "lobby");
    CHECK_STREQ(m.token, "t");
    CHECK_STREQ(m.display, "Ann \xc3\xa9");
    CHECK(m.has_resume);
    CHECK_STREQ(m.resume, "abc");
    signal_msg_clear(&m);
    CHECK_STREQ(m.token, ""); /* the secret is wiped */
    CHECK_EQ_INT(parse("{\"type\":\"join\",\"room\":\"\",\"token\":\"t\"}", &m, &code), -EINVAL);
    CHECK_STREQ(code, "bad_message");
    char resume[200];
    snprintf(resume, sizeof(resume),
             "{\"type\":\"join\",\"room\":\"r\",\"token\":\"t\",\"resume\":\"%0*d\"}",
             SFU_RESUME_MAX, 0); /* one byte too long */
    CHECK_EQ_INT(parse(resume, &m, &code), -EINVAL);
}

static void test_trickle(void)
{
    struct signal_msg m;
    const char *code;
    CHECK_EQ_INT(parse("{\"type\":\"trickle\",\"candidate\":\"candidate:1 1 udp 1 1.2.3.4 5 typ "
                       "host\",\"sdpMLineIndex\":2,\"usernameFragment\":\"uf\"}",
                       &m, &code),
                 0);
    CHECK_STREQ(m.frag,
                "a=ice-ufrag:uf\r\na=mid:2\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n");
    CHECK_EQ_INT(m.frag_len, strlen(m.frag));
    signal_msg_clear(&m);
    CHECK_EQ_INT(parse("{\"type\":\"trickle\",\"candidate\":\"\",\"sdpMid\":\"a\"}", &m, &code), 0);
    CHECK_STREQ(m.frag, "a=mid:a\r\na=end-of-candidates\r\n");
    signal_msg_clear(&m);
    CHECK_EQ_INT(parse("{\"type\":\"trickle\",\"frag\":\"a=mid:0\\r\\n\"}", &m, &code), 0);
    CHECK_STREQ(m.frag, "a=mid:0\r\n");
    signal_msg_clear(&m);
    /* Line breaks cannot smuggle lines into the fragment; both forms at once are refused. */
    CHECK_EQ_INT(
        parse("{\"type\":\"trickle\",\"candidate\":\"candidate:1\\r\\na=ice-pwd:x\"}", &m, &code),
        -EINVAL);
    CHECK_EQ_INT(parse("{\"type\":\"trickle\",\"candidate\":\"x\"}", &m, &code), -EINVAL);
    CHECK_EQ_INT(parse("{\"type\":\"trickle\",\"frag\":\"\",\"candidate\":\"\"}", &m, &code),
                 -EINVAL);
    CHECK_EQ_INT(parse("{\"type\":\"trickle\",\"candidate\":\"\",\"sdpMLineIndex\":-1}", &m, &code),
                 -EINVAL);
}

static void test_others(void)
{
    struct signal_msg m;
    const char *code;
    CHECK_EQ_INT(parse("{\"type\":\"mute\",\"muted\":false}", &m, &code), 0);
    CHECK(!m.muted);
    CHECK_EQ_INT(parse("{\"type\":\"mute\",\"muted\":true}", &m, &code), 0);
    CHECK(m.muted);
    CHECK_EQ_INT(parse("{\"type\":\"leave\"}", &m, &code), 0);
    CHECK_EQ_INT(m.type, SIGNAL_LEAVE);
    CHECK_EQ_INT(parse("{\"type\":\"leave\",\"now\":true}", &m, &code), -EINVAL);
    CHECK_EQ_INT(parse("{\"type\":\"offer\",\"sdp\":\"v=0\"}", &m, &code), 0);
    CHECK_STREQ(m.sdp, "v=0");
    signal_msg_clear(&m);
    CHECK_EQ_INT(parse("\"join\"", &m, &code), -EINVAL);
    CHECK_EQ_INT(parse("{\"type\":\"PING\"}", &m, &code), -EINVAL);
    CHECK_STREQ(code, "unknown_type");
    /* Nested 100,000 deep: refused by the parser, not a stack overflow. */
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    CHECK_EQ_INT(parse(deep, &m, &code), -EINVAL);
    CHECK_STREQ(code, "bad_json");
    free(deep);
}

static void test_error_text(void)
{
    struct buf b;
    buf_init(&b);
    signal_msg_error(&b, "x", "cut inside a character: \xc3");
    json_t *o = json_loadb((const char *)buf_head(&b), buf_size(&b), 0, NULL);
    CHECK(o != NULL);
    CHECK_STREQ(json_string_value(json_object_get(o, "message")), "cut inside a character: ?");
    json_decref(o);
    buf_free(&b);
}

int main(void)
{
    test_join();
    test_trickle();
    test_others();
    test_error_text();
    return test_report("test_signal_msg");
}
