/* fuzz_http1.c - libFuzzer harness for the http1 parser (analyze/protocols/http1.c);
 * input format in proto_harness.h. */
#include "proto_harness.h"

extern const struct fr_proto fr_proto_http1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return run_proto(&fr_proto_http1, data, size);
}
