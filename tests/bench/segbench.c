/* segbench.c - writes and reads synthetic segments for the format benchmark
 * (tests/bench/segment.sh) and for test fixtures.
 *
 *   segbench write OUT.frs --bytes N [--level L] [--raw RAWFILE] [--block B]
 *       DATA records with HTTP-like payloads (requests and JSON responses on
 *       many keep-alive connections) until N payload bytes; RAWFILE gets the
 *       same payload bytes back to back, for the zstd tool to compress.
 *       Prints "write MB/s" over payload bytes, generation excluded.
 *   segbench read PATH
 *       Reads every record; prints "read MB/s" over payload bytes.
 */
#define _GNU_SOURCE
#include "../../formats/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const paths[] = {"/api/v1/users", "/api/v1/orders", "/api/v1/cart/items",
				    "/healthz", "/api/v2/search", "/static/app.js",
				    "/api/v1/payments/authorize", "/metrics"};
static const char *const agents[] = {"curl/7.88.1", "Go-http-client/1.1", "python-requests/2.31",
				     "okhttp/4.12.0"};
static const char *const names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace",
				    "heidi", "ivan", "judy"};

/* One message (request or response) into buf (8192 bytes); returns its
 * length. */
static int message(char *buf, size_t cap, int response, uint64_t id)
{
	if (!response) {
		return snprintf(buf, cap,
				"GET %s/%llu?page=%u HTTP/1.1\r\nHost: svc-%u.shop.svc.cluster.local\r\n"
				"User-Agent: %s\r\nAccept: application/json\r\nX-Request-Id: %016llx\r\n"
				"Connection: keep-alive\r\n\r\n",
				paths[next() % 8], (unsigned long long)(next() % 100000),
				(unsigned)(next() % 20), (unsigned)(next() % 12), agents[next() % 4],
				(unsigned long long)next());
	}
	char body[2048];
	int n = snprintf(body, sizeof(body), "{\"id\":%llu,\"items\":[", (unsigned long long)id);
	int items = (int)(next() % 12);
	for (int i = 0; i < items && n < 1800; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n,
			      "%s{\"sku\":\"SKU-%05u\",\"owner\":\"%s\",\"qty\":%u,\"price\":%u.%02u}",
			      i ? "," : "", (unsigned)(next() % 50000), names[next() % 10],
			      (unsigned)(next() % 9 + 1), (unsigned)(next() % 500),
			      (unsigned)(next() % 100));
	n += snprintf(body + n, sizeof(body) - (size_t)n, "],\"total\":%u}", (unsigned)(next() % 10000));
	int status = next() % 50 == 0 ? 500 : 200;
	return snprintf(buf, cap,
			"HTTP/1.1 %d %s\r\nServer: nginx/1.22.1\r\nDate: Tue, 24 Nov 2026 22:%02u:%02u GMT\r\n"
			"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%s",
			status, status == 200 ? "OK" : "Internal Server Error", (unsigned)(id / 60 % 60),
			(unsigned)(id % 60), n, body);
}

static int cmd_write(int argc, char **argv)
{
	const char *out = NULL, *raw = NULL;
	uint64_t bytes = 64 << 20;
	int level = 3;
	uint32_t block = 1 << 20;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
			bytes = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--level") && i + 1 < argc)
			level = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--raw") && i + 1 < argc)
			raw = argv[++i];
		else if (!strcmp(argv[i], "--block") && i + 1 < argc)
			block = (uint32_t)strtoul(argv[++i], NULL, 10);
		else
			out = argv[i];
	}
	if (!out) {
		fprintf(stderr, "usage: segbench write OUT.frs --bytes N [--level L] [--raw F] [--block B]\n");
		return 2;
	}
	/* Pre-generate every message (no repeats, as in real traffic) so that
	 * generation is not timed: one buffer of `bytes` payload. */
	char *stream = malloc(bytes + 8192);
	uint32_t *lens = malloc((bytes / 64 + 1) * sizeof(*lens));
	if (!stream || !lens) {
		fprintf(stderr, "segbench: out of memory\n");
		return 1;
	}
	uint64_t total = 0, nmsg = 0;
	while (total < bytes) {
		int n = message(stream + total, 8192, (int)(nmsg & 1), nmsg);
		lens[nmsg++] = (uint32_t)n;
		total += (uint64_t)n;
	}
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "bench-node");
	snprintf(h.source, sizeof(h.source), "synthetic");
	snprintf(h.recorder, sizeof(h.recorder), "segbench");
	h.snaplen = 4096;
	struct fr_writer_opts o = {.level = level, .block_bytes = block};
	char err[256];
	struct fr_writer *w = fr_writer_open(out, &h, &o, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "segbench: %s\n", err);
		return 1;
	}
	FILE *rf = raw ? fopen(raw, "wb") : NULL;
	if (rf && fwrite(stream, 1, total, rf) != total) {
		fprintf(stderr, "segbench: cannot write %s\n", raw);
		return 1;
	}
	enum { CONNS = 64 };
	uint64_t pos[CONNS][2] = {{0}};
	uint64_t done = 0, seq = 0, ts = 1000000000, off = 0;
	double t_write = 0;
	for (uint64_t m = 0; m < nmsg;) {
		/* a batch of records, timed as one */
		struct fr_record batch[256];
		int nb = 0;
		for (; nb < 256 && m < nmsg; nb++, m++) {
			uint64_t k = next();
			int c = (int)((m / 2) % CONNS), dir = (int)(m & 1);
			struct fr_record *r = &batch[nb];
			memset(r, 0, sizeof(*r));
			r->kind = FR_DATA;
			r->seq = ++seq;
			r->ts = ts += 1000 + k % 50000;
			r->u.data.conn = (struct fr_connkey){1000 + (uint32_t)c, 7, 1};
			r->u.data.tid = 1000 + (uint32_t)c;
			r->u.data.dir = (uint8_t)dir;
			r->u.data.syscall = dir ? FR_SYS_READ : FR_SYS_WRITE;
			r->u.data.stream_pos = pos[c][dir];
			r->u.data.orig_len = lens[m];
			r->u.data.payload = (struct fr_span){(const uint8_t *)stream + off, lens[m]};
			pos[c][dir] += lens[m];
			off += lens[m];
			done += lens[m];
		}
		double t0 = now();
		for (int i = 0; i < nb; i++)
			if (fr_writer_add(w, &batch[i])) {
				fprintf(stderr, "segbench: write failed\n");
				return 1;
			}
		t_write += now() - t0;
	}
	double t0 = now();
	int rc = fr_writer_close(w);
	t_write += now() - t0;
	if (rf)
		fclose(rf);
	if (rc) {
		fprintf(stderr, "segbench: close failed: %s\n", strerror(-rc));
		return 1;
	}
	printf("write %llu payload bytes in %.3f s: %.1f MB/s\n", (unsigned long long)done, t_write,
	       (double)done / t_write / 1e6);
	free(stream);
	free(lens);
	return 0;
}

static int cmd_read(int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr, "usage: segbench read PATH\n");
		return 2;
	}
	char err[256];
	double t0 = now();
	struct fr_reader *r = fr_reader_open(argv[0], err, sizeof(err));
	if (!r) {
		fprintf(stderr, "segbench: %s\n", err);
		return 1;
	}
	struct fr_record rec;
	uint64_t bytes = 0, n = 0, sum = 0;
	while (fr_reader_next(r, &rec) > 0) {
		n++;
		if (rec.kind == FR_DATA) {
			bytes += rec.u.data.payload.len;
			if (rec.u.data.payload.len)
				sum += rec.u.data.payload.p[rec.u.data.payload.len - 1];
		}
	}
	double t = now() - t0;
	size_t nd;
	fr_reader_damage(r, &nd);
	fr_reader_free(r);
	printf("read %llu records, %llu payload bytes in %.3f s: %.1f MB/s (damage %zu, check %llu)\n",
	       (unsigned long long)n, (unsigned long long)bytes, t, (double)bytes / t / 1e6, nd,
	       (unsigned long long)sum);
	return nd ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return cmd_write(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "read"))
		return cmd_read(argc - 2, argv + 2);
	fprintf(stderr, "usage: segbench write|read ...\n");
	return 2;
}
