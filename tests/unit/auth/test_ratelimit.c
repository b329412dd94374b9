/* Rate limits: blocking after max failures, window expiry, reset, bounded key table. */
#include "auth/ratelimit.h"
#include "test.h"

int main(void)
{
    const int64_t W = 600 * 1000000LL;
    struct ratelimit *rl = ratelimit_create(3, W, 4);
    int64_t t = 1000;
    CHECK_EQ_INT(ratelimit_check(rl, "a", t), 0);
    ratelimit_fail(rl, "a", t);
    ratelimit_fail(rl, "a", t + 1);
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + 2), 0);
    ratelimit_fail(rl, "a", t + 2);
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + 10), W - 10);
    CHECK_EQ_INT(ratelimit_check(rl, "b", t + 10), 0); /* keys are independent */
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + W), 0);  /* the window ended */
    ratelimit_fail(rl, "a", t + W);                    /* a new window, one failure */
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + W + 1), 0);
    ratelimit_fail(rl, "a", t + W);
    ratelimit_fail(rl, "a", t + W);
    CHECK(ratelimit_check(rl, "a", t + W + 1) > 0);
    ratelimit_reset(rl, "a");
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + W + 1), 0);

    /* Full table: the window ending soonest goes, blocked newer keys stay. */
    for (int i = 0; i < 3; i++)
        ratelimit_fail(rl, "old", t);
    const char *keys[] = {"k1", "k2", "k3"};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++)
            ratelimit_fail(rl, keys[k], t + 100);
    ratelimit_fail(rl, "k4", t + 200); /* table of 4: "old" is evicted */
    CHECK_EQ_INT(ratelimit_check(rl, "old", t + 300), 0);
    CHECK(ratelimit_check(rl, "k1", t + 300) > 0);
    CHECK(ratelimit_check(rl, "k3", t + 300) > 0);
    ratelimit_destroy(&rl);
    CHECK(rl == NULL);
    return test_report("test_ratelimit");
}
