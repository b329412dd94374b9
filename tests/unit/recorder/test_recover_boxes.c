/* The spool chunk box walk (recorder_fmp4_complete) on inputs the fuzzer found or that a crash
 * leaves: a 64-bit largesize that overflowed off + size (UBSan: signed overflow), a box running
 * past the end, media before the init section, and a cut in the middle of a fragment. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "recorder/recorder.h"
#include "test.h"

static int64_t walk(const void *p, size_t n, int *frags)
{
    int fd = memfd_create("t", 0);
    CHECK(fd >= 0);
    CHECK_EQ_INT(write(fd, p, n), (ssize_t)n);
    int64_t end = recorder_fmp4_complete(fd, (int64_t)n, frags);
    close(fd);
    return end;
}

/* Appends a box of type with payload_len zero bytes. */
static size_t box(uint8_t *out, const char *type, uint32_t payload_len)
{
    uint32_t len = 8 + payload_len;
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    memcpy(out + 4, type, 4);
    memset(out + 8, 0, payload_len);
    return len;
}

int main(void)
{
    int frags = -1;
    static const uint8_t largesize[] = {0,    0,    0,    8,    'f',  't',  'y',  'p',
                                        0,    0,    0,    1,    'm',  'o',  'o',  'v',
                                        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(walk(largesize, sizeof(largesize), &frags), 0);
    CHECK_EQ_INT(frags, 0);
    /* a largesize (13) shorter than its own 16-byte header: malformed, not a complete moov
     * (the fuzzer's second find: accepting it made recovery cut the file to 21 bytes, and a
     * second walk of those 21 bytes disagreed) */
    static const uint8_t short_large[] = {0,   0,   0,   8,   'f', 't', 'y', 'p', 0, 0, 0, 1,
                                          'm', 'o', 'o', 'v', 0,   0,   0,   0,   0, 0, 0, 13};
    CHECK_EQ_INT(walk(short_large, sizeof(short_large), &frags), 0);

    uint8_t f[512];
    size_t n = 0;
    n += box(f + n, "ftyp", 8);
    n += box(f + n, "moov", 20);
    size_t init = n;
    n += box(f + n, "moof", 16);
    n += box(f + n, "mdat", 40);
    size_t one = n;
    n += box(f + n, "moof", 16);
    n += box(f + n, "mdat", 40);
    CHECK_EQ_INT(walk(f, n, &frags), (int64_t)n);
    CHECK_EQ_INT(frags, 2);
    CHECK_EQ_INT(walk(f, n - 1, &frags), (int64_t)one); /* the last mdat cut short */
    CHECK_EQ_INT(frags, 1);
    CHECK_EQ_INT(walk(f, one + 20, &frags), (int64_t)one); /* a moof without its mdat */
    CHECK_EQ_INT(walk(f, init + 3, &frags), (int64_t)init);
    CHECK_EQ_INT(frags, 0);
    CHECK_EQ_INT(walk(f + init, n - init, &frags), 0); /* fragments without an init section */
    return test_report("test_recover_boxes");
}
