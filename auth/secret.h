/* Bearer secrets: API session tokens and RTMP/WHIP stream keys.
 *
 * A secret is 32 random bytes (OpenSSL RAND_bytes) written as a prefix plus 43 base64url
 * characters ("sk_..." for stream keys, "tk_..." for tokens). Only its hash is stored: SHA-256 of
 * the whole text, as 64 lowercase hex characters. Secrets have 256 bits of entropy, so a fast
 * hash is right here (argon2id is for passwords, which people choose). Lookups go by hash; a
 * caller that compares a presented secret with a stored hash uses secret_matches, which compares
 * in constant time. */
#ifndef KIBITKA_AUTH_SECRET_H
#define KIBITKA_AUTH_SECRET_H

#include <stdbool.h>

#define SECRET_TEXT_MAX 64 /* prefix (at most 8) + 43 + NUL, rounded up */
#define SECRET_HASH_LEN 64 /* hex characters, without the NUL */

/* Makes a new secret with prefix (e.g. "sk_") into text and its hash into hash. 0 or -EIO when
 * the random generator fails. */
int secret_new(const char *prefix, char text[SECRET_TEXT_MAX], char hash[SECRET_HASH_LEN + 1]);
/* The stored form of a presented secret. Any string is accepted (a wrong one simply matches
 * nothing). */
void secret_hash(const char *text, char hash[SECRET_HASH_LEN + 1]);
/* Whether text hashes to hash, compared in constant time. */
bool secret_matches(const char *text, const char *hash);

#endif
