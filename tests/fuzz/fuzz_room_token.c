/* libFuzzer target: join tokens (auth/room_token.c). The input is used twice: as a token as
 * a client would present it (never accepted: the signature cannot match by chance, and the
 * check must not crash on any text), and as a payload signed with the key, which reaches the
 * base64url decoder and the JSON checks behind the signature. A payload that is accepted must
 * give fields within their bounds that make a token accepted again with the same fields; the
 * display cleaner runs on the input too (at most 64 bytes, no control characters).
 * Seeds: tests/fuzz/corpus/fuzz_room_token/ (a user's and a guest's payload). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/room_token.c"

static const unsigned char fkey[ROOM_TOKEN_KEY_LEN] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";

static void check_fields(const struct room_token *t)
{
    if (strlen(t->room) > ROOM_TOKEN_NAME_MAX || strlen(t->user) > ROOM_TOKEN_NAME_MAX ||
        strlen(t->display) > ROOM_TOKEN_NAME_MAX || strlen(t->user_id) > 32 || !t->room[0] ||
        !t->user[0] != !t->user_id[0])
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > ROOM_TOKEN_MAX)
        return 0;
    char text[ROOM_TOKEN_MAX + 1];
    memcpy(text, data, size);
    text[size] = '\0';
    struct room_token t;
    if (room_token_verify(fkey, text, "lobby", 0, &t) == 0)
        __builtin_trap(); /* a forged token */

    /* the input as a signed payload */
    char tok[2 * ROOM_TOKEN_MAX];
    size_t n = b64_encode(data, size, tok);
    unsigned char sig[SIG_LEN];
    sign(fkey, tok, n, sig);
    tok[n++] = '.';
    b64_encode(sig, SIG_LEN, tok + n);
    int rc = room_token_verify(fkey, tok, "lobby", 0, &t);
    if ((rc == 0 || rc == -EKEYEXPIRED || rc == -EPERM) && t.expires_at != INT64_MIN) {
        check_fields(&t);
        char again[ROOM_TOKEN_MAX];
        struct room_token u;
        if (room_token_make(fkey, &t, again, sizeof(again)) < 0 ||
            room_token_verify(fkey, again, t.room, t.expires_at - 1, &u) != 0 ||
            memcmp(&t, &u, sizeof(t)) != 0)
            __builtin_trap();
    }

    char display[ROOM_TOKEN_NAME_MAX + 1];
    room_display_clean(text, display);
    if (strlen(display) > ROOM_TOKEN_NAME_MAX)
        __builtin_trap();
    for (const char *p = display; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            __builtin_trap();
    return 0;
}
