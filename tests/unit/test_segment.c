/* test_segment.c - the segment format: round trips, recovery from a killed
 * writer, truncation at every byte, random bit flips, compatibility.  The
 * same tests run on version 2 files (columnar blocks) and version 1.0 files
 * (plain blocks); the columnar decoder also gets malformed streams. */
#define _GNU_SOURCE
#include "harness.h"
#include "../../formats/segment.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define S(str) ((struct fr_span){(const uint8_t *)(str), (uint32_t)strlen(str)})

static void header(struct fr_header *h)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->node, sizeof(h->node), "node-a");
	snprintf(h->boot_id, sizeof(h->boot_id), "0b5e1d1c-aaaa-bbbb-cccc-000000000001");
	snprintf(h->kernel, sizeof(h->kernel), "6.1.0-test");
	snprintf(h->recorder, sizeof(h->recorder), "flightrec-record test");
	snprintf(h->source, sizeof(h->source), "synthetic");
	snprintf(h->filters, sizeof(h->filters), "port 80");
	snprintf(h->redaction, sizeof(h->redaction), "http:authorization");
	h->wall_offset_ns = 1700000000000000000LL;
	h->created_ns = 42;
	h->segment_index = 7;
	h->snaplen = 4096;
	snprintf(h->hooks, sizeof(h->hooks), "sockets");
	h->arrival_min_ns = 50000;
}

static uint8_t payload_buf[FR_MAX_SNAPLEN];

/* Record number i of a deterministic mix of every kind. */
static void make_record(uint64_t i, struct fr_record *r)
{
	memset(r, 0, sizeof(*r));
	r->seq = i + 1;
	r->ts = 1000000 + i * 1000;
	switch (i % 8) {
	case 0: case 1: case 2: case 3: {
		struct fr_data *d = &r->u.data;
		r->kind = FR_DATA;
		d->conn = (struct fr_connkey){100 + (uint32_t)(i % 3), 5, 1};
		d->tid = 100;
		d->dir = i & 1;
		d->syscall = FR_SYS_WRITE;
		d->stream_pos = i * 100;
		int n = snprintf((char *)payload_buf, sizeof(payload_buf),
				 "GET /item/%llu HTTP/1.1\r\nHost: svc\r\n\r\n",
				 (unsigned long long)(i / 24)); /* repeats on a connection */
		d->payload = (struct fr_span){payload_buf, (uint32_t)n};
		d->orig_len = (uint32_t)n + (i % 4 == 3 ? 10 : 0);
		if (i % 4 == 3)
			d->flags = FR_DATA_TRUNCATED;
		if (i % 8 == 2) {
			d->peer = (struct fr_addr){4, 17, 53, {10, 0, 0, 2}};
			d->flags |= FR_DATA_NO_POS;
		}
		break;
	}
	case 4:
		if (i % 32 == 28) { /* 2.1: a head of two chunks */
			static uint8_t chunks[64];
			uint8_t *e = fr_head_chunk_put(chunks, 900, FR_EGRESS, (const uint8_t *)"HELLO 3\r\n", 9);
			e = fr_head_chunk_put(e, 950, FR_INGRESS, (const uint8_t *)"%7\r\n", 4);
			r->kind = FR_CONN_HEAD;
			r->u.head = (struct fr_conn_head){{100, 5, 1}, {FR_HEAD_GROWING, FR_HEAD_FULL}, 2,
				{9, 4}, {chunks, (uint32_t)(e - chunks)}};
			break;
		}
		r->kind = FR_CONN_OPEN;
		r->u.open = (struct fr_conn_open){{100, 5, 1}, 100, FR_ROLE_CLIENT, {0}, 4026531840u,
			{4, 6, 40000, {10, 0, 0, 1}}, {6, 6, 80, {0xfd, 0, [15] = 2}}};
		break;
	case 5:
		if (i % 32 == 13) { /* 2.2 */
			r->kind = FR_ARRIVAL;
			r->u.arrival = (struct fr_arrival){{100, 5, 1}, i * 100, r->ts - 150000};
			break;
		}
		if (i % 32 == 21) { /* 2.3 */
			r->kind = FR_CONN_TLS;
			r->u.tls = (struct fr_conn_tls){{100, 5, 1}, S("OpenSSL 3.0.19 27 Jan 2026 (/usr/lib/libssl.so.3)")};
			break;
		}
		if (i % 64 == 37) { /* 2.4 */
			r->kind = FR_CONN_TCP;
			r->u.tcp = (struct fr_conn_tcp){{100, 5, 1}, FR_TCP_RETRANSMIT, 1, 3, 1250, 7};
			break;
		}
		if (i % 32 == 29) { /* 2.1 */
			r->kind = FR_CONN_STATE;
			r->u.state = (struct fr_conn_state){{100, 5, 1}, 100, FR_ROLE_CLIENT,
				FR_STATE_OPEN | FR_STATE_HEAD, 4026531840u, {4, 6, 40000, {10, 0, 0, 1}},
				{6, 6, 80, {0xfd, 0, [15] = 2}}, {1234, 5678}, {1234, 5670}, {3, 4}, 800, 990};
			break;
		}
		r->kind = FR_CONN_CLOSE;
		r->u.close = (struct fr_conn_close){{100, 5, 1}, 100, 1234, 5678, 3, 4};
		break;
	case 6:
		if (i % 16 == 6) {
			r->kind = FR_PROCESS;
			struct fr_process *p = &r->u.proc;
			p->pid = 100;
			p->ppid = 1;
			p->cgroup_id = 777;
			p->comm = S("nginx");
			p->exe = S("/usr/sbin/nginx");
			p->cmdline = (struct fr_span){(const uint8_t *)"nginx\0-g\0daemon off;", 20};
			p->cgroup_path = S("/kubepods.slice/x.scope");
			p->container_id = S("abcdef0123456789");
		} else {
			r->kind = FR_POD;
			struct fr_pod *p = &r->u.pod;
			p->uid = S("1111-2222");
			p->namespace_ = S("shop");
			p->name = S("web-7d9f-abcde");
			p->node = S("node-a");
			p->owner_kind = S("Deployment");
			p->owner_name = S("web");
			p->n_ips = 2;
			p->ips[0] = S("10.0.0.1");
			p->ips[1] = S("fd00::1");
			p->n_labels = 1;
			p->labels[0] = (struct fr_kv){S("app"), S("web")};
			p->n_containers = 1;
			p->containers[0] = (struct fr_container){S("abcdef0123456789"), S("nginx"), S("nginx:1.25")};
		}
		break;
	case 7:
		if (i % 16 == 7) {
			r->kind = FR_SERVICE;
			struct fr_service *s = &r->u.svc;
			s->namespace_ = S("shop");
			s->name = S("web");
			s->n_ips = 1;
			s->ips[0] = S("10.96.0.10");
			s->n_ports = 1;
			s->ports[0] = (struct fr_svc_port){80, 8080, 6, S("http")};
			s->n_selector = 1;
			s->selector[0] = (struct fr_kv){S("app"), S("web")};
		} else if (i % 32 == 15) {
			r->kind = FR_LOSS;
			r->u.loss = (struct fr_loss){1, FR_LOSS_RINGBUF, 12, 3400, 900, 1900};
		} else {
			r->kind = FR_MARK;
			r->u.mark.kind = S("note");
			r->u.mark.text = S("operator note");
		}
		break;
	}
}

/* Two records are equal when their kinds, times and encoded bodies are. */
static int same_record(const struct fr_record *a, const struct fr_record *b)
{
	static uint8_t ba[FR_MAX_SNAPLEN + 4096], bb[FR_MAX_SNAPLEN + 4096];
	if (a->kind != b->kind || a->ts != b->ts || a->seq != b->seq)
		return 0;
	long na = fr_record_encode(a, ba, sizeof(ba)), nb = fr_record_encode(b, bb, sizeof(bb));
	return na >= 0 && na == nb && memcmp(ba, bb, (size_t)na) == 0;
}

static char *path_in_tmp(const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", t_tmpdir(), name) < 0)
		abort();
	return p;
}

/* The format write_segment writes: 0 the current one, 1 version 1.0. */
static int g_format;
/* write_segment's writer compresses in a thread of its own (opts.thread). */
static int g_thread;

/* Writes n records in blocks of about block_bytes; returns 0. */
static int write_segment(const char *path, uint64_t n, uint32_t block_bytes, int close_it)
{
	struct fr_header h;
	header(&h);
	struct fr_writer_opts o = {.level = 3, .block_bytes = block_bytes, .format = g_format,
				   .thread = g_thread};
	char err[256];
	struct fr_writer *w = fr_writer_open(path, &h, &o, err, sizeof(err));
	if (!w)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		struct fr_record r;
		make_record(i, &r);
		if (fr_writer_add(w, &r))
			return -1;
	}
	if (close_it)
		return fr_writer_close(w);
	fr_writer_flush(w);
	fr_writer_abandon(w);
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	uint8_t *b = malloc((size_t)st.st_size + 1);
	*len = (size_t)read(fd, b, (size_t)st.st_size);
	close(fd);
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (write(fd, b, n) != (ssize_t)n)
		abort();
	close(fd);
}

/* Reads every record of path; checks each against make_record(seq - 1).
 * Returns the number read, -1 if open failed, -2 on a wrong record.  The
 * seqs seen are marked in seen[] when given. */
static long read_check(const char *path, unsigned char *seen, uint64_t n, size_t *ndamage)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(path, err, sizeof(err));
	if (!r)
		return -1;
	struct fr_record rec, want;
	long count = 0;
	while (fr_reader_next(r, &rec) > 0) {
		if (rec.seq == 0 || rec.seq > n)
			return -2;
		make_record(rec.seq - 1, &want);
		if (!same_record(&rec, &want))
			return -2;
		if (seen)
			seen[rec.seq - 1] = 1;
		count++;
	}
	if (ndamage)
		fr_reader_damage(r, ndamage);
	fr_reader_free(r);
	return count;
}

/* The magic of the block at off: "FRB1" or "FRB2". */
static int block_magic_is(const char *path, uint64_t off, const char *magic)
{
	size_t len;
	uint8_t *b = slurp(path, &len);
	int ok = b && off + 4 <= len && memcmp(b + off, magic, 4) == 0;
	free(b);
	return ok;
}

static void roundtrip_every_kind(void)
{
	char *p = path_in_tmp("a.frs");
	CHECK_EQ(write_segment(p, 400, 4096, 1), 0);
	struct stat st;
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ((st.st_mode & 0777), 0600);
	char err[256];
	struct fr_reader *r = fr_reader_open(p, err, sizeof(err));
	CHECK(r);
	CHECK(fr_reader_has_footer(r));
	const struct fr_header *h = fr_reader_header(r);
	CHECK_STREQ(h->node, "node-a");
	CHECK_STREQ(h->kernel, "6.1.0-test");
	CHECK_STREQ(h->redaction, "http:authorization");
	CHECK_STREQ(h->filters, "port 80");
	CHECK_STREQ(h->hooks, "sockets");
	CHECK_EQ(h->arrival_min_ns, 50000);
	CHECK_EQ(h->wall_offset_ns, 1700000000000000000LL);
	CHECK_EQ(h->segment_index, 7);
	CHECK_EQ(h->snaplen, 4096);
	CHECK_EQ(h->version, (g_format == 1 ? 1 : FR_FORMAT_VERSION));
	CHECK_EQ(h->zstd_level, 3);
	struct fr_record rec, want;
	uint64_t i = 0;
	int kinds_seen = 0;
	while (fr_reader_next(r, &rec) > 0) {
		CHECK(block_magic_is(p, fr_reader_block(r)->offset, g_format == 1 ? "FRB1" : "FRB2"));
		make_record(i, &want);
		CHECKF(same_record(&rec, &want), "record %llu differs", (unsigned long long)i);
		kinds_seen |= 1 << rec.kind;
		i++;
	}
	CHECK_EQ(i, 400);
	for (int k = 1; k <= FR_KIND_MAX; k++)
		CHECKF(kinds_seen & (1 << k), "kind %d not covered", k);
	size_t nd;
	fr_reader_damage(r, &nd);
	CHECK_EQ(nd, 0);
	CHECK_GT(fr_reader_stats(r)->blocks, 3);
	fr_reader_free(r);
	free(p);
}

TEST(segment_roundtrip_every_kind) { roundtrip_every_kind(); }
TEST(segment_v1_roundtrip_every_kind)
{
	g_format = 1;
	roundtrip_every_kind();
}

TEST(segment_thread_roundtrip_every_kind)
{
	g_thread = 1;
	roundtrip_every_kind();
	g_thread = 0;
}

/* A writer with its thread writes the very bytes of one without. */
TEST(segment_thread_writes_the_same_bytes)
{
	char *a = path_in_tmp("sync.frs"), *b = path_in_tmp("thread.frs");
	CHECK_EQ(write_segment(a, 3000, 8192, 1), 0);
	g_thread = 1;
	CHECK_EQ(write_segment(b, 3000, 8192, 1), 0);
	g_thread = 0;
	size_t na, nb;
	uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
	CHECK(x && y);
	CHECK_EQ(na, nb);
	CHECK(memcmp(x, y, na) == 0);
	free(x);
	free(y);
	free(a);
	free(b);
}

/* A writer whose thread falls behind (blocks of 8 KiB come faster than
 * they are compressed and written) writes the blocks handed over then at
 * zstd's fast level: the records read back the same. */
TEST(segment_thread_fast_behind_reads_the_same)
{
	char *p = path_in_tmp("fast.frs");
	struct fr_header h;
	header(&h);
	struct fr_writer_opts o = {.level = 3, .block_bytes = 8192, .thread = 1, .fast_behind = 1};
	char err[256];
	struct fr_writer *w = fr_writer_open(p, &h, &o, err, sizeof(err));
	CHECK(w);
	for (uint64_t i = 0; i < 20000; i++) {
		struct fr_record r;
		make_record(i, &r);
		CHECK_EQ(fr_writer_add(w, &r), 0);
	}
	CHECK_EQ(fr_writer_flush(w), 0);
	uint64_t fast = fr_writer_fast_blocks(w);
	CHECK_EQ(fr_writer_close(w), 0);
	CHECKF(fast > 0, "no block written fast (%llu)", (unsigned long long)fast);
	struct fr_reader *r = fr_reader_open(p, err, sizeof(err));
	CHECK(r);
	struct fr_record rec, want;
	uint64_t i = 0;
	while (fr_reader_next(r, &rec) > 0) {
		make_record(i, &want);
		CHECKF(same_record(&rec, &want), "record %llu differs", (unsigned long long)i);
		i++;
	}
	CHECK_EQ(i, 20000);
	size_t nd;
	fr_reader_damage(r, &nd);
	CHECK_EQ(nd, 0);
	fr_reader_free(r);
	free(p);
}

TEST(segment_fields_decode_as_written)
{
	char *p = path_in_tmp("b.frs");
	CHECK_EQ(write_segment(p, 16, 1 << 20, 1), 0);
	char err[256];
	struct fr_reader *r = fr_reader_open(p, err, sizeof(err));
	CHECK(r);
	struct fr_record rec;
	int pods = 0, procs = 0;
	while (fr_reader_next(r, &rec) > 0) {
		if (rec.kind == FR_POD) {
			CHECK_EQ(rec.u.pod.n_ips, 2);
			CHECK_EQ(rec.u.pod.ips[1].len, 7);
			CHECK_MEMEQ(rec.u.pod.containers[0].image.p, "nginx:1.25", 10);
			CHECK_MEMEQ(rec.u.pod.labels[0].value.p, "web", 3);
			pods++;
		}
		if (rec.kind == FR_PROCESS) {
			CHECK_EQ(rec.u.proc.cmdline.len, 20);
			CHECK_EQ(rec.u.proc.cgroup_id, 777);
			procs++;
		}
		if (rec.kind == FR_CONN_OPEN) {
			CHECK_EQ(rec.u.open.remote.family, 6);
			CHECK_EQ(rec.u.open.remote.addr[15], 2);
			CHECK_EQ(rec.u.open.local.port, 40000);
		}
	}
	CHECK_EQ(pods, 1);
	CHECK_EQ(procs, 1);
	fr_reader_free(r);
	free(p);
}

/* The writer dies after each block: every flushed block is read back, no
 * damage is reported, and there is no footer. */
static void killed_writer_at_block_boundaries(void)
{
	for (uint64_t n = 1; n <= 200; n += 13) {
		char *p = path_in_tmp("k.frs");
		unlink(p);
		CHECK_EQ(write_segment(p, n, 512, 0), 0);
		size_t nd = 9;
		long got = read_check(p, NULL, n, &nd);
		CHECKF(got == (long)n, "n=%llu got=%ld", (unsigned long long)n, got);
		CHECK_EQ(nd, 0);
		free(p);
	}
}

TEST(segment_killed_writer_at_block_boundaries) { killed_writer_at_block_boundaries(); }
TEST(segment_thread_killed_writer_at_block_boundaries)
{
	g_thread = 1;
	killed_writer_at_block_boundaries();
	g_thread = 0;
}
TEST(segment_v1_killed_writer_at_block_boundaries)
{
	g_format = 1;
	killed_writer_at_block_boundaries();
}

/* Cut a small segment at every byte: the reader never crashes, never
 * returns a wrong record, and returns every record of every block that
 * ends before the cut. */
static void truncated_at_every_offset(void)
{
	char *p = path_in_tmp("full.frs"), *q = path_in_tmp("cut.frs");
	const uint64_t n = 120;
	CHECK_EQ(write_segment(p, n, 700, 1), 0);
	size_t len;
	uint8_t *b = slurp(p, &len);
	CHECK(b);
	/* block ends and the records they complete, from the index */
	char err[256];
	struct fr_reader *r = fr_reader_open(p, err, sizeof(err));
	CHECK(r);
	uint64_t ends[512], upto[512], nb = 0, last_off = UINT64_MAX, header_end = 0;
	struct fr_record rec;
	long total = 0;
	while (fr_reader_next(r, &rec) > 0) {
		const struct fr_block_info *bi = fr_reader_block(r);
		if (bi->offset != last_off) {
			if (nb == 0)
				header_end = bi->offset;
			last_off = bi->offset;
			ends[nb] = bi->offset + 40 + bi->comp_len;
			upto[nb] = 0;
			nb++;
		}
		upto[nb - 1]++;
		total++;
	}
	fr_reader_free(r);
	CHECK_EQ(total, (long)n);
	CHECK_GT(nb, 5);
	for (size_t cut = 0; cut <= len; cut++) {
		spit(q, b, cut);
		long want = 0;
		for (uint64_t k = 0; k < nb; k++)
			if (ends[k] <= cut)
				want += (long)upto[k];
		long got = read_check(q, NULL, n, NULL);
		if (got == -1) {
			CHECKF(cut < header_end, "open failed at cut %zu", cut); /* only a cut header */
			continue;
		}
		CHECKF(got == want, "cut %zu: got %ld want %ld", cut, got, want);
	}
	free(b);
	free(p);
	free(q);
}

TEST(segment_truncated_at_every_offset) { truncated_at_every_offset(); }
TEST(segment_v1_truncated_at_every_offset)
{
	g_format = 1;
	truncated_at_every_offset();
}

/* Random single and multiple bit flips (seeded): no crash, no wrong record,
 * every record outside the hit blocks is recovered. */
static void random_bit_flips(void)
{
	char *p = path_in_tmp("full.frs"), *q = path_in_tmp("flip.frs");
	const uint64_t n = 300;
	CHECK_EQ(write_segment(p, n, 1500, 1), 0);
	size_t len;
	uint8_t *orig = slurp(p, &len);
	CHECK(orig);
	char err[256];
	struct fr_reader *r = fr_reader_open(p, err, sizeof(err));
	CHECK(r);
	uint64_t boff[256], bend[256], nb = 0, last = UINT64_MAX;
	uint64_t rec_block[400];
	struct fr_record rec;
	while (fr_reader_next(r, &rec) > 0) {
		const struct fr_block_info *bi = fr_reader_block(r);
		if (bi->offset != last) {
			last = bi->offset;
			boff[nb] = bi->offset;
			bend[nb] = bi->offset + 40 + bi->comp_len;
			nb++;
		}
		rec_block[rec.seq - 1] = nb - 1;
	}
	uint64_t header_end = boff[0];
	fr_reader_free(r);
	uint8_t *b = malloc(len);
	srandom(20261124);
	unsigned char seen[400];
	int trials = 0, damaged_trials = 0;
	for (int t = 0; t < 1200; t++) {
		memcpy(b, orig, len);
		int flips = 1 + (t % 3 == 0 ? (int)(random() % 4) : 0);
		unsigned char hit[256] = {0};
		int header_hit = 0;
		for (int f = 0; f < flips; f++) {
			size_t off = (size_t)random() % len;
			b[off] ^= (uint8_t)(1u << (random() % 8));
			if (off < header_end)
				header_hit = 1;
			for (uint64_t k = 0; k < nb; k++)
				if (off >= boff[k] && off < bend[k])
					hit[k] = 1;
		}
		spit(q, b, len);
		memset(seen, 0, sizeof(seen));
		size_t nd = 0;
		long got = read_check(q, seen, n, &nd);
		CHECKF(got != -2, "trial %d: a wrong record was returned", t);
		if (got == -1) {
			CHECKF(header_hit, "trial %d: open failed without header damage", t);
			continue;
		}
		for (uint64_t s = 0; s < n; s++)
			CHECKF(seen[s] || hit[rec_block[s]], "trial %d: record %llu of intact block %llu lost",
			       t, (unsigned long long)s + 1, (unsigned long long)rec_block[s]);
		damaged_trials += nd > 0;
		trials++;
	}
	CHECK_GT(trials, 1000);
	CHECK_GT(damaged_trials, 500);
	free(b);
	free(orig);
	free(p);
	free(q);
}

TEST(segment_random_bit_flips) { random_bit_flips(); }
TEST(segment_v1_random_bit_flips)
{
	g_format = 1;
	random_bit_flips();
}

/* Issue 11, finding 10: a block copied twice into a file (no footer) was
 * read twice, so an analysis counted its requests twice.  Sequence numbers
 * only grow: the copy is reported as damage and skipped. */
static int write_all_fd(int fd, const uint8_t *p, size_t n) { return write(fd, p, n) == (ssize_t)n ? 0 : -1; }

TEST(segment_duplicated_block_is_reported)
{
	char *src_path = path_in_tmp("dup-src.frs"), *dup_path = path_in_tmp("dup.frs");
	struct fr_header h;
	header(&h);
	struct fr_writer_opts o = {.level = 3, .block_bytes = 1 << 20, .format = g_format};
	char err[256];
	struct fr_writer *w = fr_writer_open(src_path, &h, &o, err, sizeof(err));
	CHECK(w != NULL);
	uint64_t cut[3] = {fr_writer_bytes(w), 0, 0}; /* header | block 1 | block 2 */
	for (uint64_t b = 0; b < 2; b++) {
		for (uint64_t i = b * 10; i < b * 10 + 10; i++) {
			struct fr_record r;
			make_record(i, &r);
			CHECK_EQ(fr_writer_add(w, &r), 0);
		}
		CHECK_EQ(fr_writer_flush(w), 0);
		cut[b + 1] = fr_writer_bytes(w);
	}
	fr_writer_abandon(w);
	size_t len;
	uint8_t *src = slurp(src_path, &len);
	CHECK(src != NULL);
	CHECK_EQ(len, cut[2]);
	int fd = open(dup_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write_all_fd(fd, src, cut[1]), 0);                       /* header, block 1 */
	CHECK_EQ(write_all_fd(fd, src + cut[0], cut[1] - cut[0]), 0);     /* block 1 again */
	CHECK_EQ(write_all_fd(fd, src + cut[1], cut[2] - cut[1]), 0);     /* block 2 */
	close(fd);
	size_t nd = 0;
	CHECK_EQ(read_check(dup_path, NULL, 20, &nd), 20);
	CHECK_EQ(nd, 1);
	free(src);
	free(src_path);
	free(dup_path);
}

TEST(segment_unknown_kind_is_skipped)
{
	char *p = path_in_tmp("u.frs");
	struct fr_header h;
	header(&h);
	char err[256];
	struct fr_writer *w = fr_writer_open(p, &h, NULL, err, sizeof(err));
	CHECK(w);
	struct fr_record r;
	make_record(0, &r);
	CHECK_EQ(fr_writer_add(w, &r), 0);
	CHECK_EQ(fr_writer_add_raw(w, 200, 5, 2, "future record kind", 18), 0);
	make_record(2, &r);
	CHECK_EQ(fr_writer_add(w, &r), 0);
	/* a newer minor version appends bytes to a DATA body: still readable */
	uint8_t body[256];
	make_record(1, &r);
	long bl = fr_record_encode(&r, body, sizeof(body));
	CHECK_GT(bl, 0);
	CHECK_EQ(fr_writer_add_raw(w, FR_DATA, r.ts, 4, body, (uint32_t)bl), 0);
	CHECK_EQ(fr_writer_close(w), 0);
	struct fr_reader *rd = fr_reader_open(p, err, sizeof(err));
	CHECK(rd);
	struct fr_record got;
	CHECK_EQ(fr_reader_next(rd, &got), 1);
	CHECK_EQ(got.seq, 1);
	CHECK_EQ(fr_reader_next(rd, &got), 1);
	CHECK_EQ(got.seq, 3);
	CHECK_EQ(fr_reader_next(rd, &got), 1);
	CHECK_EQ(got.seq, 4);
	CHECK_EQ(got.kind, FR_DATA);
	CHECK_EQ(fr_reader_next(rd, &got), 0);
	CHECK_EQ(fr_reader_stats(rd)->unknown_kinds, 1);
	fr_reader_free(rd);
	free(p);
}

TEST(segment_malformed_body_is_reported)
{
	char *p = path_in_tmp("m.frs");
	struct fr_header h;
	header(&h);
	char err[256];
	struct fr_writer *w = fr_writer_open(p, &h, NULL, err, sizeof(err));
	CHECK(w);
	CHECK_EQ(fr_writer_add_raw(w, FR_DATA, 1, 1, "short", 5), 0);
	struct fr_record r;
	make_record(1, &r);
	CHECK_EQ(fr_writer_add(w, &r), 0);
	CHECK_EQ(fr_writer_close(w), 0);
	size_t nd = 0;
	long got = read_check(p, NULL, 10, &nd);
	CHECK_EQ(got, 1);
	CHECK_EQ(nd, 1);
	free(p);
}

TEST(segment_time_range_skips_blocks)
{
	char *p = path_in_tmp("t.frs");
	CHECK_EQ(write_segment(p, 1000, 2048, 1), 0);
	char err[256];
	struct fr_reader *r = fr_reader_open(p, err, sizeof(err));
	CHECK(r);
	uint64_t from = 1000000 + 500 * 1000, to = 1000000 + 520 * 1000;
	fr_reader_set_range(r, from, to);
	struct fr_record rec;
	int in = 0, total = 0;
	while (fr_reader_next(r, &rec) > 0) {
		total++;
		in += rec.ts >= from && rec.ts <= to;
	}
	CHECK_EQ(in, 21);
	CHECKF(total < 100, "read %d records for a 21-record range", total);
	CHECK_LE(fr_reader_stats(r)->blocks, 3);
	fr_reader_free(r);
	free(p);
}

TEST(segment_rejects_non_segments)
{
	char *p = path_in_tmp("x.frs");
	char err[256];
	spit(p, (const uint8_t *)"hello world, not a segment at all", 33);
	CHECK(fr_reader_open(p, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not a flightrec segment"));
	spit(p, (const uint8_t *)"", 0);
	CHECK(fr_reader_open(p, err, sizeof(err)) == NULL);
	CHECK(fr_reader_open(t_tmpdir(), err, sizeof(err)) == NULL);
	/* a newer major version is refused with a reason */
	CHECK(write_segment(p, 3, 4096, 1) == 0 || (unlink(p), write_segment(p, 3, 4096, 1)) == 0);
	size_t len;
	uint8_t *b = slurp(p, &len);
	b[8] = 9;
	spit(p, b, len);
	CHECK(fr_reader_open(p, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "newer"));
	free(b);
	free(p);
}

TEST(segment_writer_refuses_existing_file)
{
	char *p = path_in_tmp("e.frs");
	spit(p, (const uint8_t *)"x", 1);
	struct fr_header h;
	header(&h);
	char err[256];
	CHECK(fr_writer_open(p, &h, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "cannot create"));
	free(p);
}

TEST(segment_list_sorts_directory)
{
	char *a = path_in_tmp("seg-0002.frs"), *b = path_in_tmp("seg-0001.frs"), *c = path_in_tmp("notes.txt");
	CHECK_EQ(write_segment(a, 3, 4096, 1), 0);
	CHECK_EQ(write_segment(b, 3, 4096, 1), 0);
	spit(c, (const uint8_t *)"x", 1);
	char **l, err[256];
	int n = fr_list_segments(t_tmpdir(), &l, err, sizeof(err));
	CHECK_EQ(n, 2);
	CHECK(strstr(l[0], "seg-0001"));
	CHECK(strstr(l[1], "seg-0002"));
	fr_free_list(l, n);
	free(a);
	free(b);
	free(c);
}

/* ---- version 2: columnar blocks ------------------------------------------ */

/* The magic of the first block of path. */
static int first_block_magic_is(const char *path, const char *magic)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(path, err, sizeof(err));
	struct fr_record rec;
	int ok = r && fr_reader_next(r, &rec) == 1 &&
		 block_magic_is(path, fr_reader_block(r)->offset, magic);
	fr_reader_free(r);
	return ok;
}

/* One writer call of a differential test: a record, or a raw body. */
struct op {
	int raw;
	struct fr_record r;
	uint16_t kind;
	uint64_t ts, seq;
	const uint8_t *body;
	uint32_t len;
};

/* Writes ops to a file of the given format in blocks of block_bytes. */
static int write_ops(const char *path, int format, const struct op *ops, size_t n,
		     uint32_t block_bytes)
{
	struct fr_header h;
	header(&h);
	struct fr_writer_opts o = {.level = 3, .block_bytes = block_bytes, .format = format};
	char err[256];
	unlink(path);
	struct fr_writer *w = fr_writer_open(path, &h, &o, err, sizeof(err));
	if (!w)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int rc = ops[i].raw ? fr_writer_add_raw(w, ops[i].kind, ops[i].ts, ops[i].seq,
							 ops[i].body, ops[i].len)
				    : fr_writer_add(w, &ops[i].r);
		if (rc)
			return -1;
	}
	return fr_writer_close(w);
}

/* Reads a and b side by side: the same records, the same number of damage
 * reports and of unknown kinds.  Returns the records read, or -1. */
static long same_reading(const char *a, const char *b)
{
	char err[256];
	struct fr_reader *ra = fr_reader_open(a, err, sizeof(err));
	struct fr_reader *rb = fr_reader_open(b, err, sizeof(err));
	if (!ra || !rb)
		return -1;
	struct fr_record x, y;
	long n = 0;
	for (;;) {
		int ga = fr_reader_next(ra, &x), gb = fr_reader_next(rb, &y);
		if (ga != gb)
			return -1;
		if (!ga)
			break;
		if (!same_record(&x, &y) || x.flags != y.flags)
			return -1;
		n++;
	}
	size_t da, db;
	fr_reader_damage(ra, &da);
	fr_reader_damage(rb, &db);
	if (da != db || fr_reader_stats(ra)->unknown_kinds != fr_reader_stats(rb)->unknown_kinds)
		n = -1;
	fr_reader_free(ra);
	fr_reader_free(rb);
	return n;
}

static struct fr_record data_rec(uint64_t ts, uint64_t seq, uint32_t pid, uint8_t dir,
				 uint64_t pos, uint32_t orig, const uint8_t *pl, uint32_t cap)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_DATA;
	r.ts = ts;
	r.seq = seq;
	r.u.data.conn = (struct fr_connkey){pid, 3, 1};
	r.u.data.tid = pid;
	r.u.data.dir = dir;
	r.u.data.syscall = dir ? FR_SYS_READ : FR_SYS_WRITE;
	r.u.data.stream_pos = pos;
	r.u.data.orig_len = orig;
	r.u.data.payload = (struct fr_span){pl, cap};
	return r;
}

static uint64_t uv_at(const uint8_t *p, size_t len, size_t *i)
{
	uint64_t v = 0;
	for (int sh = 0; *i < len && sh < 64; sh += 7) {
		uint8_t b = p[(*i)++];
		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			break;
	}
	return v;
}

/* The first block of path, a columnar one: its stream count in *n, and
 * how many varints its stream k holds (-1: not a columnar block). */
static long stream_varints(const char *path, unsigned k, unsigned *n)
{
	size_t flen;
	uint8_t *f = slurp(path, &flen);
	long count = -1;
	uint32_t off = f && flen > 16 ? f[12] | f[13] << 8 | f[14] << 16 | (uint32_t)f[15] << 24 : 0;
	if (!f || (uint64_t)off + 40 > flen || memcmp(f + off, "FRB2", 4)) {
		free(f);
		return -1;
	}
	uint32_t clen = f[off + 4] | f[off + 5] << 8 | f[off + 6] << 16 | (uint32_t)f[off + 7] << 24;
	uint32_t raw = f[off + 8] | f[off + 9] << 8 | f[off + 10] << 16 | (uint32_t)f[off + 11] << 24;
	uint8_t *col = malloc(raw + 1);
	size_t cl = col && (uint64_t)off + 40 + clen <= flen ? ZSTD_decompress(col, raw, f + off + 40, clen) : 0;
	if (col && cl && !ZSTD_isError(cl)) {
		size_t i = 1, at = 0, len = 0;
		*n = col[0];
		uint64_t lens[32] = {0};
		for (unsigned j = 0; j < *n && j < 32; j++)
			lens[j] = uv_at(col, cl, &i);
		for (unsigned j = 0; j < k && j < 32; j++)
			at += lens[j];
		len = k < 32 ? lens[k] : 0;
		const uint8_t *sp = col + i + at;
		count = 0;
		for (size_t q = 0; q < len; count++)
			uv_at(sp, len, &q);
	}
	free(col);
	free(f);
	return count;
}

static struct fr_record arrival_rec(uint64_t ts, uint64_t seq, struct fr_connkey k, uint64_t pos,
				    uint64_t at)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_ARRIVAL;
	r.ts = ts;
	r.seq = seq;
	r.u.arrival = (struct fr_arrival){k, pos, at};
	return r;
}

/* Records that stress every prediction, and bodies the streams cannot
 * hold: a columnar file reads exactly as the version 1 file of the same
 * writer calls, blocks of any size. */
TEST(segment_columnar_reads_as_v1)
{
	enum { N = 64 };
	static struct op ops[N + N / 16 * 2 + 16];
	static uint8_t big[FR_MAX_SNAPLEN];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	size_t n = 0;
	const uint8_t *pl = (const uint8_t *)"GET / HTTP/1.1\r\n\r\n";
	uint64_t ts = 5000;
	for (int i = 0; i < N; i++) {
		struct fr_record r;
		switch (i % 16) {
		case 0: r = data_rec(ts += 10, (uint64_t)i + 1, 7, 0, 0, 18, pl, 18); break;
		case 1: r = data_rec(ts += 1, (uint64_t)i + 1, 7, 0, 18, 18, pl, 18); break;
		case 2: r = data_rec(ts -= 3000, (uint64_t)i + 1, 7, 1, 5, 70000, pl, 18); break;
		case 3: r = data_rec(ts += UINT64_C(1) << 40, 1ull << 62, 8, 1, UINT64_MAX - 3, 18, pl, 18); break;
		case 4: r = data_rec(ts, 3, 8, 1, 14, UINT32_MAX, big, FR_MAX_SNAPLEN); break;
		case 5: r = data_rec(0, 4, 8, 0, 0, 0, NULL, 0); break;
		case 6: r = data_rec(UINT64_MAX, UINT64_MAX, UINT32_MAX, 0, 1, 1, pl, 1); break;
		case 7:
			r = data_rec(ts += 5, (uint64_t)i + 100, 7, 1, 12345, 18, pl, 18);
			r.u.data.tid = 99;
			r.u.data.flags = FR_DATA_REDACTED | FR_DATA_NO_POS;
			r.u.data.syscall = FR_SYS_SSL_READ;
			r.u.data.peer = (struct fr_addr){6, 17, 53, {0xfe, 0x80, [15] = 1}};
			r.flags = 0x8001;
			break;
		case 8:
			r = data_rec(ts += 5, (uint64_t)i + 100, 7, 1, 0, 18, pl, 18);
			r.u.data.conn.gen = 2; /* a reused fd: a new connection */
			break;
		/* 3.0: ARRIVAL records held in the streams */
		case 9: /* at the slot's position, before its DATA */
			ts += 7;
			r = arrival_rec(ts, (uint64_t)i + 1, (struct fr_connkey){7, 3, 1}, 36, ts - 1200);
			break;
		case 10: /* a slot opened by an ARRIVAL; far positions and times */
			r = arrival_rec(ts, (uint64_t)i + 1, (struct fr_connkey){9, 4, (uint32_t)i}, UINT64_MAX - (uint64_t)i,
					UINT64_MAX - 3 * (uint64_t)i);
			break;
		case 11: /* times going back, position 0; then its slot's DATA */
			r = arrival_rec(ts += 1, (uint64_t)i + 1, (struct fr_connkey){9, 4, (uint32_t)i - 1}, 0, 0);
			ops[n++] = (struct op){.r = r};
			r = data_rec(ts, (uint64_t)i + 300, 9, 1, 0, 18, pl, 18);
			r.u.data.conn = (struct fr_connkey){9, 4, (uint32_t)i - 1};
			break;
		default:
			make_record((uint64_t)i, &r);
		}
		ops[n++] = (struct op){.r = r};
	}
	/* raw bodies: not DATA-shaped, a future longer DATA body, unknown kind */
	static uint8_t body[256];
	struct fr_record r = data_rec(9, 9, 7, 1, 0, 18, pl, 18);
	long bl = fr_record_encode(&r, body, sizeof(body) - 8);
	memcpy(body + bl, "appended", 8);
	ops[n++] = (struct op){.raw = 1, .kind = FR_DATA, .ts = 9, .seq = 200, .body = body, .len = (uint32_t)bl + 8};
	ops[n++] = (struct op){.raw = 1, .kind = FR_DATA, .ts = 9, .seq = 201, .body = body, .len = 30};
	ops[n++] = (struct op){.raw = 1, .kind = FR_DATA, .ts = 9, .seq = 202, .body = body, .len = 0};
	static uint8_t odd[256];
	memcpy(odd, body, (size_t)bl);
	odd[16] = 2; /* dir 2 */
	ops[n++] = (struct op){.raw = 1, .kind = FR_DATA, .ts = 9, .seq = 203, .body = odd, .len = (uint32_t)bl};
	static uint8_t odd2[256];
	memcpy(odd2, body, (size_t)bl);
	odd2[20] = 1; /* orig_len 1 < cap_len 18 */
	odd2[21] = odd2[22] = odd2[23] = 0;
	ops[n++] = (struct op){.raw = 1, .kind = FR_DATA, .ts = 9, .seq = 204, .body = odd2, .len = (uint32_t)bl};
	/* ARRIVAL bodies the streams cannot hold: a pad that is not 0, a
	 * longer body (both read as ARRIVAL records), a shorter one */
	static uint8_t arr[40];
	struct fr_record ar = arrival_rec(9, 207, (struct fr_connkey){7, 3, 1}, 36, 8);
	CHECK_EQ(fr_record_encode(&ar, arr, sizeof(arr)), 32);
	arr[12] = 1;
	ops[n++] = (struct op){.raw = 1, .kind = FR_ARRIVAL, .ts = 9, .seq = 207, .body = arr, .len = 32};
	ops[n++] = (struct op){.raw = 1, .kind = FR_ARRIVAL, .ts = 9, .seq = 208, .body = arr, .len = 40};
	ops[n++] = (struct op){.raw = 1, .kind = FR_ARRIVAL, .ts = 9, .seq = 209, .body = arr, .len = 31};
	ops[n++] = (struct op){.raw = 1, .kind = 0, .ts = 9, .seq = 205, .body = body, .len = 5};
	ops[n++] = (struct op){.raw = 1, .kind = 0xffff, .ts = 9, .seq = 206, .body = body, .len = 0};
	make_record(1, &r);
	ops[n++] = (struct op){.r = r};
	char *a = path_in_tmp("v1.frs"), *b = path_in_tmp("v2.frs");
	uint32_t sizes[] = {1, 100, 4096, 1 << 20};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		CHECK_EQ(write_ops(a, 1, ops, n, sizes[k]), 0);
		CHECK_EQ(write_ops(b, 0, ops, n, sizes[k]), 0);
		CHECK(first_block_magic_is(b, "FRB2"));
		long got = same_reading(a, b);
		/* the raw bodies that do not read: 6, and the short ARRIVAL */
		CHECKF(got == (long)n - 7, "block %u: %ld records", sizes[k], got);
	}
	/* in one block: 19 streams, and every ARRIVAL of a plain shape held
	 * in ARR (stream 18), one varint each */
	long arrivals = 0;
	for (size_t i = 0; i < n; i++)
		arrivals += !ops[i].raw && ops[i].r.kind == FR_ARRIVAL;
	unsigned nstreams = 0;
	CHECK_GE(arrivals, 12);
	CHECK_EQ(stream_varints(b, 18, &nstreams), arrivals);
	CHECK_EQ(nstreams, 19);
	free(a);
	free(b);
}

/* More connections in one block than the slot table holds: the rest are
 * written whole and read back the same. */
TEST(segment_columnar_slot_overflow)
{
	const uint64_t n = 70000;
	char *a = path_in_tmp("v1.frs"), *b = path_in_tmp("v2.frs");
	for (int format = 1; format >= 0; format--) {
		struct fr_header h;
		header(&h);
		struct fr_writer_opts o = {.block_bytes = 32u << 20, .format = format};
		char err[256];
		struct fr_writer *w = fr_writer_open(format ? a : b, &h, &o, err, sizeof(err));
		CHECK(w);
		for (uint64_t i = 0; i < n; i++) {
			struct fr_record r = data_rec(i, i + 1, (uint32_t)(i < 66000 ? i : i % 7),
						      (uint8_t)(i & 1), 0, 4, (const uint8_t *)"ping", 4);
			CHECK_EQ(fr_writer_add(w, &r), 0);
		}
		CHECK_EQ(fr_writer_close(w), 0);
	}
	CHECK_EQ(same_reading(a, b), (long)n);
	char err[256];
	struct fr_reader *r = fr_reader_open(b, err, sizeof(err));
	struct fr_record rec;
	CHECK(r);
	CHECK_EQ(fr_reader_next(r, &rec), 1);
	CHECK_EQ(fr_reader_stats(r)->blocks, 1);
	fr_reader_free(r);
	CHECK(first_block_magic_is(b, "FRB2"));
	free(a);
	free(b);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A segment without footer whose middle block's streams (col, clen bytes,
 * valid zstd and crcs) replace the original ones; the other blocks are
 * untouched.  Returns the file length in out. */
static size_t with_streams(uint8_t *out, const uint8_t *file, uint64_t boff, uint64_t bend,
			   size_t flen, const uint8_t *col, size_t clen)
{
	memcpy(out, file, boff);
	uint8_t *h = out + boff;
	memcpy(h, file + boff, 40);
	size_t z = ZSTD_compress(h + 40, ZSTD_compressBound(clen), col, clen, 1);
	put32(h + 4, (uint32_t)z);
	put32(h + 32, (uint32_t)crc32(0, h + 40, (uInt)z));
	put32(h + 36, (uint32_t)crc32(0, h, 36));
	memcpy(h + 40 + z, file + bend, flen - bend);
	return boff + 40 + z + flen - bend;
}

/* Malformed streams in a block whose checksums hold: truncated at every
 * length, a byte appended, every byte changed in several ways, the stream
 * count wrong.  The reader never crashes nor returns a record of another
 * block wrongly; the blocks around it are read whole; a cut or a longer
 * frame is always reported. */
TEST(segment_columnar_malformed_streams)
{
	char *p = path_in_tmp("c.frs"), *q = path_in_tmp("cm.frs");
	const uint64_t n = 60;
	CHECK_EQ(write_segment(p, n, 900, 0), 0);
	size_t flen;
	uint8_t *file = slurp(p, &flen);
	CHECK(file);
	/* blocks: the header length, then 40-byte headers and frames */
	uint64_t off = get32(file + 12), boff[64], bend[64], nb = 0;
	while (off + 40 <= flen && nb < 64) {
		boff[nb] = off;
		bend[nb] = off + 40 + get32(file + off + 4);
		off = bend[nb++];
	}
	CHECK_GE(nb, 3);
	CHECK_MEMEQ(file + boff[1], "FRB2", 4);
	uint32_t raw_len = get32(file + boff[1] + 8);
	uint8_t *col = malloc(raw_len + 1), *mut = malloc(raw_len + 1);
	size_t clen = ZSTD_decompress(col, raw_len, file + bend[0] + 40, bend[1] - boff[1] - 40);
	CHECK(!ZSTD_isError(clen));
	CHECK_LE(clen, raw_len);
	CHECK_GT(clen, 40);
	uint8_t *out = malloc(flen + ZSTD_compressBound(raw_len + 1) + 64);
	/* records of blocks 0 and 2.. (all but block 1) */
	long want_others = 0;
	{
		char err[256];
		struct fr_reader *r = fr_reader_open(p, err, sizeof(err));
		struct fr_record rec;
		while (r && fr_reader_next(r, &rec) > 0)
			want_others += fr_reader_block(r)->offset != boff[1];
		fr_reader_free(r);
	}
	int reported = 0, trials = 0;
	for (size_t t = 0; t <= clen + 1 + 5 * clen; t++) {
		size_t mlen = clen;
		memcpy(mut, col, clen);
		int must_report = 0;
		if (t < clen) { /* cut */
			mlen = t;
			must_report = 1;
		} else if (t == clen) {
			continue; /* the original */
		} else if (t == clen + 1) { /* a byte appended */
			mut[mlen++] = 0;
			must_report = 1;
		} else { /* byte k changed */
			size_t k = (t - clen - 2) / 5;
			static const uint8_t how[5] = {0x01, 0x80, 0xff, 0x40, 0};
			uint8_t x = how[(t - clen - 2) % 5];
			mut[k] = x ? mut[k] ^ x : 0;
			if (k == 0 && mut[0] != col[0])
				must_report = 1; /* the stream count */
		}
		size_t olen = with_streams(out, file, boff[1], bend[1], flen, mut, mlen);
		spit(q, out, olen);
		char err[256];
		struct fr_reader *r = fr_reader_open(q, err, sizeof(err));
		CHECK(r);
		struct fr_record rec;
		long others = 0, mine = 0;
		while (fr_reader_next(r, &rec) > 0) {
			if (fr_reader_block(r)->offset == boff[1]) {
				mine++;
				continue; /* may differ: its bytes were changed */
			}
			struct fr_record want;
			CHECK_GE(rec.seq, 1);
			CHECK_LE(rec.seq, n);
			make_record(rec.seq - 1, &want);
			CHECKF(same_record(&rec, &want), "trial %zu: wrong record in an intact block", t);
			others++;
		}
		size_t nd;
		const struct fr_damage *d = fr_reader_damage(r, &nd);
		CHECKF(others == want_others, "trial %zu: %ld of %ld records of intact blocks", t,
		       others, want_others);
		if (must_report)
			CHECKF(nd == 1 && d[0].offset == boff[1] && strstr(d[0].what, "columnar") && mine == 0,
			       "trial %zu: not reported (%zu damage)", t, nd);
		reported += nd > 0;
		trials++;
		fr_reader_free(r);
	}
	CHECKF(trials > 1000 && reported > (int)clen + 100, "%d trials, %d reported, %zu stream bytes", trials, reported, clen);
	free(col);
	free(mut);
	free(out);
	free(file);
	free(p);
	free(q);
}
