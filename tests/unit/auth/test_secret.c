/* Secrets: format, uniqueness, hashing against a known SHA-256, constant-time match. */
#include <errno.h>
#include <string.h>

#include "auth/secret.h"
#include "test.h"

int main(void)
{
    char a[SECRET_TEXT_MAX], b[SECRET_TEXT_MAX], ha[SECRET_HASH_LEN + 1], hb[SECRET_HASH_LEN + 1];
    CHECK_EQ_INT(secret_new("sk_", a, ha), 0);
    CHECK_EQ_INT(secret_new("sk_", b, hb), 0);
    CHECK_EQ_INT(strlen(a), 3 + 43);
    CHECK(strncmp(a, "sk_", 3) == 0);
    CHECK(strcmp(a, b) != 0 && strcmp(ha, hb) != 0);
    CHECK_EQ_INT(strspn(a + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43);
    CHECK_EQ_INT(strlen(ha), SECRET_HASH_LEN);
    CHECK(secret_matches(a, ha));
    CHECK(!secret_matches(b, ha));
    CHECK(!secret_matches(a, "short"));
    char h[SECRET_HASH_LEN + 1];
    secret_hash("abc", h); /* FIPS 180-2 example */
    CHECK_STREQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ_INT(secret_new("toolongprefix_", a, ha), -EIO);
    return test_report("test_secret");
}
