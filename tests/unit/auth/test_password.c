/* Passwords: argon2id round trip, wrong password, malformed stored hash. */
#include <errno.h>
#include <string.h>

#include "auth/password.h"
#include "test.h"

int main(void)
{
    CHECK_EQ_INT(password_init(), 0);
    CHECK_EQ_INT(password_init(), 0); /* idempotent */
    char h[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
    CHECK_EQ_INT(password_hash("correct horse", h), 0);
    CHECK(strncmp(h, "$argon2id$", 10) == 0);
    CHECK(password_verify(h, "correct horse"));
    CHECK(!password_verify(h, "correct horsE"));
    CHECK(!password_verify(h, ""));
    CHECK_EQ_INT(password_hash("correct horse", h2), 0);
    CHECK(strcmp(h, h2) != 0); /* salted */
    CHECK(!password_verify("", "x"));
    CHECK(!password_verify("$argon2id$garbage", "x"));
    CHECK(!password_verify(NULL, "x"));
    CHECK_EQ_INT(password_hash(NULL, h), -EINVAL);
    return test_report("test_password");
}
