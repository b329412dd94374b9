/* libFuzzer target: crash recovery's walk over a spooled chunk's boxes (recorder/recover.c),
 * which reads whatever a killed process, a full disk or a bad sector left behind. The answer
 * must be a prefix of the file that ends on a box boundary, and cutting the file there and
 * walking again must give the same answer (recovery is idempotent).
 * Seeds: tests/fuzz/corpus/fuzz_fmp4_recover/ (a real chunk, cut at several places). */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "recorder/recorder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("chunk", 0);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    int frags = 0, again_frags = 0;
    int64_t end = recorder_fmp4_complete(fd, (int64_t)size, &frags);
    if (end < 0 || end > (int64_t)size || frags < 0)
        __builtin_trap();
    if (end > 0) {
        if (ftruncate(fd, end) != 0) {
            close(fd);
            return 0;
        }
        if (recorder_fmp4_complete(fd, end, &again_frags) != end || again_frags != frags)
            __builtin_trap();
    }
    close(fd);
    return 0;
}
