/* Rate limits: free failures, then a block that doubles per failure up to a cap, forgetting a
 * window after the last failure, reset, and the bounded key table. */
#include "auth/ratelimit.h"
#include "test.h"

int main(void)
{
    const int64_t S = 1000000, W = 600 * S;
    struct ratelimit_rules rules = {
        .free_failures = 2, .base_us = S, .max_us = 8 * S, .window_us = W};
    struct ratelimit *rl = ratelimit_create(&rules, 4);
    int64_t t = 1000;
    CHECK_EQ_INT(ratelimit_check(rl, "a", t), 0);
    ratelimit_fail(rl, "a", t);
    ratelimit_fail(rl, "a", t);
    CHECK_EQ_INT(ratelimit_check(rl, "a", t), 0); /* two free failures */
    CHECK_EQ_INT(ratelimit_failures(rl, "a", t), 2);
    ratelimit_fail(rl, "a", t);
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + 10), S - 10); /* the third blocks 1 s */
    CHECK_EQ_INT(ratelimit_check(rl, "b", t + 10), 0);      /* keys are independent */
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + S), 0);       /* the block ended */
    /* Backoff: each further failure doubles the block, up to max_us. */
    int64_t want[] = {2 * S, 4 * S, 8 * S, 8 * S};
    for (int i = 0; i < 4; i++) {
        t += 10 * S;
        ratelimit_fail(rl, "a", t);
        CHECK_EQ_INT(ratelimit_check(rl, "a", t), want[i]);
    }
    /* Forgotten a window after the last failure: free failures again. */
    t += 8 * S + W;
    CHECK_EQ_INT(ratelimit_failures(rl, "a", t), 0);
    ratelimit_fail(rl, "a", t);
    CHECK_EQ_INT(ratelimit_check(rl, "a", t), 0);
    CHECK_EQ_INT(ratelimit_failures(rl, "a", t), 1);
    ratelimit_fail(rl, "a", t);
    ratelimit_fail(rl, "a", t);
    CHECK(ratelimit_check(rl, "a", t + 1) > 0);
    ratelimit_reset(rl, "a");
    CHECK_EQ_INT(ratelimit_check(rl, "a", t + 1), 0);
    CHECK_EQ_INT(ratelimit_failures(rl, "a", t + 1), 0);

    /* Full table: the key forgotten soonest goes, blocked newer keys stay. */
    for (int i = 0; i < 3; i++)
        ratelimit_fail(rl, "old", t);
    const char *keys[] = {"k1", "k2", "k3"};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++)
            ratelimit_fail(rl, keys[k], t + 100);
    ratelimit_fail(rl, "k4", t + 200); /* table of 4: "old" is evicted */
    CHECK_EQ_INT(ratelimit_failures(rl, "old", t + 300), 0);
    CHECK(ratelimit_check(rl, "k1", t + 300) > 0);
    CHECK(ratelimit_check(rl, "k3", t + 300) > 0);
    ratelimit_destroy(&rl);
    CHECK(rl == NULL);
    return test_report("test_ratelimit");
}
