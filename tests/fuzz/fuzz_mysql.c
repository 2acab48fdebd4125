/* fuzz_mysql.c - libFuzzer harness for the mysql parser (analyze/protocols/mysql.c);
 * input format in proto_harness.h. */
#include "proto_harness.h"

extern const struct fr_proto fr_proto_mysql;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return run_proto(&fr_proto_mysql, data, size);
}
