/* fuzz_record.c - libFuzzer harness for record bodies: byte 0 is the kind,
 * the rest the body.  A body that decodes must re-encode to a body that
 * decodes to the same record. */
#include "../../formats/segment.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[FR_MAX_RECORD];
	if (size < 1)
		return 0;
	struct fr_record a, b;
	memset(&a, 0, sizeof(a));
	if (fr_record_decode(data[0], data + 1, size - 1, &a) < 0)
		return 0;
	long n = fr_record_encode(&a, buf, sizeof(buf));
	if (n < 0)
		return 0; /* e.g. a pair whose key is too long to encode */
	memset(&b, 0, sizeof(b));
	if (fr_record_decode(data[0], buf, (size_t)n, &b) < 0)
		abort();
	static uint8_t buf2[FR_MAX_RECORD];
	long m = fr_record_encode(&b, buf2, sizeof(buf2));
	if (m != n || memcmp(buf, buf2, (size_t)n) != 0)
		abort();
	return 0;
}
