/* frs2records.c - writes each record of a segment as a seed for
 * tests/fuzz/fuzz_record.c (byte 0 the kind, then the encoded body).
 * usage: frs2records SEGMENT OUTDIR PREFIX
 * build: cc -o frs2records tests/tools/frs2records.c formats/segment_*.c formats/text.c -lzstd -lz */
#include "../../formats/segment.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	char err[256];
	struct fr_reader *r = fr_reader_open(argv[1], err, sizeof(err));
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	static uint8_t buf[FR_MAX_RECORD];
	struct fr_record rec;
	int i = 0;
	while (fr_reader_next(r, &rec) > 0) {
		long n = fr_record_encode(&rec, buf + 1, sizeof(buf) - 1);
		if (n < 0)
			continue;
		buf[0] = (uint8_t)rec.kind;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s-%03d", argv[2], argv[3], i++);
		FILE *f = fopen(path, "wb");
		if (!f)
			return 1;
		fwrite(buf, 1, (size_t)n + 1, f);
		fclose(f);
	}
	fr_reader_free(r);
	return 0;
}
