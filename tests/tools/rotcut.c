/* rotcut.c - cuts a segment at time CUT as the recorder's rotation does:
 * the metadata, the state of the connections open at CUT and their heads
 * (the first HEAD bytes of each direction, as --head-size HEAD), then the
 * records from CUT on.  Makes corpus cases of a window that starts inside
 * a connection (tests/corpus/redis/window-after-command).
 * usage: rotcut IN.frs CUT_NS OUT.frs HEAD
 * build: cc -I. -o rotcut tests/tools/rotcut.c formats/segment_*.c formats/conntab.c formats/text.c -lzstd -lz */
#include "formats/conntab.h"
#include "formats/segment.h"

#include <stdio.h>
#include <stdlib.h>

static int add_rec(void *arg, struct fr_record *rec)
{
	return fr_writer_add(arg, rec);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: rotcut IN.frs CUT_NS OUT.frs HEAD\n");
		return 2;
	}
	uint64_t cut = strtoull(argv[2], NULL, 10);
	char err[256];
	struct fr_reader *r = fr_reader_open(argv[1], err, sizeof(err));
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct fr_writer *w = fr_writer_open(argv[3], fr_reader_header(r), NULL, err, sizeof(err));
	struct fr_conntab_opts o;
	fr_conntab_opts_default(&o);
	o.head_max = (uint32_t)strtoul(argv[4], NULL, 10);
	struct fr_conntab *t = fr_conntab_new(&o);
	if (!w || !t) {
		fprintf(stderr, "%s\n", w ? "out of memory" : err);
		return 1;
	}
	struct fr_record rec;
	int started = 0;
	while (fr_reader_next(r, &rec) > 0) {
		if (rec.kind == FR_PROCESS || rec.kind == FR_POD) {
			fr_writer_add(w, &rec);
			continue;
		}
		if (rec.ts < cut && !started) {
			fr_conntab_add(t, &rec);
			continue;
		}
		if (!started) {
			started = 1;
			fr_conntab_emit(t, cut, FR_EMIT_STATES | FR_EMIT_HEADS, add_rec, w);
		}
		fr_writer_add(w, &rec);
	}
	fr_conntab_free(t);
	fr_reader_free(r);
	return fr_writer_close(w) ? 1 : 0;
}
