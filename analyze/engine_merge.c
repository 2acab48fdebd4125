/* engine_merge.c - the replay engine's inputs: segment files found under
 * the paths, each segment once (a hard link or copy given too is read
 * once), sorted (node, segment index, name), and
 * merged record by record into the canonical order (timestamp, node,
 * sequence, input order) by a k-way heap; their checksums and the
 * progress bar. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "engine_internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int cmp_input(const void *a, const void *b)
{
	const struct input *x = a, *y = b;
	int c = strcmp(x->h->node, y->h->node);
	if (c)
		return c;
	if (x->h->segment_index != y->h->segment_index)
		return x->h->segment_index < y->h->segment_index ? -1 : 1;
	c = strcmp(x->base, y->base);
	return c ? c : strcmp(x->path, y->path);
}

/* 1 when the first min(size) bytes of files a and b, up to 1 MiB, are
 * equal: a copy (taken while the segment was written, perhaps) and not a
 * different file with the same header (`corpus add` cuts of one segment
 * keep its identity). */
static int same_start(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	int same = fa && fb;
	static __thread unsigned char x[65536], y[65536];
	for (int i = 0; same && i < 16; i++) {
		size_t na = fread(x, 1, sizeof(x), fa), nb = fread(y, 1, sizeof(y), fb);
		size_t m = na < nb ? na : nb;
		same = !memcmp(x, y, m);
		if (m < sizeof(x))
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

/* The input that holds the same segment as the file path (stat st, header
 * h): the same file, or a copy of a recorder's segment (the same node,
 * boot id, index and creation time, and the same bytes); or -1. */
static int same_segment(const struct input *in, int n, const char *path, const struct stat *st,
			const struct fr_header *h)
{
	for (int k = 0; k < n; k++) {
		const struct fr_header *g = in[k].h;
		if (in[k].dev == (uint64_t)st->st_dev && in[k].ino == (uint64_t)st->st_ino)
			return k;
		if (h->boot_id[0] && h->created_ns && !strcmp(h->boot_id, g->boot_id) &&
		    !strcmp(h->node, g->node) && h->segment_index == g->segment_index &&
		    h->created_ns == g->created_ns && same_start(path, in[k].path))
			return k;
	}
	return -1;
}

/* What inputs_open found twice, for its one line on stderr. */
struct dups {
	int n;
	char a[512], b[512]; /* the first pair */
};

/* Adds the segment file path to in (n inputs), or, when an input holds the
 * same segment already, keeps the larger of the two.  0, or -1 when the
 * file is not a readable segment (message printed). */
static int add_input(struct input **inp, int *n, const char *path, struct dups *d)
{
	char err[512];
	struct stat st;
	struct fr_reader *r = fr_reader_open(path, err, sizeof(err));
	if (!r || stat(path, &st) < 0) {
		fprintf(stderr, "flightrec analyze: %s: %s\n", path, r ? strerror(errno) : err);
		fr_reader_free(r);
		return -1;
	}
	struct input *in = *inp;
	int k = same_segment(in, *n, path, &st, fr_reader_header(r));
	if (k >= 0) {
		if (!d->n++) {
			snprintf(d->a, sizeof(d->a), "%s", path);
			snprintf(d->b, sizeof(d->b), "%s", in[k].path);
		}
		if ((uint64_t)st.st_size <= in[k].file_bytes) {
			fr_reader_free(r);
			return 0;
		}
		fr_reader_free(in[k].r); /* the copy is more complete: read it instead */
		free(in[k].path);
	} else {
		struct input *nv = realloc(in, (size_t)(*n + 1) * sizeof(*in));
		if (!nv)
			abort();
		*inp = in = nv;
		k = (*n)++;
	}
	memset(&in[k], 0, sizeof(*in));
	in[k].path = strdup(path);
	const char *b = strrchr(in[k].path, '/');
	in[k].base = b ? b + 1 : in[k].path;
	in[k].r = r;
	in[k].h = fr_reader_header(r);
	in[k].dev = (uint64_t)st.st_dev;
	in[k].ino = (uint64_t)st.st_ino;
	in[k].file_bytes = (uint64_t)st.st_size;
	return 0;
}

int inputs_open(char **paths, int npaths, struct input **inp, int *np)
{
	char err[512];
	int rc = EXIT_OK;
	struct input *in = NULL;
	int nin = 0;
	struct dups d = {0};
	for (int i = 0; i < npaths; i++) {
		char **list;
		int n = fr_list_segments(paths[i], &list, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, "flightrec analyze: %s\n", err);
			rc = EXIT_USAGE;
			break;
		}
		for (int j = 0; j < n; j++)
			if (add_input(&in, &nin, list[j], &d) < 0)
				rc = EXIT_DAMAGED;
		fr_free_list(list, n);
	}
	*inp = in;
	*np = nin;
	if (d.n)
		fprintf(stderr, "flightrec analyze: %d segment%s given twice (the same file, a hard "
				"link or a copy: same node, boot, segment index and start), read once: "
				"%s is %s%s\n", d.n, d.n > 1 ? "s" : "", d.a, d.b, d.n > 1 ? ", ..." : "");
	if (rc == EXIT_USAGE)
		return rc;
	if (!nin) {
		fprintf(stderr, "flightrec analyze: no segment to read\n");
		return EXIT_USAGE;
	}
	qsort(in, (size_t)nin, sizeof(*in), cmp_input);
	return rc;
}

void inputs_free(struct input *in, int n)
{
	for (int i = 0; i < n; i++) {
		fr_reader_free(in[i].r);
		free(in[i].path);
	}
	free(in);
}

static int rec_less(const struct input *a, int ia, const struct input *b, int ib)
{
	if (a->rec.ts != b->rec.ts)
		return a->rec.ts < b->rec.ts;
	if (a->node != b->node)
		return a->node < b->node;
	if (a->rec.seq != b->rec.seq)
		return a->rec.seq < b->rec.seq;
	return ia < ib;
}

static void heap_down(struct merge *h, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && rec_less(&h->in[h->v[l]], h->v[l], &h->in[h->v[m]], h->v[m]))
			m = l;
		if (r < h->n && rec_less(&h->in[h->v[r]], h->v[r], &h->in[h->v[m]], h->v[m]))
			m = r;
		if (m == i)
			return;
		int t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

void merge_init(struct merge *h, struct input *in, int n)
{
	h->v = calloc((size_t)n, sizeof(int));
	if (!h->v)
		abort();
	h->n = 0;
	h->in = in;
	for (int i = 0; i < n; i++) {
		if (fr_reader_next(in[i].r, &in[i].rec) > 0) {
			in[i].have = 1;
			h->v[h->n++] = i;
		}
	}
	for (int i = h->n / 2 - 1; i >= 0; i--)
		heap_down(h, i);
}

struct input *merge_top(struct merge *h)
{
	return h->n ? &h->in[h->v[0]] : NULL;
}

void merge_next(struct merge *h)
{
	struct input *x = &h->in[h->v[0]];
	if (fr_reader_next(x->r, &x->rec) > 0) {
		heap_down(h, 0);
	} else {
		x->have = 0;
		h->v[0] = h->v[--h->n];
		heap_down(h, 0);
	}
}

void merge_fini(struct merge *h)
{
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

int sha256_file(const char *path, char hex[65], uint64_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		fclose(f);
		return -1;
	}
	static __thread unsigned char buf[1 << 16];
	size_t n;
	*size = 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		*size += n;
	}
	fclose(f);
	unsigned char md[32];
	unsigned int mdl = 0;
	EVP_DigestFinal_ex(ctx, md, &mdl);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

void progress(struct input *in, int n, uint64_t total, uint64_t records, double t0, int final)
{
	uint64_t done = 0;
	for (int i = 0; i < n; i++) {
		const struct fr_reader_stats *st = fr_reader_stats(in[i].r);
		done += in[i].have ? st->comp_bytes : in[i].file_bytes;
	}
	if (done > total)
		done = total;
	double el = now_s() - t0, frac = total ? (double)done / (double)total : 1;
	int bar = (int)(frac * 30);
	double eta = frac > 0.01 ? el / frac - el : 0;
	fprintf(stderr, "\r[%-30.*s] %3d%% %7.1f MB %8.0f rec/s ETA %4.0fs%s", bar,
		"##############################", (int)(frac * 100), (double)done / 1e6,
		el > 0 ? (double)records / el : 0, eta, final ? "\n" : "");
}
