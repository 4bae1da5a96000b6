/* libFuzzer entry point for trust tokens: POST /1.0/certificates hands an
 * untrusted client's "password" to ferry_trust_token_decode. The first
 * byte chooses what the rest is: the text itself (the base64 alphabet
 * check), or JSON that is base64-encoded here first, so that mutations
 * reach the decoder's JSON handling instead of dying in base64. Run by
 * scripts/fuzz. */
#include "common/cert.h"
#include "common/fuzz-glib.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = NULL;
  g_autoptr (FerryTrustToken) token = NULL;

  if (size == 0)
    return 0;
  if (data[0] & 1)
    text = g_base64_encode (data + 1, size - 1);
  else
    text = g_strndup ((const char *) data + 1, size - 1);
  token = ferry_trust_token_decode (text, NULL);
  return 0;
}
