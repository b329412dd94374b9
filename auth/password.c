#include "auth/password.h"

#include <errno.h>
#include <string.h>

int password_init(void)
{
    /* 0 on first success, 1 when already initialised, -1 on failure. */
    return sodium_init() < 0 ? -EIO : 0;
}

int password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
    if (!password || !out)
        return -EINVAL;
    size_t len = strlen(password);
    if (len > crypto_pwhash_PASSWD_MAX)
        return -EINVAL;
    if (crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -ENOMEM; /* libsodium's only failure here is the memory limit */
    return 0;
}

bool password_verify(const char *hash, const char *password)
{
    if (!hash || !password)
        return false;
    /* crypto_pwhash_str_verify reads up to crypto_pwhash_STRBYTES of hash: give it a NUL-padded
     * copy so a short stored string is never over-read. */
    char buf[PASSWORD_HASH_MAX];
    size_t n = strnlen(hash, sizeof(buf));
    if (n >= sizeof(buf))
        return false;
    memset(buf, 0, sizeof(buf));
    memcpy(buf, hash, n);
    return crypto_pwhash_str_verify(buf, password, strlen(password)) == 0;
}
