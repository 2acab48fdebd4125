/* test_http2.c - the HTTP/2 parser (analyze/protocols/http2.c) and its gRPC
 * layer on frames built here, each test named after what it guards: the
 * row of a stream and its timing, RST_STREAM and GOAWAY, CONTINUATION and
 * its bound, padding and priority, server push, the h2c upgrade prologue,
 * a connection taken up mid-stream, resynchronisation after a gap, and the
 * gRPC status of a trailers-only response.  (Real traffic: the corpus and
 * tests/e2e/test_http2_e2e.sh; split invariance: test_split.c.) */
#define _GNU_SOURCE
#include "harness.h"

#include "../../analyze/proto.h"

#include <stdlib.h>
#include <string.h>

extern const struct fr_proto fr_proto_http2;

/* ---- building frames ---------------------------------------------------- */

struct buf {
	uint8_t b[1 << 17];
	size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void frame(struct buf *o, uint8_t type, uint8_t flags, uint32_t sid, const void *p, size_t n)
{
	uint8_t h[9] = {(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
			(uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
	put(o, h, 9);
	put(o, p, n);
}

/* An HPACK block: "name\0value\0..." as literals without indexing (new
 * names), or "#N" for the indexed field N of the static table. */
static size_t block(uint8_t *out, const char *const *f)
{
	size_t n = 0;
	for (int i = 0; f[i]; i += f[i][0] == '#' ? 1 : 2) {
		if (f[i][0] == '#') {
			out[n++] = (uint8_t)(0x80 | atoi(f[i] + 1));
			continue;
		}
		size_t a = strlen(f[i]), b = strlen(f[i + 1]);
		out[n++] = 0x00;
		out[n++] = (uint8_t)a;
		memcpy(out + n, f[i], a), n += a;
		out[n++] = (uint8_t)b;
		memcpy(out + n, f[i + 1], b), n += b;
	}
	return n;
}

static void headers(struct buf *o, uint8_t flags, uint32_t sid, const char *const *f)
{
	uint8_t b[4096];
	frame(o, 1, flags | 0x4, sid, b, block(b, f));
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- running the parser ------------------------------------------------- */

static void o_emit(struct fr_pctx *ctx, const struct fr_req *r)
{
	FILE *f = ctx->arg;
	fprintf(f, "REQ %s|%s|%d|%s|%llu %llu %llu %llu", r->summary ? r->summary : "-", r->status ? r->status : "-",
		r->error, r->reason ? r->reason : "-", (unsigned long long)r->req_first_ns,
		(unsigned long long)r->req_last_ns, (unsigned long long)r->resp_first_ns,
		(unsigned long long)r->resp_last_ns);
	fprintf(f, "|%s", r->layer ? r->layer->name : "http2");
	for (int i = 0; i < r->n_fields; i++) {
		const struct fr_field *x = &r->f[i];
		if (x->type == FR_F_INT)
			fprintf(f, "|%s=%lld", x->name, (long long)x->i);
		else if (x->type == FR_F_TEXT)
			fprintf(f, "|%s=%.*s", x->name, (int)x->len, x->s);
	}
	fputc('\n', f);
}

static void o_anomaly(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *detail)
{
	fprintf((FILE *)ctx->arg, "ANOM %llu %s %s\n", (unsigned long long)ts, kind, detail);
}

/* One step of a conversation: bytes of a direction at a time, or a gap. */
struct step {
	int dir;
	uint64_t ts;
	const struct buf *b;
	uint64_t gap;
};

/* The parser's output for the steps, each chunk fed byte by byte when
 * bytewise (the whole-chunk output must be the same). */
static char *run(const struct step *s, int n, int bytewise)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct fr_pctx ctx = {0};
	ctx.arg = f;
	ctx.emit_request = o_emit;
	ctx.anomaly = o_anomaly;
	void *st = calloc(1, fr_proto_http2.state_size);
	fr_proto_http2.init(st, FR_TCP);
	uint64_t last = 0;
	for (int i = 0; i < n; i++) {
		if (s[i].gap) {
			fr_proto_http2.gap(st, &ctx, s[i].dir, s[i].gap, s[i].ts);
			continue;
		}
		size_t step = bytewise ? 1 : s[i].b->n;
		for (size_t o = 0; o < s[i].b->n; o += step) {
			struct fr_chunk c = {0};
			c.dir = s[i].dir;
			c.ts = s[i].ts;
			c.p = s[i].b->b + o;
			c.len = o + step <= s[i].b->n ? step : s[i].b->n - o;
			fr_proto_http2.feed(st, &ctx, &c);
		}
		last = s[i].ts;
	}
	fr_proto_http2.finish(st, &ctx, FR_END_RECORDING, last + 1);
	free(st);
	fclose(f);
	return out;
}

/* run() whole and byte by byte: the same, and returned */
static char *both(const struct step *s, int n)
{
	char *a = run(s, n, 0), *b = run(s, n, 1);
	if (strcmp(a, b)) {
		fprintf(stderr, "    byte by byte differs:\n--- whole\n%s--- bytes\n%s", a, b);
		free(a);
		a = NULL;
	}
	free(b);
	return a;
}

#define HAS(out, s) CHECKF(strstr(out, s), "no \"%s\" in:\n%s", s, out)

static struct buf c1, c2, s1, s2, s3;

static void reset(void)
{
	c1.n = c2.n = s1.n = s2.n = s3.n = 0;
}

/* ---- the tests ----------------------------------------------------------- */

TEST(http2_prior_knowledge_get_row_and_timing)
{
	reset();
	put(&c1, preface, 24);
	frame(&c1, 4, 0, 0, "", 0);
	headers(&c1, 0x1, 1, (const char *const[]){"#2", "#6", ":path", "/api/items/42?x=1", ":authority", "h", NULL});
	frame(&s1, 4, 0, 0, "", 0);
	headers(&s1, 0, 1, (const char *const[]){"#8", "content-type", "text/plain", NULL});
	frame(&s2, 0, 0x1, 1, "hello", 5);
	struct step st[] = {{0, 10, &c1, 0}, {1, 20, &s1, 0}, {1, 30, &s2, 0}};
	char *o = both(st, 3);
	CHECK(o);
	HAS(o, "REQ GET /api/items/42|200|0|-|10 10 20 30|http2|stream_id=1|method=GET|scheme=http|authority=h|"
	       "path=/api/items/42?x=1|endpoint=/api/items/{id}|status=200|resp_content_type=text/plain|");
	HAS(o, "|resp_body_bytes=5|hpack_unknown=0\n");
	free(o);
}

TEST(http2_rst_stream_cancel_is_an_error)
{
	reset();
	put(&c1, preface, 24);
	headers(&c1, 0x1, 1, (const char *const[]){"#2", "#6", "#4", NULL});
	frame(&c2, 3, 0, 1, "\0\0\0\x08", 4);
	struct step st[] = {{0, 10, &c1, 0}, {0, 20, &c2, 0}};
	char *o = both(st, 2);
	CHECK(o);
	HAS(o, "REQ GET /|-|1|RST_STREAM CANCEL from the client|");
	HAS(o, "|rst_error=CANCEL|");
	free(o);
}

TEST(http2_goaway_refuses_streams_above_last)
{
	reset();
	put(&c1, preface, 24);
	headers(&c1, 0x1, 1, (const char *const[]){"#2", "#6", ":path", "/one", NULL});
	headers(&c1, 0x1, 3, (const char *const[]){"#2", "#6", ":path", "/two", NULL});
	frame(&s1, 7, 0, 0, "\0\0\0\x01\0\0\0\x0b", 8); /* last 1, ENHANCE_YOUR_CALM */
	struct step st[] = {{0, 10, &c1, 0}, {1, 20, &s1, 0}};
	char *o = both(st, 2);
	CHECK(o);
	HAS(o, "REQ GET /two|-|1|GOAWAY ENHANCE_YOUR_CALM: not processed (last stream 1)|");
	HAS(o, "REQ GET /one|-|1|end of recording|");
	HAS(o, "|goaway_error=ENHANCE_YOUR_CALM|");
	HAS(o, "ANOM 20 goaway http2: GOAWAY ENHANCE_YOUR_CALM from the server (last stream 1)");
	free(o);
}

TEST(http2_continuation_padding_priority_push)
{
	reset();
	put(&c1, preface, 24);
	/* HEADERS PADDED|PRIORITY, the block split over a CONTINUATION */
	uint8_t b[512], p[600];
	size_t n = block(b, (const char *const[]){"#3", "#6", ":path", "/up", "content-type", "a/b", NULL});
	size_t k = 0;
	p[k++] = 3;                          /* pad length */
	memcpy(p + k, "\x80\0\0\0\x10", 5), k += 5; /* exclusive dependency, weight */
	memcpy(p + k, b, 4), k += 4;
	memcpy(p + k, "\0\0\0", 3), k += 3;
	frame(&c1, 1, 0x8 | 0x20, 1, p, k);
	frame(&c1, 9, 0x4, 1, b + 4, n - 4);
	frame(&c1, 0, 0x8 | 0x1, 1, "\x02" "abc\0\0", 6); /* DATA: 3 bytes, 2 of padding */
	/* the server pushes /pushed (promised stream 2) and answers both */
	n = block(b, (const char *const[]){"#2", "#6", ":path", "/pushed", NULL});
	memcpy(p, "\0\0\0\x02", 4);
	memcpy(p + 4, b, n);
	frame(&s1, 5, 0x4, 1, p, n + 4);
	headers(&s1, 0x1, 1, (const char *const[]){"#8", NULL});
	headers(&s1, 0, 2, (const char *const[]){"#8", NULL});
	frame(&s1, 0, 0x1, 2, "pp", 2);
	struct step st[] = {{0, 10, &c1, 0}, {1, 20, &s1, 0}};
	char *o = both(st, 2);
	CHECK(o);
	HAS(o, "REQ POST /up|200|0|-|10 10 20 20|http2|stream_id=1|");
	HAS(o, "|req_content_type=a/b|");
	HAS(o, "|req_body_bytes=3|");
	HAS(o, "REQ GET /pushed|200|0|server push|20 20 20 20|");
	CHECK(!strstr(o, "ANOM"));
	free(o);
}

TEST(http2_continuation_flood_is_bounded)
{
	reset();
	put(&c1, preface, 24);
	static uint8_t junk[16000];
	memset(junk, 0x82, sizeof(junk)); /* :method GET, over and over */
	frame(&c1, 1, 0, 1, junk, sizeof(junk));
	for (int i = 0; i < 5; i++)
		frame(&c1, 9, i == 4 ? 0x4 : 0, 1, junk, sizeof(junk));
	headers(&c1, 0x1, 3, (const char *const[]){"#2", "#6", "#4", NULL});
	struct step st[] = {{0, 10, &c1, 0}};
	char *o = run(st, 1, 0);
	HAS(o, "bound_exceeded http2: header block of stream 1 over 64 KiB or damaged; not decoded");
	HAS(o, "REQ GET /|-|1|end of recording|");
	free(o);
}

TEST(http2_upgrade_prologue_is_stream_1)
{
	reset();
	const char *req = "GET /robots.txt HTTP/1.1\r\nHost: example\r\nConnection: Upgrade, HTTP2-Settings\r\n"
			  "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
	put(&c1, req, strlen(req));
	put(&c2, preface, 24);
	frame(&c2, 4, 0, 0, "", 0);
	const char *r101 = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
	put(&s1, r101, strlen(r101));
	frame(&s1, 4, 0, 0, "", 0);
	headers(&s1, 0, 1, (const char *const[]){"#8", NULL});
	frame(&s1, 0, 0x1, 1, "ok", 2);
	struct step st[] = {{0, 10, &c1, 0}, {1, 20, &s1, 0}, {0, 30, &c2, 0}};
	char *o = both(st, 3);
	CHECK(o);
	HAS(o, "REQ GET /robots.txt|200|0|-|10 10 20 20|http2|stream_id=1|method=GET|scheme=http|authority=example|");
	free(o);
}

/* "POST" starts with the preface's "P": an upgrade request all the same,
 * and its body comes before the preface */
TEST(http2_upgrade_post_with_a_body)
{
	reset();
	const char *req = "POST /form HTTP/1.1\r\nHost: example\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\na=1";
	put(&c1, req, strlen(req));
	put(&c1, preface, 24);
	const char *r101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n";
	put(&s1, r101, strlen(r101));
	frame(&s1, 4, 0, 0, "", 0);
	headers(&s1, 0x1, 1, (const char *const[]){":status", "405", NULL});
	struct step st[] = {{0, 10, &c1, 0}, {1, 20, &s1, 0}};
	char *o = both(st, 2);
	CHECK(o);
	HAS(o, "REQ POST /form|405|0|-|10 10 20 20|http2|stream_id=1|");
	HAS(o, "|req_body_bytes=3|");
	CHECK(!strstr(o, "ANOM"));
	free(o);
}

TEST(http2_midstream_placeholders_and_share)
{
	reset();
	/* no preface: the connection began before; index 62 was never seen */
	uint8_t b[64] = {0x83, 0x86, 0xbe, 0xbf};
	frame(&c1, 1, 0x5, 7, b, 4);
	headers(&s1, 0x1, 7, (const char *const[]){"#8", NULL});
	struct step st[] = {{0, 10, &c1, 0}, {1, 20, &s1, 0}};
	char *o = both(st, 2);
	CHECK(o);
	HAS(o, "REQ POST <unknown:62>|200|0|-|");
	HAS(o, "|path=<unknown:62>|");
	HAS(o, "|hpack_unknown=2\n");
	HAS(o, "hpack_unknown_entries http2: 2 of 5 header fields referenced HPACK entries not seen "
	       "(from before the recording, or lost in a gap): 60.0% recovered;");
	free(o);
}

TEST(http2_resync_after_a_gap_forgets_the_table)
{
	reset();
	put(&c1, preface, 24);
	/* /a inserted into the table (literal with incremental indexing) */
	frame(&c1, 1, 0x5, 1, (const uint8_t[]){0x82, 0x86, 0x44, 0x02, '/', 'a'}, 6);
	/* a DATA frame of 10 bytes of which 5 arrive, then 100 bytes lost:
	 * the frames are lost too, and maybe header blocks with them */
	frame(&c2, 0, 0, 1, "0123456789", 10);
	c2.n -= 5;
	frame(&s1, 1, 0x5, 3, (const uint8_t[]){0x82, 0x86, 0xbe}, 3);
	frame(&s1, 1, 0x5, 5, (const uint8_t[]){0x82, 0x86, 0x84}, 3);
	struct step st[] = {{0, 10, &c1, 0}, {0, 20, &c2, 0}, {0, 21, NULL, 100}, {0, 30, &s1, 0}};
	char *o = run(st, 4, 0);
	HAS(o, "ANOM 30 resync http2: frames found again after 0 bytes");
	HAS(o, "REQ GET /a|-|1|end of recording|");           /* stream 1 */
	HAS(o, "REQ GET <unknown:62>|-|1|end of recording|"); /* stream 3: /a forgotten */
	HAS(o, "REQ GET /|-|1|end of recording|");            /* stream 5: the static table */
	free(o);
}

TEST(grpc_trailers_only_status_and_message)
{
	reset();
	put(&c1, preface, 24);
	headers(&c1, 0, 1, (const char *const[]){"#3", "#6", ":path", "/pkg.Svc/Do", "content-type", "application/grpc", NULL});
	frame(&c1, 0, 0x1, 1, "\0\0\0\0\x02hi", 7);
	headers(&s1, 0x1, 1, (const char *const[]){"#8", "content-type", "application/grpc", "grpc-status", "7",
						     "grpc-message", "no%20way", NULL});
	struct step st[] = {{0, 10, &c1, 0}, {1, 20, &s1, 0}};
	char *o = both(st, 2);
	CHECK(o);
	HAS(o, "REQ /pkg.Svc/Do|PERMISSION_DENIED|1|-|10 10 20 20|grpc|");
	HAS(o, "|service=pkg.Svc|method=Do|call_type=unary|grpc_status=7|grpc_message=no way|req_messages=1|"
	       "resp_messages=0|compressed=0\n");
	free(o);
}
