/* test_split.c - split invariance of every parser, on the real traffic of
 * every corpus case: each connection the analyzer gives to a protocol is
 * fed to that protocol's parser in whole chunks, split in two at every
 * offset (up to 2 KiB, then a stride), and byte by byte; the output
 * (requests, messages, anomalies) must be the same.  Gaps (data lost,
 * truncated, or before the recording) are passed as the engine passes
 * them.  Every piece ends against a PROT_NONE page, so an over-read
 * crashes.  The cases are found as `corpus check` finds them and their
 * inputs read as it reads them (`source` captures imported); the protocols
 * come from the registry, so a new protocol is covered by its cases.
 * Plus regressions named after what they caught. */
#define _GNU_SOURCE
#include "harness.h"

#include "../../analyze/corpus.h"
#include "../../analyze/engine.h"
#include "../../analyze/proto.h"
#include "../../formats/cli.h"
#include "../../formats/segment.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct fr_proto fr_proto_http1, fr_proto_redis, fr_proto_dns, fr_proto_kafka;

struct chunk {
	int dir;          /* FR_C2S / FR_S2C */
	uint64_t ts;
	uint64_t gap;     /* bytes missing before p */
	uint64_t gap_after; /* bytes missing after p (snap length) */
	uint8_t *p;
	size_t n;
	struct fr_addr peer; /* UDP: the datagram's peer */
};

struct conn {
	char node[64];
	struct fr_connkey k;
	const struct fr_proto *proto;
	int udp;
	int egress_c2s; /* 1: the recorded socket is the client's */
	struct chunk *c;
	int nc;
	/* while loading: where each direction's stream is (TCP) */
	int pos_init[2];
	uint64_t next[2];
};

/* ---- a buffer whose end touches an unreadable page ----------------------- */

#define GUARD_DATA (256 * 1024)
static uint8_t *guard_base;
static long page;

static const uint8_t *guarded(const uint8_t *p, size_t n)
{
	if (!guard_base) {
		page = sysconf(_SC_PAGESIZE);
		guard_base = mmap(NULL, GUARD_DATA + (size_t)page, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (guard_base == MAP_FAILED)
			abort();
		mprotect(guard_base + GUARD_DATA, (size_t)page, PROT_NONE);
	}
	if (n > GUARD_DATA)
		abort();
	uint8_t *dst = guard_base + GUARD_DATA - n;
	if (n)
		memcpy(dst, p, n);
	return dst;
}

/* ---- output as text -------------------------------------------------------- */

static void o_fields(FILE *f, const struct fr_field *x, int n)
{
	for (int i = 0; i < n; i++, x++) {
		if (x->type == FR_F_INT)
			fprintf(f, "|%s=%lld", x->name, (long long)x->i);
		else if (x->type == FR_F_TEXT)
			fprintf(f, "|%s=%.*s", x->name, (int)x->len, x->s);
		else
			fprintf(f, "|%s=NULL", x->name);
	}
}

static void o_emit(struct fr_pctx *ctx, const struct fr_req *r)
{
	FILE *f = ctx->arg;
	fprintf(f, "REQ %s|%s|%d|%s|%llu %llu %llu %llu|%llu %llu|%s", r->summary ? r->summary : "-",
		r->status ? r->status : "-", r->error, r->reason ? r->reason : "-",
		(unsigned long long)r->req_first_ns, (unsigned long long)r->req_last_ns,
		(unsigned long long)r->resp_first_ns, (unsigned long long)r->resp_last_ns,
		(unsigned long long)r->req_bytes, (unsigned long long)r->resp_bytes,
		r->endpoint ? r->endpoint : "-");
	o_fields(f, r->f, r->n_fields);
	if (r->peer_addr)
		fprintf(f, "|peer %d %u.%u.%u.%u:%u", r->peer_family, r->peer_addr[0], r->peer_addr[1],
			r->peer_addr[2], r->peer_addr[3], r->peer_port);
	fputc('\n', f);
	for (int i = 0; r->child && i < r->n_child; i++) { /* child table rows */
		fputs("  CHILD", f);
		o_fields(f, r->child + i * r->child_cols, r->child_cols);
		fputc('\n', f);
	}
}

/* The memory budget of a run: what a parser may reserve (tests set it). */
static size_t budget_max = SIZE_MAX, budget_used;

static int o_reserve(struct fr_pctx *ctx, size_t n)
{
	(void)ctx;
	if (budget_used + n > budget_max)
		return -1;
	budget_used += n;
	return 0;
}

static void o_release(struct fr_pctx *ctx, size_t n)
{
	(void)ctx;
	budget_used -= n < budget_used ? n : budget_used;
}

static void o_message(struct fr_pctx *ctx, const struct fr_msg *m)
{
	fprintf((FILE *)ctx->arg, "MSG %llu %llu %d %s %s %llu\n", (unsigned long long)m->first_ns,
		(unsigned long long)m->last_ns, m->dir, m->kind, m->topic ? m->topic : "-",
		(unsigned long long)m->bytes);
}

static void o_anomaly(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *detail)
{
	fprintf((FILE *)ctx->arg, "ANOM %llu %s %s\n", (unsigned long long)ts, kind, detail);
}

/* Feeds chunk ch in pieces: mode 0 whole, 1 split at offset k, 2 byte by
 * byte. */
static void feed_chunk(const struct fr_proto *p, void *st, struct fr_pctx *ctx, const struct chunk *ch,
		       int mode, size_t k)
{
	size_t pos = 0;
	do {
		size_t end = mode == 2 ? pos + 1 : mode == 1 && pos < k && k < ch->n ? k : ch->n;
		if (end > ch->n)
			end = ch->n;
		struct fr_chunk x = {0};
		x.dir = ch->dir;
		x.ts = ch->ts;
		x.p = guarded(ch->p + pos, end - pos);
		x.len = end - pos;
		if (ch->peer.family) {
			x.peer_family = ch->peer.family;
			x.peer_addr = ch->peer.addr;
			x.peer_port = ch->peer.port;
		}
		p->feed(st, ctx, &x);
		pos = end;
	} while (pos < ch->n);
}

/* The parser's output for connection c fed in pieces (feed_chunk's mode) */
static char *run(const struct fr_proto *p, const struct conn *c, int mode, size_t k)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct fr_pctx ctx = {0};
	ctx.arg = f;
	ctx.transport = c->udp ? FR_UDP : FR_TCP;
	ctx.emit_request = o_emit;
	ctx.emit_message = o_message;
	ctx.anomaly = o_anomaly;
	ctx.reserve = o_reserve;
	ctx.release = o_release;
	budget_used = 0;
	void *st = calloc(1, p->state_size);
	if (p->init)
		p->init(st, ctx.transport);
	uint64_t last = 0;
	for (int i = 0; i < c->nc; i++) {
		const struct chunk *ch = &c->c[i];
		if (ch->gap)
			p->gap(st, &ctx, ch->dir, ch->gap, ch->ts);
		if (ch->n)
			feed_chunk(p, st, &ctx, ch, mode, k);
		if (ch->gap_after)
			p->gap(st, &ctx, ch->dir, ch->gap_after, ch->ts);
		last = ch->ts;
	}
	p->finish(st, &ctx, FR_END_RECORDING, last + 1);
	free(st);
	fclose(f);
	return out;
}

/* ---- a case's connections ------------------------------------------------ */

struct conns {
	struct conn *v;
	int n;
	/* bit i: a request of fr_protocols[i], which may be a layer carried by
	 * another protocol's connections (gRPC in HTTP/2) */
	uint64_t req_protos;
};

static void conns_free(struct conns *cs)
{
	for (int i = 0; i < cs->n; i++) {
		for (int k = 0; k < cs->v[i].nc; k++)
			free(cs->v[i].c[k].p);
		free(cs->v[i].c);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

/* The connections the analyzer gave a protocol, from its database, with
 * the role it settled on.  0 or -1. */
static int parsed_conns(const char *db, struct conns *cs)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT node, pid, fd, gen, role, protocol, transport FROM connections "
				  "WHERE protocol IS NOT NULL ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "    %s: %s\n", db, sqlite3_errmsg(h));
		sqlite3_close(h);
		return -1;
	}
	int rc = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct conn c = {0};
		snprintf(c.node, sizeof(c.node), "%s", (const char *)sqlite3_column_text(st, 0));
		c.k.pid = (uint32_t)sqlite3_column_int64(st, 1);
		c.k.fd = (uint32_t)sqlite3_column_int64(st, 2);
		c.k.gen = (uint32_t)sqlite3_column_int64(st, 3);
		c.egress_c2s = !strcmp((const char *)sqlite3_column_text(st, 4), "client");
		c.proto = fr_proto_find((const char *)sqlite3_column_text(st, 5));
		c.udp = !strcmp((const char *)sqlite3_column_text(st, 6), "udp");
		if (!c.proto) {
			fprintf(stderr, "    %s: protocol '%s' is not registered\n", db, sqlite3_column_text(st, 5));
			rc = -1;
			continue;
		}
		int dup = 0; /* one kernel connection may be several rows (idle eviction) */
		for (int i = 0; i < cs->n; i++)
			dup |= !strcmp(cs->v[i].node, c.node) && !memcmp(&cs->v[i].k, &c.k, sizeof(c.k));
		if (dup)
			continue;
		struct conn *v = realloc(cs->v, (size_t)(cs->n + 1) * sizeof(*v));
		if (!v)
			abort();
		cs->v = v;
		cs->v[cs->n++] = c;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(h, "SELECT DISTINCT protocol FROM request_rows", -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW)
			for (int i = 0; fr_protocols[i] && i < 64; i++)
				if (!strcmp(fr_protocols[i]->name, (const char *)sqlite3_column_text(st, 0)))
					cs->req_protos |= 1ull << i;
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return rc;
}

/* Appends DATA record d to its connection, with the gaps the engine would
 * report around it (engine.c: stream positions, duplicates, snap length). */
static void add_data(struct conn *c, uint64_t ts, const struct fr_data *d)
{
	int rdir = d->dir ? 1 : 0; /* 0: egress */
	const uint8_t *p = d->payload.p;
	size_t n = d->payload.len;
	uint64_t gap = 0, gap_after = 0;
	if (!(d->flags & FR_DATA_NO_POS) && !c->udp) {
		if (!c->pos_init[rdir]) {
			c->pos_init[rdir] = 1;
			gap = d->stream_pos;
			c->next[rdir] = d->stream_pos;
		} else if (d->stream_pos > c->next[rdir]) {
			gap = d->stream_pos - c->next[rdir];
		} else if (d->stream_pos < c->next[rdir]) {
			uint64_t dup = c->next[rdir] - d->stream_pos;
			if (dup >= d->orig_len)
				return;
			if (dup >= n)
				n = 0;
			else
				p += dup, n -= (size_t)dup;
		}
		if (d->stream_pos + d->orig_len > c->next[rdir])
			c->next[rdir] = d->stream_pos + d->orig_len;
		gap_after = d->orig_len - d->payload.len;
	}
	struct chunk *v = realloc(c->c, (size_t)(c->nc + 1) * sizeof(*v));
	if (!v)
		abort();
	c->c = v;
	struct chunk *ch = &c->c[c->nc++];
	memset(ch, 0, sizeof(*ch));
	ch->dir = (rdir == 0) == (c->egress_c2s != 0) ? FR_C2S : FR_S2C;
	ch->ts = ts;
	ch->gap = gap;
	ch->gap_after = gap_after;
	ch->n = n;
	ch->p = malloc(n ? n : 1);
	memcpy(ch->p, p, n);
	if (c->udp)
		ch->peer = d->peer;
}

/* Reads the DATA records of the connections in cs from the segments of
 * path (a file or a recording folder).  0 or -1. */
static int load_data(const char *path, struct conns *cs)
{
	char err[512];
	char **list;
	int n = fr_list_segments(path, &list, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "    %s: %s\n", path, err);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		struct fr_reader *r = fr_reader_open(list[i], err, sizeof(err));
		if (!r) {
			fprintf(stderr, "    %s: %s\n", list[i], err);
			rc = -1;
			continue;
		}
		const char *node = fr_reader_header(r)->node;
		struct fr_record rec;
		while (fr_reader_next(r, &rec) > 0) {
			if (rec.kind != FR_DATA)
				continue;
			for (int j = 0; j < cs->n; j++)
				if (!memcmp(&cs->v[j].k, &rec.u.data.conn, sizeof(rec.u.data.conn)) &&
				    !strcmp(cs->v[j].node, node)) {
					add_data(&cs->v[j], rec.ts, &rec.u.data);
					break;
				}
		}
		fr_reader_free(r);
	}
	fr_free_list(list, n);
	return rc;
}

/* The parsed connections of the case at dir, with their chunks.  0 or -1
 * (the case has no input, or it does not analyze). */
static int load_case(const char *dir, struct conns *cs)
{
	struct fr_case in;
	if (fr_case_open(dir, &in) < 0)
		return -1;
	char db[] = "/tmp/fr-split-db-XXXXXX";
	int fd = mkstemp(db), rc = -1;
	if (fd >= 0) {
		close(fd);
		struct fr_opts o;
		fr_opts_default(&o);
		o.quiet = 1;
		if (fr_analyze(in.paths, in.n, db, &o) != EXIT_USAGE && parsed_conns(db, cs) == 0) {
			rc = 0;
			for (int i = 0; i < in.n; i++)
				rc |= load_data(in.paths[i], cs);
		}
		unlink(db);
	}
	fr_case_close(&in);
	return rc;
}

/* ---- the test ------------------------------------------------------------ */

/* Says where two outputs first differ: the line of each. */
static void put_diff(const char *what, const char *a, const char *b)
{
	int line = 1;
	const char *la = a, *lb = b;
	for (; *a && *a == *b; a++, b++)
		if (*a == '\n')
			line++, la = a + 1, lb = b + 1;
	fprintf(stderr, "      output line %d differs\n      whole: %.*s\n      %s: %.*s\n", line,
		(int)strcspn(la, "\n"), la, what, (int)strcspn(lb, "\n"), lb);
}

/* 0 when every way of cutting c's chunks gives the same output */
static int check_conn(const char *dir, int j, const struct conn *c)
{
	const struct fr_proto *p = c->proto;
	char *base = run(p, c, 0, 0);
	int bad = 0;
	if (!base || !*base) {
		fprintf(stderr, "    %s conn %d (%s): no output at all\n", dir, j, p->name);
		bad = 1;
	}
	if (!c->udp) {
		size_t maxn = 0;
		for (int k = 0; k < c->nc; k++)
			if (c->c[k].n > maxn)
				maxn = c->c[k].n;
		/* every offset up to 2 KiB (all message heads), then a stride */
		for (size_t k = 1; k < maxn && !bad; k += k < 2048 ? 1 : 97) {
			char *o = run(p, c, 1, k);
			if (strcmp(o, base)) {
				fprintf(stderr, "    %s conn %d (%s): split at %zu differs from whole chunks:\n", dir, j,
					p->name, k);
				put_diff("split", base, o);
				bad = 1;
			}
			free(o);
		}
		char *o = run(p, c, 2, 0);
		if (!bad && strcmp(o, base)) {
			fprintf(stderr, "    %s conn %d (%s): byte by byte differs from whole chunks:\n", dir, j,
				p->name);
			put_diff("bytes", base, o);
			bad = 1;
		}
		free(o);
	}
	free(base);
	return bad;
}

#define MAX_PROTOS 64

struct tally {
	int cases, conns, bad, unparsed;
	int proto_cases[MAX_PROTOS], proto_conns[MAX_PROTOS];
};

static int proto_index(const struct fr_proto *p)
{
	for (int i = 0; fr_protocols[i] && i < MAX_PROTOS; i++)
		if (fr_protocols[i] == p)
			return i;
	return MAX_PROTOS - 1;
}

static void check_case(const char *dir, struct tally *t)
{
	struct conns cs = {0};
	t->cases++;
	if (load_case(dir, &cs) < 0) {
		fprintf(stderr, "    %s: no input, or it does not analyze\n", dir);
		t->bad++;
		conns_free(&cs);
		return;
	}
	int seen[MAX_PROTOS] = {0};
	for (int j = 0; j < cs.n; j++) {
		int pi = proto_index(cs.v[j].proto);
		t->bad += check_conn(dir, j, &cs.v[j]);
		t->conns++;
		t->proto_conns[pi]++;
		if (!seen[pi]++)
			t->proto_cases[pi]++;
	}
	/* a layer (gRPC in HTTP/2) is covered by the cases with its requests:
	 * its bytes went through its carrier's parser just checked */
	for (int i = 0; fr_protocols[i] && i < MAX_PROTOS; i++)
		if ((cs.req_protos >> i & 1) && !seen[i]++)
			t->proto_cases[i]++;
	if (!cs.n) {
		printf("# split: %s: no connection of a registered protocol\n", dir);
		t->unparsed++;
	}
	conns_free(&cs);
}

static void walk(const char *dir, struct tally *t)
{
	if (fr_corpus_is_case(dir)) {
		check_case(dir, t);
		return;
	}
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char p[4200];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", dir, list[i]->d_name);
		if (list[i]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			walk(p, t);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

/* Every case of the corpus ($FR_CORPUS, default tests/corpus), every
 * connection the analyzer gives a protocol; every registered protocol must
 * have a case. */
TEST(split_invariance)
{
	const char *root = getenv("FR_CORPUS") ? getenv("FR_CORPUS") : "tests/corpus";
	struct tally t = {0};
	walk(root, &t);
	printf("# split: %d cases, %d connections (", t.cases, t.conns);
	int missing = 0;
	for (int i = 0; fr_protocols[i] && i < MAX_PROTOS; i++) {
		printf("%s%s: %d in %d cases", i ? "; " : "", fr_protocols[i]->name, t.proto_conns[i],
		       t.proto_cases[i]);
		missing += !t.proto_cases[i];
	}
	printf("), %d failed\n", t.bad);
	fflush(stdout);
	CHECKF(t.cases > 0, "no corpus case under %s (run from the repository root)", root);
	CHECKF(missing == 0, "%d registered protocol(s) without a corpus case under %s", missing, root);
	CHECK_EQ(t.bad, 0);
}

/* ---- regressions and edge cases ------------------------------------------- */

static char *feed_one(const struct fr_proto *p, int transport, const char *c2s, size_t n1, const char *s2c,
		      size_t n2)
{
	struct conn c = {0};
	struct chunk ch[2] = {{.dir = FR_C2S, .ts = 10, .p = (uint8_t *)c2s, .n = n1},
			      {.dir = FR_S2C, .ts = 20, .p = (uint8_t *)s2c, .n = n2}};
	c.udp = transport == FR_UDP;
	for (int i = 0; i < 2 && c.udp; i++) /* a datagram's peer: 127.0.0.1:53 */
		ch[i].peer = (struct fr_addr){.family = 4, .proto = 17, .port = 53, .addr = {127, 0, 0, 1}};
	c.c = ch;
	c.nc = s2c ? 2 : 1;
	return run(p, &c, 0, 0);
}

TEST(dns_pointer_loop)
{
	/* a question name that points at itself */
	static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
	char *o = feed_one(&fr_proto_dns, FR_UDP, (const char *)q, sizeof(q), NULL, 0);
	CHECK(strstr(o, "compression loop"));
	free(o);
}

TEST(redis_negative_bulk_len)
{
	const char *c = "*2\r\n$-5\r\nGET\r\n";
	char *o = feed_one(&fr_proto_redis, FR_TCP, c, strlen(c), NULL, 0);
	CHECK(strstr(o, "bad bulk length"));
	free(o);
}

TEST(http1_huge_content_length)
{
	const char *c = "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n";
	char *o = feed_one(&fr_proto_http1, FR_TCP, c, strlen(c), NULL, 0);
	CHECK(strstr(o, "malformed message head"));
	free(o);
}

TEST(http1_unanswered_request_is_a_row)
{
	const char *c = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
	char *o = feed_one(&fr_proto_http1, FR_TCP, c, strlen(c), NULL, 0);
	CHECK(strstr(o, "REQ GET /slow|-|1|end of recording"));
	free(o);
}

TEST(http1_path_normalisation)
{
	const char *c = "GET /api/users/42/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301/items/deadbeef99?x=1 HTTP/1.1\r\n\r\n";
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char *o = feed_one(&fr_proto_http1, FR_TCP, c, strlen(c), s, strlen(s));
	CHECK(strstr(o, "endpoint=/api/users/{id}/orders/{id}/items/{id}|"));
	free(o);
}

TEST(http1_head_bound_then_resync)
{
	/* a 20 KiB header, then a normal request: the first is an anomaly, the
	 * second is still found */
	size_t n = 20000;
	char *c = malloc(n + 200);
	int o = sprintf(c, "GET /big HTTP/1.1\r\nX-Big: ");
	memset(c + o, 'a', n);
	o += (int)n;
	o += sprintf(c + o, "\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char *out = feed_one(&fr_proto_http1, FR_TCP, c, (size_t)o, s, strlen(s));
	CHECK(strstr(out, "bound_exceeded"));
	CHECK(strstr(out, "REQ GET /next|200|0|"));
	free(out);
	free(c);
}

TEST(redis_pubsub_deliveries_are_not_replies)
{
	const char *c = "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n";
	const char *s = "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
			"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"
			">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
	char *out = feed_one(&fr_proto_redis, FR_TCP, c, strlen(c), s, strlen(s));
	CHECK(strstr(out, "REQ SUBSCRIBE ch|array|0|"));
	CHECK(!strstr(out, "reply without command"));
	CHECK(strstr(out, "MSG 20 20 1 message ch 36\n"));
	CHECK(strstr(out, "MSG 20 20 1 message ch 33\n"));
	free(out);
}

/* Three channels: one reply to the command, two more confirmations that
 * are messages; the next command pairs with its own reply. */
TEST(redis_subscribe_many_channels)
{
	const char *c = "*4\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
			"*1\r\n$4\r\nPING\r\n";
	const char *s = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
			"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
			"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:3\r\n"
			"*2\r\n$4\r\npong\r\n$0\r\n\r\n";
	char *out = feed_one(&fr_proto_redis, FR_TCP, c, strlen(c), s, strlen(s));
	CHECK(strstr(out, "REQ SUBSCRIBE a|array|0|"));
	CHECK(strstr(out, " subscribe b "));
	CHECK(strstr(out, " subscribe c "));
	CHECK(strstr(out, "REQ PING|array|0|"));
	CHECK(!strstr(out, "reply without command"));
	free(out);
}

/* RESP3: the confirmation of SUBSCRIBE is a push, and still its reply;
 * an invalidation push answers no command. */
TEST(redis_resp3_push)
{
	const char *c = "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
	const char *s = ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
			">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
			"$1\r\nv\r\n";
	char *out = feed_one(&fr_proto_redis, FR_TCP, c, strlen(c), s, strlen(s));
	CHECK(strstr(out, "REQ SUBSCRIBE ch|push|0|"));
	CHECK(strstr(out, "MSG 20 20 1 invalidate - 32\n"));
	CHECK(strstr(out, "REQ GET k|bulk|0|"));
	CHECK(!strstr(out, "reply without command"));
	free(out);
}

/* ---- kafka (analyze/protocols/kafka.c) ------------------------------------ */

/* A frame: size then body; the chunks of a connection, some with a gap. */
static size_t kframe(uint8_t *out, const uint8_t *body, size_t n)
{
	out[0] = (uint8_t)(n >> 24), out[1] = (uint8_t)(n >> 16), out[2] = (uint8_t)(n >> 8), out[3] = (uint8_t)n;
	memcpy(out + 4, body, n);
	return n + 4;
}

static char *kafka_run(struct chunk *ch, int n)
{
	struct conn c = {0};
	c.c = ch;
	c.nc = n;
	char *base = run(&fr_proto_kafka, &c, 0, 0), *bytes = run(&fr_proto_kafka, &c, 2, 0);
	if (strcmp(bytes, base)) { /* byte by byte: the same, or every check fails */
		fprintf(stderr, "    byte by byte differs:\n--- whole\n%s--- bytes\n%s", base, bytes);
		base[0] = 0;
	}
	free(bytes);
	return base;
}

/* Produce v3, client "c", acks 1, one topic array that declares 2^31-1 topics */
TEST(kafka_array_of_2g_elements)
{
	static const uint8_t b[] = {0, 0, 0, 3, 0, 0, 0, 1, 0, 1, 'c', 0xff, 0xff, 0, 1, 0, 0, 5, 0xdc, 0x7f, 0xff, 0xff, 0xff};
	uint8_t f[64];
	struct chunk ch = {.dir = FR_C2S, .ts = 10, .p = f, .n = kframe(f, b, sizeof(b))};
	char *o = kafka_run(&ch, 1);
	CHECK(strstr(o, "array declares more elements than the frame holds (Produce v3, correlation id 1)"));
	CHECK(strstr(o, "REQ Produce v3|-|1|end of recording|"));
	free(o);
}

/* Metadata v1 naming a topic of 32767 bytes in a frame of 20 */
TEST(kafka_string_longer_than_frame)
{
	static const uint8_t b[] = {0, 3, 0, 1, 0, 0, 0, 9, 0, 1, 'c', 0, 0, 0, 1, 0x7f, 0xff, 'a', 'b', 'c'};
	uint8_t f[64];
	struct chunk ch = {.dir = FR_C2S, .ts = 10, .p = f, .n = kframe(f, b, sizeof(b))};
	char *o = kafka_run(&ch, 1);
	CHECK(strstr(o, "string longer than the frame (Metadata v1"));
	free(o);
}

/* ApiVersions v3 (header v2) whose tagged-field count is a 6-byte varint */
TEST(kafka_varint_overflow)
{
	static const uint8_t b[] = {0, 18, 0, 3, 0, 0, 0, 2, 0, 1, 'c', 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0};
	uint8_t f[64];
	struct chunk ch = {.dir = FR_C2S, .ts = 10, .p = f, .n = kframe(f, b, sizeof(b))};
	char *o = kafka_run(&ch, 1);
	CHECK(strstr(o, "unsigned varint overflows 32 bits (ApiVersions v3"));
	free(o);
}

/* acks=0: no response by design, not an error; then two Fetch v4 answered
 * out of order (the second first), both paired */
TEST(kafka_acks0_and_out_of_order)
{
	static const uint8_t p0[] = {0, 0, 0, 3, 0, 0, 0, 1, 0, 1, 'c', 0xff, 0xff, 0, 0, 0, 0, 5, 0xdc, 0, 0, 0, 0};
	static const uint8_t f5[] = {0, 1, 0, 4, 0, 0, 0, 5, 0, 1, 'c', 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0xf4, 0, 0, 0, 1,
				     0, 0x10, 0, 0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0};
	uint8_t c2s[256], s2c[64];
	size_t n = kframe(c2s, p0, sizeof(p0));
	n += kframe(c2s + n, f5, sizeof(f5));
	uint8_t f6[sizeof(f5)];
	memcpy(f6, f5, sizeof(f5));
	f6[7] = 6;
	n += kframe(c2s + n, f6, sizeof(f6));
	/* Fetch v4 response: correlation id, throttle 7, no topics */
	static const uint8_t r6[] = {0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0};
	uint8_t r5[sizeof(r6)];
	memcpy(r5, r6, sizeof(r6));
	r5[3] = 5;
	size_t m = kframe(s2c, r6, sizeof(r6));
	m += kframe(s2c + m, r5, sizeof(r5));
	struct chunk ch[2] = {{.dir = FR_C2S, .ts = 10, .p = c2s, .n = n}, {.dir = FR_S2C, .ts = 20, .p = s2c, .n = m}};
	char *o = kafka_run(ch, 2);
	CHECK(strstr(o, "REQ Produce v3|-|0|acks=0: no response by design|"));
	CHECK(strstr(o, "REQ Fetch v4 t|response|0|-|10 10 20 20|") && strstr(o, "correlation_id=6|"));
	CHECK(strstr(o, "|correlation_id=5|"));
	CHECK(strstr(o, "|throttle_ms=7|"));
	CHECK(!strstr(o, "without request"));
	CHECK(!strstr(o, "end of recording"));
	free(o);
}

/* A gap swallows the end of one request and the start of the next; the
 * parser skips to the following request head and says what it skipped. */
TEST(kafka_resync_after_gap)
{
	static const uint8_t hb[] = {0, 12, 0, 1, 0, 0, 0, 1, 0, 1, 'c', 0, 1, 'g', 0, 0, 0, 1, 0, 1, 'm'};
	uint8_t a[32], b[32];
	size_t na = kframe(a, hb, sizeof(hb));
	uint8_t hb3[sizeof(hb)];
	memcpy(hb3, hb, sizeof(hb));
	hb3[7] = 3;
	size_t nb = kframe(b, hb3, sizeof(hb3));
	struct chunk ch[3] = {{.dir = FR_C2S, .ts = 10, .p = a, .n = na},
			      {.dir = FR_C2S, .ts = 11, .p = a, .n = 9, .gap_after = 30},
			      {.dir = FR_C2S, .ts = 12, .gap = 0, .p = b, .n = nb}};
	/* after the gap: the tail of request 2 (7 bytes), then request 3 */
	uint8_t tail[64];
	memcpy(tail, a + 18, 7);
	memcpy(tail + 7, b, nb);
	ch[2].p = tail;
	ch[2].n = 7 + nb;
	char *o = kafka_run(ch, 3);
	CHECK(strstr(o, "request boundary found again after skipping 7 bytes and a gap of 30"));
	CHECK(strstr(o, "REQ Heartbeat v1 g|") && strstr(o, "|correlation_id=3|"));
	free(o);
}

/* SaslAuthenticate: neither the client's nor the broker's auth bytes reach
 * the output */
TEST(kafka_sasl_authenticate_stores_no_secret)
{
	static const uint8_t rq[] = {0, 36, 0, 1, 0, 0, 0, 4, 0, 1, 'c', 0, 0, 0, 13,
				     0, 'u', 's', 'e', 'r', 0, 's', 'e', 'c', 'r', 'e', 't', '1'};
	static const uint8_t rs[] = {0, 0, 0, 4, 0, 0, 0xff, 0xff, 0, 0, 0, 7, 's', 'e', 'c', 'r', 'e', 't', '2',
				     0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t c2s[64], s2c[64];
	struct chunk ch[2] = {{.dir = FR_C2S, .ts = 10, .p = c2s, .n = kframe(c2s, rq, sizeof(rq))},
			      {.dir = FR_S2C, .ts = 20, .p = s2c, .n = kframe(s2c, rs, sizeof(rs))}};
	char *o = kafka_run(ch, 2);
	CHECK(strstr(o, "REQ SaslAuthenticate v1|NONE|0|"));
	CHECK(!strstr(o, "secret"));
	free(o);
}

/* Fetch v12 (flexible request header v2, response header v1): a response
 * carrying one zstd record batch of 2 records, high watermark 42,
 * throttle 5 */
TEST(kafka_fetch_v12_flexible_response)
{
	static const uint8_t rq[] = {0, 1, 0, 12, 0, 0, 0, 7, 0, 1, 99, 0, 255, 255, 255, 255, 0, 0, 1, 244, 0, 0, 0,
				    1, 0, 16, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 2, 7, 111, 114, 100, 101, 114, 115, 2, 0, 0, 0, 0,
				    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0,
				    16, 0, 0, 0, 0, 1, 1, 0};
	static const uint8_t rs[] = {0, 0, 0, 7, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 2, 7, 111, 114, 100, 101, 114, 115,
				    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255,
				    255, 255, 255, 72, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 59, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1,
				    0, 0, 0, 0, 0, 0, 3, 232, 0, 0, 0, 0, 0, 0, 3, 233, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
				    255, 255, 255, 255, 0, 0, 0, 2, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 0, 0, 0};
	uint8_t c2s[128], s2c[160];
	struct chunk ch[2] = {{.dir = FR_C2S, .ts = 10, .p = c2s, .n = kframe(c2s, rq, sizeof(rq))},
			      {.dir = FR_S2C, .ts = 20, .p = s2c, .n = kframe(s2c, rs, sizeof(rs))}};
	char *o = kafka_run(ch, 2);
	CHECK(strstr(o, "REQ Fetch v12 orders|NONE|0|-|"));
	CHECK(strstr(o, "|topic=orders|topics=1|partitions=1|records=2|bytes=71|acks=NULL|compression=zstd|"
			"error_code=NONE|throttle_ms=5|group_id=NULL|detail=orders/0 hw=42 records=2\n"));
	CHECK(!strstr(o, "ANOM"));
	free(o);
}

/* Produce v3 of one partition whose records are n bytes (a frame of about
 * n + 30 bytes) into out (malloc'd); its length. */
static size_t kbig_produce(uint8_t **out, size_t n)
{
	static const uint8_t h[] = {0, 0, 0, 3, 0, 0, 0, 1, 0, 1, 'c', 0xff, 0xff, 0, 1, 0, 0, 5, 0xdc,
				    0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 0};
	size_t body = sizeof(h) + 4 + n;
	uint8_t *b = calloc(1, body + 4);
	memcpy(b + 4, h, sizeof(h));
	b[4 + sizeof(h)] = (uint8_t)(n >> 24), b[5 + sizeof(h)] = (uint8_t)(n >> 16);
	b[6 + sizeof(h)] = (uint8_t)(n >> 8), b[7 + sizeof(h)] = (uint8_t)n;
	b[0] = (uint8_t)(body >> 24), b[1] = (uint8_t)(body >> 16), b[2] = (uint8_t)(body >> 8), b[3] = (uint8_t)body;
	*out = b;
	return body + 4;
}

/* A frame over the kept 256 KiB: the row still comes, its partition row
 * too, and the anomaly counts the bytes not decoded; with the memory
 * budget refusing the buffer's growth, the same, and it says so. */
TEST(kafka_frame_bound_and_memory_budget)
{
	uint8_t *f;
	size_t n = kbig_produce(&f, 300000);
	struct chunk ch[5]; /* 64 KiB writes */
	int nc = 0;
	for (size_t o = 0; o < n; o += 65536, nc++)
		ch[nc] = (struct chunk){.dir = FR_C2S, .ts = 10, .p = f + o, .n = n - o < 65536 ? n - o : 65536};
	char *o = kafka_run(ch, nc);
	CHECK(strstr(o, "bound_exceeded kafka: frame of 300038 bytes; detail from its first 262144 (37894 bytes not decoded)"));
	CHECK(strstr(o, "REQ Produce v3 t|-|1|end of recording|"));
	CHECK(strstr(o, "  CHILD|topic=t|partition=0|error_code=NULL|records=0|bytes=300000|"));
	free(o);
	budget_max = 16384;
	o = kafka_run(ch, nc);
	budget_max = SIZE_MAX;
	CHECK(strstr(o, "detail from its first 16384 (283654 bytes not decoded: analyzer memory bound reached, raise --max-memory)"));
	CHECK(strstr(o, "REQ Produce v3 t|-|1|end of recording|"));
	free(o);
	free(f);
}
