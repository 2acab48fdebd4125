/* fuzz_dns.c - libFuzzer harness for the dns parser (analyze/protocols/dns.c);
 * input format in proto_harness.h. */
#include "proto_harness.h"

extern const struct fr_proto fr_proto_dns;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return run_proto(&fr_proto_dns, data, size);
}
