/* fuzz_redis.c - libFuzzer harness for the redis parser (analyze/protocols/redis.c);
 * input format in proto_harness.h. */
#include "proto_harness.h"

extern const struct fr_proto fr_proto_redis;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return run_proto(&fr_proto_redis, data, size);
}
