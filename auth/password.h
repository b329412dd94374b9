/* Passwords: argon2id (libsodium crypto_pwhash_str, INTERACTIVE limits: about 64 MiB and a
 * fraction of a second per hash, so a hash or a verify is only ever done off the network thread).
 * The stored form is libsodium's self-describing "$argon2id$v=19$m=...,t=...,p=...$salt$hash"
 * string, so the limits can be raised later without breaking stored hashes. */
#ifndef KIBITKA_AUTH_PASSWORD_H
#define KIBITKA_AUTH_PASSWORD_H

#include <stdbool.h>

#include <sodium.h>

#define PASSWORD_HASH_MAX crypto_pwhash_STRBYTES /* including the NUL */

/* Calls sodium_init; once per process, before any other call here (safe to call again).
 * 0 or -EIO. */
int password_init(void);
/* Hashes password into out (NUL-terminated). 0, -ENOMEM (the memory limit could not be
 * allocated) or -EINVAL (NULL or a password longer than libsodium accepts). */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX]);
/* Whether password matches hash; false for a malformed hash or NULL. Takes as long as a hash. */
bool password_verify(const char *hash, const char *password);

#endif
