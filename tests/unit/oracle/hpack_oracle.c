/* hpack_oracle.c - our HPACK decoder (analyze/protocols/hpack.c) against
 * libnghttp2's inflater (Debian's libnghttp2-dev), the independent
 * decoder, on every header block of real traffic.  Only this test program
 * links libnghttp2; the analyzer does not.
 *
 * usage: hpack-oracle [-v] INPUT...
 *   INPUT: a capture (.pcap/.pcapng, imported as `flightrec import-pcap`
 *   does), a segment file or a recording folder.
 *
 * Each direction of each TCP connection is rebuilt from its DATA records
 * by stream position.  A direction that begins at position 0 is read the
 * way a peer reads it: the client's preface or the HTTP/1.1 head of an
 * h2c upgrade (and its body) skipped, then frames; the fragments of
 * HEADERS / PUSH_PROMISE + CONTINUATION joined (padding, priority and the
 * promised id removed) into blocks, each decoded by both decoders, each
 * with its own table per direction.  The header lists must be identical,
 * field by field, and ours must have no placeholder.  A direction is
 * compared up to its first gap; one that begins after position 0 (the
 * connection began before the recording) cannot be decoded by nghttp2 and
 * is counted apart.  Exit 0 when every compared block agrees and there was
 * at least one; 1 otherwise.
 */
#define _GNU_SOURCE
#include "../../../analyze/pcap/pcap_import.h"
#include "../../../analyze/protocols/hpack.h"
#include "../../../formats/segment.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dirbuf {
	struct fr_connkey k;
	char node[256];
	int input, dir;
	uint8_t *b;
	size_t len, cap;
	uint64_t start;   /* stream position of b[0] */
	int gap;          /* a hole after len: compared up to it */
};

static struct dirbuf *v;
static size_t nv;
static int verbose, input;
static char **inputs;
static long blocks, fields, bad, midstream, dirs_compared;

static struct dirbuf *dir_of(const char *node, const struct fr_data *d)
{
	for (size_t i = 0; i < nv; i++)
		if (v[i].input == input && v[i].dir == d->dir && !memcmp(&v[i].k, &d->conn, sizeof(d->conn)) &&
		    !strcmp(v[i].node, node))
			return &v[i];
	v = realloc(v, (nv + 1) * sizeof(*v));
	struct dirbuf *b = &v[nv++];
	memset(b, 0, sizeof(*b));
	b->k = d->conn;
	b->dir = d->dir;
	b->input = input;
	snprintf(b->node, sizeof(b->node), "%s", node);
	b->start = d->stream_pos;
	return b;
}

static void add_data(const char *node, const struct fr_data *d)
{
	if (d->flags & FR_DATA_NO_POS || d->peer.family)
		return; /* UDP */
	struct dirbuf *b = dir_of(node, d);
	if (b->gap)
		return;
	uint64_t end = b->start + b->len;
	if (d->stream_pos > end) {
		b->gap = 1;
		return;
	}
	uint64_t skip = end - d->stream_pos;
	if (skip >= d->payload.len)
		return;
	size_t n = d->payload.len - (size_t)skip;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->b = realloc(b->b, b->cap);
	}
	memcpy(b->b + b->len, d->payload.p + skip, n);
	b->len += n;
	if (d->payload.len < d->orig_len)
		b->gap = 1; /* cut by the snap length */
}

static int read_segments(const char *path)
{
	char err[512], **files;
	int n = fr_list_segments(path, &files, err, sizeof(err));
	if (n <= 0) {
		fprintf(stderr, "hpack-oracle: %s: %s\n", path, n < 0 ? err : "no segment");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct fr_reader *r = fr_reader_open(files[i], err, sizeof(err));
		if (!r) {
			fprintf(stderr, "hpack-oracle: %s\n", err);
			continue;
		}
		const char *node = fr_reader_header(r)->node;
		struct fr_record rec;
		while (fr_reader_next(r, &rec) > 0)
			if (rec.kind == FR_DATA)
				add_data(node, &rec.u.data);
		fr_reader_free(r);
	}
	fr_free_list(files, n);
	return 0;
}

/* ---- one direction ------------------------------------------------------- */

struct list {
	char *s;
	size_t len;
	FILE *f;
	int unknown;
};

static void ours_field(void *arg, const struct hpack_field *f)
{
	struct list *l = arg;
	fprintf(l->f, "%.*s: %.*s\n", (int)f->nlen, (const char *)f->name, (int)f->vlen, (const char *)f->value);
	l->unknown += f->unknown;
}

/* nghttp2's list of one block into f; -1 on its error */
static int theirs(nghttp2_hd_inflater *inf, const uint8_t *p, size_t n, FILE *f, long *nf)
{
	for (;;) {
		nghttp2_nv nvp;
		int fl = 0;
		ssize_t r = nghttp2_hd_inflate_hd2(inf, &nvp, &fl, p, n, 1);
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
		if (fl & NGHTTP2_HD_INFLATE_EMIT) {
			fprintf(f, "%.*s: %.*s\n", (int)nvp.namelen, nvp.name, (int)nvp.valuelen, nvp.value);
			(*nf)++;
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(inf);
			return 0;
		}
		if (!r && !n)
			return 0;
	}
}

static void compare(const char *what, struct hpack *h, nghttp2_hd_inflater *inf, const uint8_t *blk, size_t n)
{
	char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	struct list l = {0};
	l.f = open_memstream(&a, &al);
	const char *err;
	int notes;
	int ra = hpack_decode(h, blk, n, ours_field, &l, &err, &notes);
	fclose(l.f);
	FILE *f = open_memstream(&b, &bl);
	long nf = 0;
	int rb = theirs(inf, blk, n, f, &nf);
	fclose(f);
	blocks++;
	fields += nf;
	if (ra != rb || l.unknown || strcmp(a, b)) {
		bad++;
		printf("DIFF %s block %ld (%zu bytes): ours rc %d (%s), %d placeholders; nghttp2 rc %d\n"
		       "--- ours\n%s--- nghttp2\n%s", what, blocks, n, ra, ra < 0 ? err : "ok", l.unknown, rb, a, b);
	} else if (verbose) {
		printf("ok %s block %ld: %ld fields\n", what, blocks, nf);
	}
	free(a);
	free(b);
}

static uint32_t be(const uint8_t *p, int n)
{
	uint32_t x = 0;
	for (int i = 0; i < n; i++)
		x = x << 8 | p[i];
	return x;
}

/* Length of an HTTP/1.1 head at p (and of the request body it announces),
 * or 0 when there is none. */
static size_t h1_head(const uint8_t *p, size_t n)
{
	const uint8_t *e = memmem(p, n, "\r\n\r\n", 4);
	if (!e)
		return 0;
	size_t len = (size_t)(e - p) + 4;
	const uint8_t *cl = memmem(p, len, "\r\nContent-Length:", 17);
	if (!cl)
		cl = memmem(p, len, "\r\ncontent-length:", 17);
	if (cl && p[0] != 'H')
		len += strtoul((const char *)cl + 17, NULL, 10);
	return len;
}

static void one_dir(const struct dirbuf *d)
{
	char what[400];
	snprintf(what, sizeof(what), "%s: %.40s pid %u fd %u gen %u %s", d->input < 0 ? "" : inputs[d->input], d->node, d->k.pid, d->k.fd, d->k.gen,
		 d->dir == FR_EGRESS ? "egress" : "ingress");
	if (d->start) {
		midstream++;
		return;
	}
	const uint8_t *p = d->b;
	size_t n = d->len, o = 0;
	if (n >= 24 && !memcmp(p, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24))
		o = 24;
	else if (n && p[0] >= 'A' && p[0] <= 'Z')
		o = h1_head(p, n);
	if (o == 0 && (n < 9 || p[0] != 0))
		return; /* not HTTP/2 */
	if (o == 0 && (p[3] != 4 || (p[4] & 1))) {
		midstream++; /* frames, but not a server's first (SETTINGS) */
		return;
	}
	struct hpack h;
	nghttp2_hd_inflater *inf;
	hpack_init(&h, 1);
	nghttp2_hd_inflate_new(&inf);
	uint8_t *blk = NULL;
	size_t bl = 0;
	int in_block = 0;
	dirs_compared++;
	while (o + 9 <= n) {
		uint32_t len = be(p + o, 3), sid = be(p + o + 5, 4) & 0x7fffffff;
		uint8_t type = p[o + 3], fl = p[o + 4];
		if (o + 9 + len > n)
			break;
		const uint8_t *pl = p + o + 9;
		size_t off = 0, pad = 0;
		(void)sid;
		if (type == 1 || type == 5 || (type == 9 && in_block)) {
			if (type != 9 && (fl & 0x8) && len)
				pad = pl[0], off = 1;
			if (type == 1 && (fl & 0x20))
				off += 5;
			if (type == 5)
				off += 4;
			if (off + pad <= len) {
				blk = realloc(blk, bl + len);
				memcpy(blk + bl, pl + off, len - off - pad);
				bl += len - off - pad;
			}
			in_block = 1;
			if (fl & 0x4) {
				compare(what, &h, inf, blk, bl);
				bl = 0;
				in_block = 0;
			}
		}
		o += 9 + len;
	}
	free(blk);
	hpack_fini(&h);
	nghttp2_hd_inflate_del(inf);
}

int main(int argc, char **argv)
{
	int first = 1;
	inputs = argv;
	if (argc > 1 && !strcmp(argv[1], "-v"))
		verbose = 1, first = 2;
	if (first >= argc) {
		fprintf(stderr, "usage: hpack-oracle [-v] CAPTURE|SEGMENT|RECORDING...\n");
		return 2;
	}
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		input = i;
		size_t al = strlen(a);
		int cap = (al > 5 && !strcmp(a + al - 5, ".pcap")) || (al > 7 && !strcmp(a + al - 7, ".pcapng"));
		if (!cap) {
			read_segments(a);
			continue;
		}
		char tmp[] = "/tmp/hpack-oracle-XXXXXX", err[512];
		if (!mkdtemp(tmp) || fr_pcap_import(&a, 1, tmp, NULL, NULL, err, sizeof(err)) == 2) {
			fprintf(stderr, "hpack-oracle: %s: cannot import: %s\n", a, err);
			return 2;
		}
		read_segments(tmp);
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "hpack-oracle: cannot remove %s\n", tmp);
	}
	for (size_t i = 0; i < nv; i++)
		one_dir(&v[i]);
	printf("hpack-oracle: %ld header blocks (%ld fields) in %ld directions: %ld differ; "
	       "%ld directions begin mid-connection (not comparable)\n",
	       blocks, fields, dirs_compared, bad, midstream);
	for (size_t i = 0; i < nv; i++)
		free(v[i].b);
	free(v);
	return bad || !blocks ? 1 : 0;
}
