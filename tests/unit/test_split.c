/* test_split.c - split invariance of every parser, on the real traffic of
 * the corpus: each connection's chunks are fed whole, split in two at every
 * offset, and byte by byte; the output (requests and anomalies) must be the
 * same.  Every piece ends against a PROT_NONE page, so an over-read
 * crashes.  Cases that name a capture in a file `source` are imported
 * first.  Plus regressions named after what they caught. */
#define _GNU_SOURCE
#include "harness.h"

#include "../../analyze/proto.h"
#include "../../capture/pcap_import.h"
#include "../../formats/segment.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern const struct fr_proto fr_proto_http1, fr_proto_redis, fr_proto_dns;
extern const struct fr_proto fr_proto_mysql, fr_proto_pgsql; /* issue 14 */

struct chunk {
	int dir;
	uint64_t ts;
	uint8_t *p;
	size_t n;
};

struct conn {
	uint32_t pid, fd;
	int udp;
	struct chunk *c;
	int nc;
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

static void o_emit(struct fr_pctx *ctx, const struct fr_req *r)
{
	FILE *f = ctx->arg;
	fprintf(f, "REQ %s|%s|%d|%s|%llu %llu %llu %llu|%llu %llu|%s", r->summary ? r->summary : "-",
		r->status ? r->status : "-", r->error, r->reason ? r->reason : "-",
		(unsigned long long)r->req_first_ns, (unsigned long long)r->req_last_ns,
		(unsigned long long)r->resp_first_ns, (unsigned long long)r->resp_last_ns,
		(unsigned long long)r->req_bytes, (unsigned long long)r->resp_bytes,
		r->endpoint ? r->endpoint : "-");
	for (int i = 0; i < r->n_fields; i++) {
		const struct fr_field *x = &r->f[i];
		if (x->type == FR_F_INT)
			fprintf(f, "|%s=%lld", x->name, (long long)x->i);
		else if (x->type == FR_F_TEXT)
			fprintf(f, "|%s=%.*s", x->name, (int)x->len, x->s);
		else
			fprintf(f, "|%s=NULL", x->name);
	}
	fputc('\n', f);
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

/* mode 0: whole chunks; 1: each chunk split at offset k; 2: byte by byte */
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
	void *st = calloc(1, p->state_size);
	if (p->init)
		p->init(st, ctx.transport);
	static const uint8_t peer[16] = {127, 0, 0, 1};
	uint64_t last = 0;
	for (int i = 0; i < c->nc; i++) {
		const struct chunk *ch = &c->c[i];
		size_t cuts[3] = {0, ch->n, ch->n};
		int ncut = 1;
		if (mode == 1 && k > 0 && k < ch->n)
			cuts[1] = k, ncut = 2;
		size_t step = mode == 2 ? 1 : 0;
		size_t pos = 0;
		while (pos < ch->n || (ch->n == 0 && pos == 0)) {
			size_t end;
			if (step)
				end = pos + 1;
			else
				end = ncut == 2 && pos < cuts[1] ? cuts[1] : ch->n;
			struct fr_chunk x = {0};
			x.dir = ch->dir;
			x.ts = ch->ts;
			x.p = guarded(ch->p + pos, end - pos);
			x.len = end - pos;
			if (c->udp) {
				x.peer_family = 4;
				x.peer_addr = peer;
				x.peer_port = 53;
			}
			p->feed(st, &ctx, &x);
			pos = end;
			if (ch->n == 0)
				break;
		}
		last = ch->ts;
	}
	p->finish(st, &ctx, FR_END_RECORDING, last + 1);
	free(st);
	fclose(f);
	return out;
}

/* Client connections of a segment with their chunks (client->server is
 * the client's egress). */
static int load(const char *path, struct conn **out)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(path, err, sizeof(err));
	if (!r)
		return -1;
	struct conn *v = NULL;
	int n = 0;
	struct fr_record rec;
	while (fr_reader_next(r, &rec) > 0) {
		/* imported captures: flows taken up mid-stream have role unknown
		 * but are oriented from the client all the same */
		if (rec.kind == FR_CONN_OPEN && rec.u.open.role != FR_ROLE_SERVER) {
			v = realloc(v, (size_t)(n + 1) * sizeof(*v));
			memset(&v[n], 0, sizeof(v[n]));
			v[n].pid = rec.u.open.conn.pid;
			v[n].fd = rec.u.open.conn.fd;
			v[n].udp = rec.u.open.remote.proto == 17;
			n++;
		} else if (rec.kind == FR_DATA) {
			for (int i = 0; i < n; i++) {
				if (v[i].pid != rec.u.data.conn.pid || v[i].fd != rec.u.data.conn.fd)
					continue;
				struct conn *c = &v[i];
				c->c = realloc(c->c, (size_t)(c->nc + 1) * sizeof(*c->c));
				struct chunk *ch = &c->c[c->nc++];
				ch->dir = rec.u.data.dir == FR_EGRESS ? FR_C2S : FR_S2C;
				ch->ts = rec.ts;
				ch->n = rec.u.data.payload.len;
				ch->p = malloc(ch->n ? ch->n : 1);
				memcpy(ch->p, rec.u.data.payload.p, ch->n);
			}
		}
	}
	fr_reader_free(r);
	*out = v;
	return n;
}

static int check_dir(const struct fr_proto *p, const char *proto_dir)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "tests/corpus/%s", proto_dir);
	struct dirent **cases;
	int nc = scandir(dir, &cases, NULL, alphasort);
	if (nc < 0) {
		fprintf(stderr, "    no corpus at %s (run from the repository root)\n", dir);
		return -1;
	}
	int bad = 0, tested = 0;
	for (int i = 0; i < nc; i++) {
		char path[1024], src[1024], cap[1024], tmp[64] = "";
		snprintf(path, sizeof(path), "%s/%s/input.frs", dir, cases[i]->d_name);
		snprintf(src, sizeof(src), "%s/%s/source", dir, cases[i]->d_name);
		FILE *sf = access(path, F_OK) ? fopen(src, "r") : NULL;
		if (sf) { /* a case naming a capture (../shared/captures/...): import it */
			const char *files[1] = {cap};
			char err[512];
			if (fgets(cap, sizeof(cap), sf) && (cap[strcspn(cap, "\n")] = 0, 1) &&
			    (strcpy(tmp, "/tmp/fr-split-XXXXXX"), mkdtemp(tmp)) &&
			    fr_pcap_import(files, 1, tmp, NULL, NULL, err, sizeof(err)) != 2)
				snprintf(path, sizeof(path), "%s/pcap-000000.frs", tmp);
			else
				fprintf(stderr, "    %s: cannot import %s\n", src, cap), bad = 1;
			fclose(sf);
		}
		struct conn *v;
		int n = cases[i]->d_name[0] == '.' ? -1 : load(path, &v);
		if (tmp[0]) {
			unlink(path);
			rmdir(tmp);
		}
		for (int j = 0; j < n; j++) {
			char *base = run(p, &v[j], 0, 0);
			tested++;
			if (!base || !*base) {
				fprintf(stderr, "    %s conn %d: no output at all\n", path, j);
				bad = 1;
			}
			if (!v[j].udp) {
				size_t maxn = 0;
				for (int k = 0; k < v[j].nc; k++)
					if (v[j].c[k].n > maxn)
						maxn = v[j].c[k].n;
				/* every offset up to 2 KiB (all message heads), then a stride */
				for (size_t k = 1; k < maxn; k += k < 2048 ? 1 : 97) {
					char *o = run(p, &v[j], 1, k);
					if (strcmp(o, base)) {
						fprintf(stderr, "    %s conn %d: split at %zu differs:\n--- whole\n%s--- split\n%s",
							path, j, k, base, o);
						bad = 1;
						free(o);
						break;
					}
					free(o);
				}
				char *o = run(p, &v[j], 2, 0);
				if (strcmp(o, base)) {
					fprintf(stderr, "    %s conn %d: byte by byte differs:\n--- whole\n%s--- bytes\n%s",
						path, j, base, o);
					bad = 1;
				}
				free(o);
			}
			free(base);
			for (int k = 0; k < v[j].nc; k++)
				free(v[j].c[k].p);
			free(v[j].c);
		}
		if (n > 0)
			free(v);
		free(cases[i]);
	}
	free(cases);
	if (!tested) {
		fprintf(stderr, "    no connection tested in %s\n", dir);
		return -1;
	}
	return bad ? -1 : 0;
}

TEST(split_http1) { CHECK(check_dir(&fr_proto_http1, "http1") == 0); }
TEST(split_redis) { CHECK(check_dir(&fr_proto_redis, "redis") == 0); }
TEST(split_dns) { CHECK(check_dir(&fr_proto_dns, "dns") == 0); }
TEST(split_mysql) { CHECK(check_dir(&fr_proto_mysql, "mysql") == 0); }
TEST(split_pgsql) { CHECK(check_dir(&fr_proto_pgsql, "pgsql") == 0); }

/* ---- regressions and edge cases ------------------------------------------- */

static char *feed_one(const struct fr_proto *p, int transport, const char *c2s, size_t n1, const char *s2c,
		      size_t n2)
{
	struct conn c = {0};
	struct chunk ch[2] = {{FR_C2S, 10, (uint8_t *)c2s, n1}, {FR_S2C, 20, (uint8_t *)s2c, n2}};
	c.udp = transport == FR_UDP;
	c.c = ch;
	c.nc = s2c ? 2 : 1;
	return run(p, &c, 0, 0);
}

TEST(dns_pointer_loop)
{
	/* a question name that points at itself */
	static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
	char *o = feed_one(&fr_proto_dns, FR_UDP, (const char *)q, sizeof(q), NULL, 0);
	CHECK(strstr(o, "malformed"));
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
