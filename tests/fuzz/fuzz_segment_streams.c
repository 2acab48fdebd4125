/* fuzz_segment_streams.c - libFuzzer harness for the inside of a block: the
 * input is what a block's zstd frame decompresses to, behind a small
 * prefix; the harness compresses it and writes a segment whose block
 * checksums hold, so the fuzzer's mutations reach the record framing and
 * the columnar decoder (fuzz_segment's mutations mostly stop at a crc).
 *
 * Input: u8 kind (even: plain "FRB1", odd: columnar "FRB2"), u16 le count,
 * u16 le slack, then the decompressed block.  raw_len is the block's length
 * plus slack for a plain block, and for a columnar one the length its
 * records need (the input's length + slack, so a few wrong ones too).
 * Every record that decodes must re-encode. */
#define _GNU_SOURCE
#include "../../formats/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fr-fuzz-segs-%d.frs", (int)getpid());
	if (size < 5 || size > (1u << 20))
		return 0;
	int col = data[0] & 1;
	uint32_t count = (uint32_t)data[1] | (uint32_t)data[2] << 8;
	uint32_t slack = (uint32_t)data[3] | (uint32_t)data[4] << 8;
	const uint8_t *blk = data + 5;
	size_t blen = size - 5;
	/* a header-only segment (no footer: the reader scans blocks) */
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "fuzz");
	unlink(path);
	char err[256];
	struct fr_writer *w = fr_writer_open(path, &h, NULL, err, sizeof(err));
	if (!w)
		return 0;
	fr_writer_abandon(w);
	size_t bound = ZSTD_compressBound(blen);
	uint8_t *b = malloc(40 + bound);
	size_t z = ZSTD_compress(b + 40, bound, blk, blen, 1);
	if (ZSTD_isError(z)) {
		free(b);
		return 0;
	}
	uint32_t raw_len = (uint32_t)blen + slack;
	memcpy(b, col ? "FRB2" : "FRB1", 4);
	put32(b + 4, (uint32_t)z);
	put32(b + 8, raw_len);
	put32(b + 12, count);
	put64(b + 16, 0);
	put64(b + 24, UINT64_MAX);
	put32(b + 32, (uint32_t)crc32(0, b + 40, (uInt)z));
	put32(b + 36, (uint32_t)crc32(0, b, 36));
	FILE *f = fopen(path, "ab");
	if (f) {
		fwrite(b, 1, 40 + z, f);
		fclose(f);
	}
	free(b);
	struct fr_reader *r = fr_reader_open(path, err, sizeof(err));
	if (r) {
		struct fr_record rec;
		static uint8_t buf[FR_MAX_RECORD];
		while (fr_reader_next(r, &rec) > 0) {
			long n = fr_record_encode(&rec, buf, sizeof(buf));
			if (n < 0 && rec.kind == FR_DATA)
				abort(); /* a decoded DATA record always re-encodes */
		}
		fr_reader_free(r);
	}
	unlink(path);
	return 0;
}
