/* libFuzzer target: reading S3's XML answers (error bodies, CreateMultipartUpload's UploadId,
 * CompleteMultipartUpload's ETag), which come from the network. Every tag storage/s3*.c looks
 * for, into buffers of the sizes it uses; a hit must be NUL-terminated within the buffer and
 * be found between the tags in the input.
 * Seeds: tests/fuzz/corpus/fuzz_s3_xml/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/s3_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = malloc(size + 1);
    if (!xml)
        return 0;
    memcpy(xml, data, size);
    xml[size] = '\0';
    static const char *const tags[] = {"Code", "Message", "UploadId", "ETag", "Key", "Bucket"};
    static const size_t sizes[] = {1, 8, 64, 160, 1024};
    for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            char *out = malloc(sizes[k]);
            if (out && s3_xml_tag(xml, tags[t], out, sizes[k]) == 0) {
                size_t n = strnlen(out, sizes[k]);
                if (n == sizes[k] || !strstr(xml, out))
                    __builtin_trap();
            }
            free(out);
        }
    free(xml);
    return 0;
}
