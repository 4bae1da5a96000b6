/* libFuzzer entry point for the metadata.yaml parser, which reads bytes from
 * untrusted image tarballs. Build with clang; run:
 *   build/src/image/fuzz-image-metadata -max_len=4096 */
#include "image/metadata.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FerryImageMetadata *md = ferry_image_metadata_parse ((const char *) data, size, NULL);
  ferry_image_metadata_free (md);
  return 0;
}
