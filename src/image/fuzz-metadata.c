/* libFuzzer entry point for the metadata.yaml parser, which reads bytes from
 * untrusted image tarballs. Run by scripts/fuzz; by hand:
 *   build-fuzz/src/image/fuzz-image-metadata tests/fuzz/image-metadata */
#include "image/metadata.h"
#include "common/fuzz-glib.h"

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
