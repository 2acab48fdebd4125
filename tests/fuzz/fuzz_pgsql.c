/* fuzz_pgsql.c - libFuzzer harness for the pgsql parser (analyze/protocols/pgsql.c);
 * input format in proto_harness.h. */
#include "proto_harness.h"

extern const struct fr_proto fr_proto_pgsql;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return run_proto(&fr_proto_pgsql, data, size);
}
