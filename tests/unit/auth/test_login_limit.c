/* The login rules (issue 11 item 4): wrong passwords from many addresses never lock the right
 * password out of an address that has not failed; one (user, address) backs off; one address
 * spraying usernames is limited; IPv6 counts by /64. */
#include "auth/login_limit.h"
#include "test.h"

#define S 1000000LL

static void test_no_lockout_from_many_addresses(void)
{
    struct login_limit *l = login_limit_create();
    int64_t t = 5 * S;
    char addr[32];
    /* 100 wrong passwords for alice, one from each of 100 addresses: the old rule (10 per
     * username) locked her out for 10 minutes. */
    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof(addr), "198.51.100.%d", i + 1);
        CHECK_EQ_INT(login_limit_check(l, "alice", addr, t), 0); /* a fresh address may try */
        login_limit_fail(l, "alice", addr, t);
    }
    /* Her own address has not failed: never refused, however many others guessed wrong. */
    CHECK_EQ_INT(login_limit_check(l, "alice", "203.0.113.7", t), 0);
    CHECK_EQ_INT(login_limit_check(l, "alice", "2001:db8:1::5", t), 0);
    /* The global cap: alice is under attack, so an address that guessed gets no second try
     * (even after its own backoff would have let it), for 10 minutes. */
    snprintf(addr, sizeof(addr), "198.51.100.%d", 1);
    CHECK(login_limit_check(l, "alice", addr, t + 60 * S) > 0);
    CHECK_EQ_INT(login_limit_check(l, "alice", addr, t + LOGIN_LIMIT_WINDOW_US + 1), 0);
    /* Another user is not under attack: a guessing address may still try bob (its own few
     * failures are under the per-address limit). */
    CHECK_EQ_INT(login_limit_check(l, "bob", addr, t), 0);
    /* Below the cap a mistyping address is not refused. */
    login_limit_fail(l, "carol", "192.0.2.1", t);
    CHECK_EQ_INT(login_limit_check(l, "carol", "192.0.2.1", t), 0);
    login_limit_destroy(&l);
    CHECK(l == NULL);
}

static void test_pair_backs_off(void)
{
    struct login_limit *l = login_limit_create();
    int64_t t = 5 * S;
    for (int i = 0; i < LOGIN_LIMIT_PAIR_FREE; i++) {
        CHECK_EQ_INT(login_limit_check(l, "dave", "192.0.2.9", t), 0);
        login_limit_fail(l, "dave", "192.0.2.9", t);
    }
    CHECK_EQ_INT(login_limit_check(l, "dave", "192.0.2.9", t), 0);
    login_limit_fail(l, "dave", "192.0.2.9", t);
    CHECK_EQ_INT(login_limit_check(l, "dave", "192.0.2.9", t), LOGIN_LIMIT_BASE_US);
    t += LOGIN_LIMIT_BASE_US;
    CHECK_EQ_INT(login_limit_check(l, "dave", "192.0.2.9", t), 0);
    login_limit_fail(l, "dave", "192.0.2.9", t);
    CHECK_EQ_INT(login_limit_check(l, "dave", "192.0.2.9", t), 2 * LOGIN_LIMIT_BASE_US);
    /* Only that address: dave from elsewhere is not refused... */
    CHECK_EQ_INT(login_limit_check(l, "dave", "192.0.2.10", t), 0);
    /* ...and the right password from it clears the pair. */
    login_limit_success(l, "dave", "192.0.2.9");
    CHECK_EQ_INT(login_limit_check(l, "dave", "192.0.2.9", t), 0);
    login_limit_destroy(&l);
}

static void test_address_spraying_users(void)
{
    struct login_limit *l = login_limit_create();
    int64_t t = 5 * S;
    char user[32];
    for (int i = 0; i < LOGIN_LIMIT_ADDR_FREE + 1; i++) {
        snprintf(user, sizeof(user), "user%d", i);
        login_limit_fail(l, user, "192.0.2.50", t);
    }
    CHECK(login_limit_check(l, "someone-new", "192.0.2.50", t) > 0);
    CHECK_EQ_INT(login_limit_check(l, "someone-new", "192.0.2.51", t), 0);
    /* One IPv6 host holds a /64: its addresses count together, another /64 does not. */
    for (int i = 0; i < LOGIN_LIMIT_PAIR_FREE + 1; i++) {
        snprintf(user, sizeof(user), "2001:db8:0:1::%x", i + 1);
        login_limit_fail(l, "erin", user, t);
    }
    CHECK(login_limit_check(l, "erin", "2001:db8:0:1::ffff", t) > 0);
    CHECK_EQ_INT(login_limit_check(l, "erin", "2001:db8:0:2::1", t), 0);
    login_limit_destroy(&l);
}

int main(void)
{
    test_no_lockout_from_many_addresses();
    test_pair_backs_off();
    test_address_spraying_users();
    return test_report("test_login_limit");
}
