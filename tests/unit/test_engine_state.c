/* test_engine_state.c - connections that began before the input (format
 * 2.1): a segment that starts with CONN_STATE (and CONN_HEAD) records, as a
 * ring's oldest segment does after rotation, analyzes with addresses, peer
 * links and stream positions (no false gap, no "reply lost in gap"), and,
 * with the kept head, with the protocol state set up before (Redis HELLO
 * 3: resp = 3); analyze --from on the whole recording gives the same rows.
 * Input: the redis/resp3 corpus case (HELLO 3, HGETALL, ...), cut before
 * its HGETALL. */
#define _GNU_SOURCE
#include "engine_test.h"
#include "harness.h"

#include "../../analyze/engine.h"
#include "../../formats/cli.h"
#include "../../formats/conntab.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define SRC "tests/corpus/redis/resp3/input.frs"
#define CUT 1795558480549644000ull /* the HGETALL of the first connection */

static int add_rec(void *arg, struct fr_record *rec)
{
	return fr_writer_add(arg, rec);
}

/* Writes SRC cut at CUT as a recorder's segment after rotation: the
 * metadata, the state of the connections open at CUT (with their heads
 * when head_max > 0), then the records from CUT on.  0 or -1. */
static int rotated(const char *dst, uint32_t head_max)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(SRC, err, sizeof(err));
	if (!r)
		return -1;
	struct fr_writer *w = fr_writer_open(dst, fr_reader_header(r), NULL, err, sizeof(err));
	struct fr_conntab_opts o;
	fr_conntab_opts_default(&o);
	o.head_max = head_max;
	struct fr_conntab *t = fr_conntab_new(&o);
	if (!w || !t)
		return -1;
	struct fr_record rec;
	int started = 0;
	while (fr_reader_next(r, &rec) > 0) {
		if (rec.kind == FR_PROCESS) {
			fr_writer_add(w, &rec);
			continue;
		}
		if (rec.ts < CUT && !started) {
			fr_conntab_add(t, &rec);
			continue;
		}
		if (!started) {
			started = 1;
			fr_conntab_emit(t, CUT, FR_EMIT_STATES | FR_EMIT_HEADS, add_rec, w);
		}
		fr_writer_add(w, &rec);
	}
	fr_conntab_free(t);
	fr_reader_free(r);
	return fr_writer_close(w);
}

/* The dump from its connections on (the inputs' own rows differ). */
static char *rows_of(const char *db)
{
	char *b = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&b, &n);
	fr_dump_path(db, f);
	fclose(f);
	char *c = strstr(b, "# connections");
	char *s = strdup(c ? c : "");
	free(b);
	return s;
}

TEST(engine_state_and_head_after_rotation)
{
	char in[300], dbp[300], from[300];
	snprintf(in, sizeof(in), "%s/rotated.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/a.db", t_tmpdir());
	snprintf(from, sizeof(from), "%s/from.db", t_tmpdir());
	CHECK_EQ(rotated(in, 16384), 0);
	CHECK_EQ(t_analyze(in, dbp, 0, 0), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	/* the pair that began before the input: its head replayed, no gap,
	 * both ends known and linked */
	CHECK_EQ(t_q1(db, "select count(*) from connections where head = 1 and gap_bytes = 0 and "
			"local_addr = '127.0.0.1' and peer_conn_id is not null"), 2);
	CHECK_EQ(t_q1(db, "select count(*) from anomalies"), 0);
	/* the HELLO before it is not a row; the HGETALL after it is, in RESP3 */
	CHECK_EQ(t_q1(db, "select count(*) from requests where summary like 'HELLO%' and conn_id <= 2"), 0);
	CHECK_EQ(t_q1(db, "select count(*) from requests r join redis x on x.request_id = r.id "
			"where r.summary = 'HGETALL h' and r.status = 'map' and x.resp = 3 and r.error = 0"), 2);
	/* the pair that began in the input: no head needed */
	CHECK_EQ(t_q1(db, "select count(*) from connections where head is null"), 2);
	sqlite3_close(db);
	/* --from on the whole recording states the window's start the same way */
	CHECK_EQ(t_analyze(SRC, from, 0, CUT), EXIT_OK);
	char *a = rows_of(dbp), *b = rows_of(from);
	CHECKF(!strcmp(a, b), "--from differs from the rotated segment:\n%s\n---\n%s", a, b);
	free(a);
	free(b);
}

TEST(engine_state_without_head_is_a_gap_not_a_failure)
{
	char in[300], dbp[300];
	snprintf(in, sizeof(in), "%s/nohead.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/b.db", t_tmpdir());
	CHECK_EQ(rotated(in, 0), 0);
	CHECK_EQ(t_analyze(in, dbp, 2, 0), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	/* 22 bytes of HELLO out and 146 of its reply in, missing: one gap each
	 * way, said at once */
	CHECK_EQ(t_q1(db, "select count(*) from connections where head = 0 and gap_bytes = 168 and "
			"peer_conn_id is not null"), 2);
	CHECK_EQ(t_q1(db, "select count(*) from anomalies where kind = 'gap' and detail like "
			"'before the input, no head kept%'"), 4);
	/* the first command after the start is paired, not "lost in gap" */
	CHECK_EQ(t_q1(db, "select count(*) from requests where summary = 'HGETALL h' and status = 'map' "
			"and error = 0"), 2);
	CHECK_EQ(t_q1(db, "select count(*) from requests where error = 1"), 0);
	/* no HELLO seen: the version is not known */
	CHECK_EQ(t_q1(db, "select count(*) from requests r join redis x on x.request_id = r.id "
			"where r.conn_id <= 2 and x.resp is null"), 2);
	sqlite3_close(db);
}

/* ---- a kept head that ends before the input starts -------------------------
 * Its bound reached (the usual case for a long-lived connection), the head
 * is replayed and then a gap reaches the input's first byte: the parser
 * must take up the replies that follow, bulk strings included (a Redis
 * GET), not skip them as it may skip what follows a loss. */

static void data(struct fr_record *r, int dir, uint64_t pos, uint64_t ts, const char *s)
{
	t_data(r, dir, pos, ts, s, (uint32_t)strlen(s), 0);
}

TEST(engine_state_head_bound_then_bulk_replies)
{
	static const char hello[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
	static const char reply[] = "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n";
	const char *win[][2] = {
		{"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n", "$2\r\nv1\r\n"},
		{"*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n", "$2\r\nv2\r\n"},
		{"*3\r\n$3\r\nSET\r\n$2\r\nk3\r\n$2\r\nv3\r\n", "+OK\r\n"},
	};
	char path[300], dbp[300], err[256];
	snprintf(path, sizeof(path), "%s/bound.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/c.db", t_tmpdir());
	struct fr_writer *w = t_writer(path, err, sizeof(err));
	struct fr_conntab_opts co;
	fr_conntab_opts_default(&co);
	co.head_max = 16; /* both directions of the head end before the window */
	struct fr_conntab *t = fr_conntab_new(&co);
	CHECK(w && t);
	struct fr_record r;
	t_open(&r, 10, 6379);
	fr_conntab_add(t, &r);
	data(&r, FR_EGRESS, 0, 11, hello);
	fr_conntab_add(t, &r);
	data(&r, FR_INGRESS, 0, 12, reply);
	fr_conntab_add(t, &r);
	/* the segment after rotation: the state, the head, then the window */
	CHECK_EQ(fr_conntab_emit(t, 100, FR_EMIT_STATES | FR_EMIT_HEADS, add_rec, w), 0);
	uint64_t pos[2] = {sizeof(hello) - 1, sizeof(reply) - 1};
	for (int i = 0; i < 3; i++) {
		data(&r, FR_EGRESS, pos[0], 101 + 2 * i, win[i][0]);
		CHECK_EQ(fr_writer_add(w, &r), 0);
		pos[0] += strlen(win[i][0]);
		data(&r, FR_INGRESS, pos[1], 102 + 2 * i, win[i][1]);
		CHECK_EQ(fr_writer_add(w, &r), 0);
		pos[1] += strlen(win[i][1]);
	}
	fr_conntab_free(t);
	CHECK_EQ(fr_writer_close(w), 0);
	CHECK_EQ(t_analyze(path, dbp, 0, 0), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	CHECK_EQ(t_q1(db, "select head from connections"), 1);
	CHECK_EQ(t_q1(db, "select count(*) from requests where error = 0 and "
			"((summary = 'GET k1' and status = 'bulk') or (summary = 'GET k2' and status = 'bulk') or "
			"(summary = 'SET k3' and status = 'simple'))"), 3);
	CHECK_EQ(t_q1(db, "select count(*) from requests"), 3);
	sqlite3_close(db);
}

/* ---- HTTP/2: the HPACK table across a kept head ------------------------------
 * The decision (issue 13): a kept head rebuilds each direction's HPACK
 * table; when the window starts right where the head ends the table is
 * exact and every reference decodes.  When a gap separates them, the
 * blocks sent in the gap may have inserted entries, which shift every
 * older entry's index by a number we cannot know: guessing it (say, none
 * inserted) names fields wrongly, as below where the head's entry 63 is
 * the path but the wire's 63 is the authority.  So the table is forgotten
 * at the gap: references to entries from before it are "<unknown:N>" with
 * N the wire's index, entries inserted after it are known at their right
 * indices, and the share recovered is the hpack_unknown_entries anomaly. */

/* HEADERS (END_STREAM | END_HEADERS) of stream sid with block b[0..n) */
static size_t h2headers(uint8_t *out, uint32_t sid, const uint8_t *b, size_t n)
{
	uint8_t h[9] = {0, 0, (uint8_t)n, 1, 0x5, 0, 0, 0, (uint8_t)sid};
	memcpy(out, h, 9);
	memcpy(out + 9, b, n);
	return 9 + n;
}

/* A connection whose client stream 1 (in the head) inserts :authority h
 * and :path /a, stream 3 inserts /c (after the head when head_max is 51:
 * the client's head ends with stream 1), then the window: stream 5 refers
 * to /a and h, stream 7 inserts /b, stream 9 refers to it.  Analyzed into
 * db. */
static int h2_rotated(const char *path, const char *dbp, uint32_t head_max)
{
	static const uint8_t b1[] = {0x82, 0x86, 0x44, 0x02, '/', 'a', 0x41, 0x01, 'h'};
	static const uint8_t b3[] = {0x82, 0x86, 0x44, 0x02, '/', 'c', 0xbf};
	static const uint8_t b5[] = {0x82, 0x86, 0xc0, 0xbf};
	static const uint8_t b7[] = {0x82, 0x86, 0x44, 0x02, '/', 'b', 0xc0};
	static const uint8_t b9[] = {0x82, 0x86, 0xbe, 0xc0};
	static const uint8_t st200[] = {0x88};
	static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
	uint8_t c[256], s[256];
	size_t cn = 0, sn = 0;
	memcpy(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24), cn = 24;
	memcpy(c + cn, settings, 9), cn += 9;
	cn += h2headers(c + cn, 1, b1, sizeof(b1));
	size_t c1 = cn;
	cn += h2headers(c + cn, 3, b3, sizeof(b3));
	size_t c3 = cn;
	memcpy(s, settings, 9), sn = 9;
	sn += h2headers(s + sn, 1, st200, 1);
	size_t s1 = sn;
	sn += h2headers(s + sn, 3, st200, 1);
	size_t s3 = sn;
	cn += h2headers(c + cn, 5, b5, sizeof(b5));
	cn += h2headers(c + cn, 7, b7, sizeof(b7));
	cn += h2headers(c + cn, 9, b9, sizeof(b9));
	for (uint32_t sid = 5; sid <= 9; sid += 2)
		sn += h2headers(s + sn, sid, st200, 1);
	char err[256];
	struct fr_writer *w = t_writer(path, err, sizeof(err));
	struct fr_conntab_opts co;
	fr_conntab_opts_default(&co);
	co.head_max = head_max;
	struct fr_conntab *t = fr_conntab_new(&co);
	if (!w || !t)
		return -1;
	struct fr_record r;
	t_open(&r, 10, 8080);
	fr_conntab_add(t, &r);
	t_data(&r, FR_EGRESS, 0, 11, c, c1, 0);
	fr_conntab_add(t, &r);
	t_data(&r, FR_INGRESS, 0, 12, s, s1, 0);
	fr_conntab_add(t, &r);
	t_data(&r, FR_EGRESS, c1, 13, c + c1, c3 - c1, 0);
	fr_conntab_add(t, &r);
	t_data(&r, FR_INGRESS, s1, 14, s + s1, s3 - s1, 0);
	fr_conntab_add(t, &r);
	/* the segment after rotation: the state, the head, then the window */
	int rc = fr_conntab_emit(t, 100, FR_EMIT_STATES | FR_EMIT_HEADS, add_rec, w);
	t_data(&r, FR_EGRESS, c3, 101, c + c3, cn - c3, 0);
	rc |= fr_writer_add(w, &r);
	t_data(&r, FR_INGRESS, s3, 102, s + s3, sn - s3, 0);
	rc |= fr_writer_add(w, &r);
	fr_conntab_free(t);
	rc |= fr_writer_close(w);
	return rc ? -1 : t_analyze(path, dbp, 0, 0) == EXIT_OK ? 0 : -1;
}

TEST(engine_state_http2_hpack_head_then_gap)
{
	char path[300], dbp[300];
	sqlite3 *db;
	/* the whole start kept: the tables are exact */
	snprintf(path, sizeof(path), "%s/h2all.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/h2all.db", t_tmpdir());
	CHECK_EQ(h2_rotated(path, dbp, 16384), 0);
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	CHECK_EQ(t_q1(db, "select count(*) from requests r join http2 x on x.request_id = r.id where "
			"(x.stream_id = 5 and x.path = '/a' and x.authority = 'h') or "
			"(x.stream_id in (7, 9) and x.path = '/b' and x.authority = 'h')"), 3);
	CHECK_EQ(t_q1(db, "select count(*) from anomalies where kind = 'hpack_unknown_entries'"), 0);
	sqlite3_close(db);
	/* the client's head ends before stream 3, which inserted /c: what
	 * came before the gap is unknown, at the wire's indices */
	snprintf(path, sizeof(path), "%s/h2gap.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/h2gap.db", t_tmpdir());
	CHECK_EQ(h2_rotated(path, dbp, 51), 0);
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	CHECK_EQ(t_q1(db, "select head from connections"), 1);
	CHECK_EQ(t_q1(db, "select count(*) from anomalies where kind = 'gap' and "
			"detail like 'before the input, after the kept head: 16 bytes%'"), 1);
	CHECK_EQ(t_q1(db, "select count(*) from requests r join http2 x on x.request_id = r.id where "
			"x.stream_id = 5 and x.path = '<unknown:64>' and x.hpack_unknown = 2 and r.status = '200'"), 1);
	CHECK_EQ(t_q1(db, "select count(*) from requests r join http2 x on x.request_id = r.id where "
			"x.stream_id in (7, 9) and x.path = '/b' and x.hpack_unknown = 1"), 2);
	CHECK_EQ(t_q1(db, "select count(*) from requests where summary like '%/a%'"), 0);
	CHECK_EQ(t_q1(db, "select count(*) from anomalies where kind = 'hpack_unknown_entries'"), 1);
	sqlite3_close(db);
}
