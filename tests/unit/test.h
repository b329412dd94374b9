/* A minimal unit-test harness: CHECK records a failure and goes on, so one run reports every
 * broken expectation; main returns test_report(). Built with ASan+UBSan in the test build. */
#ifndef KIBITKA_TEST_H
#define KIBITKA_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        test_checks++;                                                                 \
        if (!(cond)) {                                                                 \
            test_failures++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
    do {                                                                                      \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                 \
        test_checks++;                                                                        \
        if (va_ != vb_) {                                                                     \
            test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__,       \
                    __LINE__, #a, #b, va_, vb_);                                              \
        }                                                                                     \
    } while (0)

#define CHECK_STREQ(a, b)                                                                     \
    do {                                                                                      \
        const char *sa_ = (a), *sb_ = (b);                                                    \
        test_checks++;                                                                        \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                          \
            test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,   \
                    __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");            \
        }                                                                                     \
    } while (0)

/* What a test returns when its environment is missing (a server to talk to, say): CMakeLists.txt
 * sets it as every test's SKIP_RETURN_CODE, so ctest reports the test skipped, not passed, and
 * scripts/test, which provides the environment, fails if it still skips there. */
#define TEST_SKIPPED 77

static inline int test_skip(const char *name, const char *why)
{
    fprintf(stderr, "%s: skipped: %s\n", name, why);
    return TEST_SKIPPED;
}

static inline int test_report(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif
