/* core/alloc.h's heap_in_use and heap_trim: the live bytes follow allocations, and freed memory
 * leaves the process' RSS after a trim. In this ASan build a freed block waits in the
 * sanitizer's quarantine (up to 256 MiB) until heap_trim drains it; glibc's malloc_trim alone
 * would leave it there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "test.h"

static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = 0;
    if (!f || fscanf(f, "%lld %lld", &size, &resident) != 2)
        resident = -1;
    if (f)
        fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

enum { BLOCKS = 64 * 1024, BLOCK = 1024 }; /* 64 MiB in small blocks, the heap's common case */

int main(void)
{
    static char *blocks[BLOCKS];
    heap_trim();
    long long live0 = heap_in_use(), rss0 = rss_bytes();
    CHECK(live0 >= 0);
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = xmalloc(BLOCK);
        memset(blocks[i], i & 0xff, BLOCK);
    }
    long long live1 = heap_in_use(), rss1 = rss_bytes();
    CHECK(live1 - live0 >= (long long)BLOCKS * BLOCK);
    CHECK(rss1 - rss0 >= (long long)BLOCKS * BLOCK / 2);
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    long long live2 = heap_in_use();
    CHECK(live2 - live0 < (long long)BLOCKS * BLOCK / 16);
    heap_trim();
    long long rss2 = rss_bytes();
    /* At least half of what the blocks added is given back. */
    CHECK(rss2 < rss1 - (rss1 - rss0) / 2);
    printf("heap in use %lld -> %lld -> %lld KiB; RSS %lld -> %lld -> %lld KiB (after trim)\n",
           live0 / 1024, live1 / 1024, live2 / 1024, rss0 / 1024, rss1 / 1024, rss2 / 1024);
    return test_report("test_alloc");
}
