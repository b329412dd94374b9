#include "auth/secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define SECRET_BYTES 32

int secret_new(const char *prefix, char text[SECRET_TEXT_MAX], char hash[SECRET_HASH_LEN + 1])
{
    unsigned char raw[SECRET_BYTES];
    if (strlen(prefix) > 8 || RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    unsigned char b64[48];
    int n = EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 44 characters, one '=' of padding */
    /* base64 to base64url without padding, so the secret is safe in URLs and RTMP keys */
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    while (n > 0 && b64[n - 1] == '=')
        n--;
    snprintf(text, SECRET_TEXT_MAX, "%s%.*s", prefix, n, (const char *)b64);
    secret_hash(text, hash);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

void secret_hash(const char *text, char hash[SECRET_HASH_LEN + 1])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hash + 2 * i, 3, "%02x", md[i]);
}

bool secret_matches(const char *text, const char *hash)
{
    char h[SECRET_HASH_LEN + 1];
    secret_hash(text, h);
    return strlen(hash) == SECRET_HASH_LEN && CRYPTO_memcmp(h, hash, SECRET_HASH_LEN) == 0;
}
