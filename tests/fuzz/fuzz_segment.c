/* fuzz_segment.c - libFuzzer harness for the segment reader: the input is a
 * whole segment file; every record that decodes must re-encode. */
#define _GNU_SOURCE
#include "../../formats/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fr-fuzz-seg-%d.frs", (int)getpid());
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	char err[256];
	struct fr_reader *r = fr_reader_open(path, err, sizeof(err));
	if (r) {
		struct fr_record rec;
		static uint8_t buf[FR_MAX_RECORD];
		fr_reader_set_range(r, 0, UINT64_MAX);
		while (fr_reader_next(r, &rec) > 0) {
			long n = fr_record_encode(&rec, buf, sizeof(buf));
			if (n < 0 && rec.kind == FR_DATA)
				abort(); /* a decoded DATA record always re-encodes */
		}
		size_t nd;
		fr_reader_damage(r, &nd);
		fr_reader_free(r);
	}
	unlink(path);
	return 0;
}
