/* test_sql.c - regressions and edge cases of the MySQL and PostgreSQL
 * parsers (analyze/protocols/mysql.c, pgsql.c) and of the statement
 * normaliser (analyze/sqlnorm.c), on hand-made byte sequences with gaps.
 * Split invariance and the real traffic are in test_split.c and the
 * corpus. */
#define _GNU_SOURCE
#include "harness.h"

#include "../../analyze/proto.h"
#include "../../analyze/sqlnorm.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

extern const struct fr_proto fr_proto_mysql, fr_proto_pgsql;

struct ev {
	int dir;
	const void *p;
	size_t n;
	uint64_t gap; /* when p is NULL: a gap of this many bytes */
};

static void o_emit(struct fr_pctx *ctx, const struct fr_req *r)
{
	FILE *f = ctx->arg;
	fprintf(f, "REQ %s|%s|%d|%s|%s", r->summary ? r->summary : "-", r->status ? r->status : "-", r->error,
		r->reason ? r->reason : "-", r->endpoint ? r->endpoint : "-");
	for (int i = 0; i < r->n_fields; i++) {
		const struct fr_field *x = &r->f[i];
		if (x->type == FR_F_INT)
			fprintf(f, "|%s=%lld", x->name, (long long)x->i);
		else if (x->type == FR_F_TEXT)
			fprintf(f, "|%s=%.*s", x->name, (int)x->len, x->s);
	}
	fputc('\n', f);
}

static void o_message(struct fr_pctx *ctx, const struct fr_msg *m)
{
	fprintf((FILE *)ctx->arg, "MSG %s %s\n", m->kind, m->topic ? m->topic : "-");
}

static void o_anomaly(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *detail)
{
	(void)ts;
	fprintf((FILE *)ctx->arg, "ANOM %s %s\n", kind, detail);
}

/* Feeds the events (each its own write, ts 10, 20, ...) and returns the
 * output; the caller frees it. */
static char *feed(const struct fr_proto *p, const struct ev *e, int n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct fr_pctx ctx = {f, FR_TCP, o_emit, o_message, o_anomaly};
	void *st = calloc(1, p->state_size);
	if (p->init)
		p->init(st, FR_TCP);
	uint64_t ts = 0;
	for (int i = 0; i < n; i++) {
		ts += 10;
		if (!e[i].p) {
			p->gap(st, &ctx, e[i].dir, e[i].gap, ts);
			continue;
		}
		struct fr_chunk c = {0};
		c.dir = e[i].dir;
		c.ts = ts;
		c.p = e[i].p;
		c.len = e[i].n;
		p->feed(st, &ctx, &c);
	}
	p->finish(st, &ctx, FR_END_RECORDING, ts + 1);
	free(st);
	fclose(f);
	return out;
}

static int has(const char *out, const char *s)
{
	if (strstr(out, s))
		return 1;
	fprintf(stderr, "    no [%s] in:\n%s", s, out);
	return 0;
}

static const char *norm(const char *s)
{
	static char out[256];
	fr_sql_normalise(s, strlen(s), out, sizeof(out));
	return out;
}

TEST(sql_normalise_literals_lists_comments)
{
	CHECK_STREQ(norm("SELECT * FROM t WHERE id IN (1, 2,3) AND name = 'x''y'  -- c\n LIMIT 10"),
		    "SELECT * FROM t WHERE id IN (?) AND name = ? LIMIT ?");
	CHECK_STREQ(norm("insert into t values ($1, $2), (E'a\\'b', 1.5e3)"), "insert into t values (?), (?)");
	CHECK_STREQ(norm("select /* hint */ \"Col\", `x` from t where a = :name and b = ?"),
		    "select \"Col\", `x` from t where a = ? and b = ?");
	CHECK_STREQ(norm("select $tag$ it's ; $tag$, x::int from t"), "select ?, x::int from t");
	CHECK_STREQ(norm("SELECT\t\n1"), "SELECT ?");
}

/* MySQL: a result set cut by a gap (snap length): the query stays open
 * with the rows seen, the server's framing is found again after the next
 * command. */
TEST(mysql_response_cut_by_gap)
{
	static const char q1[] = "\x10\0\0\0\x03SELECT a FROM t";
	static const char r1[] = "\x01\0\0\x01\x01"                     /* 1 column */
				 "\x0d\0\0\x02\x03""def\0\0\0\x01""a\0\0\0\0" /* its definition (short) */
				 "\x05\0\0\x03\xfe\0\0\x02\0"             /* EOF */
				 "\x02\0\0\x04\x01""1"                    /* row */
				 "\x02\0\0\x05\x01""2";                   /* row */
	static const char q2[] = "\x09\0\0\0\x03SELECT 2";
	static const char r2[] = "\x07\0\0\x01\0\0\0\x02\0\0\0";
	struct ev e[] = {
		{FR_C2S, q1, sizeof(q1) - 1, 0}, {FR_S2C, r1, sizeof(r1) - 1, 0}, {FR_S2C, NULL, 0, 5000},
		{FR_S2C, "garbage of the rest", 19, 0}, {FR_C2S, q2, sizeof(q2) - 1, 0}, {FR_S2C, r2, sizeof(r2) - 1, 0},
	};
	char *o = feed(&fr_proto_mysql, e, 6);
	CHECK(has(o, "REQ QUERY SELECT a FROM t|OK|0|response cut by a gap|SELECT a FROM t|command=QUERY"));
	CHECK(has(o, "|rows=2|"));
	CHECK(has(o, "REQ QUERY SELECT 2|OK|0|-|SELECT ?|"));
	free(o);
}

TEST(mysql_execute_of_unknown_statement)
{
	static const char ex[] = "\x0a\0\0\0\x17\x07\0\0\0\0\x01\0\0\0";
	static const char ok[] = "\x07\0\0\x01\0\x01\0\x02\0\0\0";
	struct ev e[] = {{FR_C2S, ex, sizeof(ex) - 1, 0}, {FR_S2C, ok, sizeof(ok) - 1, 0}};
	char *o = feed(&fr_proto_mysql, e, 2);
	CHECK(has(o, "ANOM unknown_statement"));
	CHECK(has(o, "statement=<unknown statement 7>|statement_id=7|"));
	free(o);
}

TEST(mysql_client_packet_over_the_cap)
{
	size_t n = 70000;
	char *q = malloc(n + 5);
	q[0] = (char)((n + 1) & 0xff);
	q[1] = (char)(((n + 1) >> 8) & 0xff);
	q[2] = (char)((n + 1) >> 16);
	q[3] = 0;
	q[4] = 3;
	memcpy(q + 5, "SELECT ", 7);
	memset(q + 12, 'x', n - 7);
	struct ev e[] = {{FR_C2S, q, n + 5, 0}};
	char *o = feed(&fr_proto_mysql, e, 1);
	CHECK(has(o, "ANOM bound_exceeded mysql: client packet longer than 64 KiB"));
	CHECK(has(o, "REQ QUERY SELECT xxx"));
	free(o);
	free(q);
}

/* PostgreSQL: one row per statement of a simple query, each with its tag;
 * an error stops the rest. */
TEST(pgsql_multi_statement_simple_query)
{
	static const char q[] = "Q\0\0\0\x26SELECT 1; SELECT 2;  SELECT nocol\0";
	static const char r[] = "C\0\0\0\x0dSELECT 1\0"
				"C\0\0\0\x0dSELECT 1\0"
				"E\0\0\0\x1cSERROR\0C42703\0Mno such\0\0"
				"Z\0\0\0\x05I";
	struct ev e[] = {{FR_C2S, q, sizeof(q) - 1, 0}, {FR_S2C, r, sizeof(r) - 1, 0}};
	char *o = feed(&fr_proto_pgsql, e, 2);
	CHECK(has(o, "REQ simple SELECT 1|OK|0|-|SELECT ?|kind=simple|statement=SELECT 1|"));
	CHECK(has(o, "REQ simple SELECT 2|OK|0|-|SELECT ?|kind=simple|statement=SELECT 2|"));
	CHECK(has(o, "REQ simple SELECT nocol|42703|1|-|SELECT nocol|"));
	CHECK(has(o, "|sqlstate=42703|severity=ERROR|error_message=no such\n"));
	free(o);
}

/* Bind to a statement Parsed before the recording; then a Parse and a
 * Bind of the same name carry the text. */
TEST(pgsql_bind_of_unknown_statement)
{
	static const char c1[] = "B\0\0\0\x13\0s1\0\0\0\0\x01\0\0\0\x01""7\0\0"
				 "E\0\0\0\x09\0\0\0\0\0"
				 "S\0\0\0\x04";
	static const char s1[] = "2\0\0\0\x04""C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I";
	char *o;
	struct ev e[] = {{FR_C2S, c1, sizeof(c1) - 1, 0}, {FR_S2C, s1, sizeof(s1) - 1, 0}};
	o = feed(&fr_proto_pgsql, e, 2);
	CHECK(has(o, "ANOM unknown_statement"));
	CHECK(has(o, "REQ extended <unknown statement s1>|OK|0|"));
	CHECK(has(o, "|statement_name=s1|params='7'|command_tag=SELECT 1|rows=1\n"));
	free(o);
}

/* A compressed packet (7-byte header) around a plain one into out; zlib
 * when z, else stored.  Returns its length. */
static size_t zpkt(uint8_t *out, const char *plain, size_t n, int z)
{
	uLongf clen = n;
	if (z) {
		clen = compressBound(n);
		compress2(out + 7, &clen, (const Bytef *)plain, n, 6);
	} else {
		memcpy(out + 7, plain, n);
	}
	out[0] = (uint8_t)clen, out[1] = (uint8_t)(clen >> 8), out[2] = (uint8_t)(clen >> 16);
	out[3] = 0;
	size_t u = z ? n : 0;
	out[4] = (uint8_t)u, out[5] = (uint8_t)(u >> 8), out[6] = (uint8_t)(u >> 16);
	return 7 + clen;
}

/* MySQL compressed protocol (CLIENT_COMPRESS): after the login's OK both
 * directions are compressed packets, stored or zlib; a gap inside a zlib
 * packet cuts the response it carried and the framing holds; a gap
 * between packets loses it until a write starts with a packet header. */
TEST(mysql_compressed_protocol_and_gaps)
{
	static const char greet[] = "\x49\0\0\0\x0a""5.5.5\0\x01\0\0\0""12345678\0\x20\x82\x21\x02\0\0\0\x15"
				    "\0\0\0\0\0\0\0\0\0\0""123456789012\0mysql_native_password\0";
	static const char login[] = "\x2d\0\0\x01\x20\x82\0\0\0\0\0\x01\x21"
				    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0""app\0\x08""********";
	static const char ok2[] = "\x07\0\0\x02\0\0\0\x02\0\0\0";
	static const char rs[] = "\x01\0\0\x01\x01"
				 "\x0d\0\0\x02\x03""def\0\0\0\x01""a\0\0\0\0"
				 "\x05\0\0\x03\xfe\0\0\x02\0"
				 "\x02\0\0\x04\x01""1"
				 "\x05\0\0\x05\xfe\0\0\x02\0";
	static const char ok1[] = "\x07\0\0\x01\0\0\0\x02\0\0\0";
	uint8_t b[8][256];
	size_t n[8];
	n[0] = zpkt(b[0], "\x09\0\0\0\x03SELECT 1", 13, 0);
	n[1] = zpkt(b[1], rs, sizeof(rs) - 1, 1);
	n[2] = zpkt(b[2], "\x09\0\0\0\x03SELECT 2", 13, 1);
	n[3] = zpkt(b[3], rs, sizeof(rs) - 1, 1);
	n[4] = zpkt(b[4], "\x09\0\0\0\x03SELECT 3", 13, 0);
	n[5] = zpkt(b[5], ok1, sizeof(ok1) - 1, 1);
	n[6] = zpkt(b[6], "\x09\0\0\0\x03SELECT 4", 13, 0);
	n[7] = zpkt(b[7], ok1, sizeof(ok1) - 1, 0);
	struct ev e[] = {
		{FR_S2C, greet, sizeof(greet) - 1, 0}, {FR_C2S, login, sizeof(login) - 1, 0},
		{FR_S2C, ok2, sizeof(ok2) - 1, 0}, {FR_C2S, b[0], n[0], 0}, {FR_S2C, b[1], n[1], 0},
		{FR_C2S, b[2], n[2], 0}, {FR_S2C, b[3], 12, 0}, {FR_S2C, NULL, 0, n[3] - 14},
		{FR_S2C, b[3] + n[3] - 2, 2, 0}, {FR_C2S, b[4], n[4], 0}, {FR_S2C, b[5], n[5], 0},
		{FR_C2S, NULL, 0, 100}, {FR_C2S, b[6], n[6], 0}, {FR_S2C, b[7], n[7], 0},
	};
	char *o = feed(&fr_proto_mysql, e, sizeof(e) / sizeof(e[0]));
	CHECK(has(o, "REQ LOGIN|OK|0|"));
	CHECK(has(o, "REQ QUERY SELECT 1|OK|0|-|SELECT ?|command=QUERY|statement=SELECT 1|rows=1|"));
	CHECK(has(o, "REQ QUERY SELECT 2|-|1|response cut by a gap|"));
	CHECK(has(o, "REQ QUERY SELECT 3|OK|0|-|"));
	CHECK(has(o, "REQ QUERY SELECT 4|OK|0|-|"));
	CHECK(!strstr(o, "parse_error"));
	CHECK(!strstr(o, "not_decoded"));
	free(o);
}
