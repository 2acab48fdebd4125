/* test_engine.c - the replay engine on real traffic with a record removed
 * (as the kernel loses events): the gap is explicit, the parser resyncs,
 * the remaining requests are paired, and -j does not change the output. */
#define _GNU_SOURCE
#include "harness.h"

#include "../../analyze/engine.h"
#include "../../formats/cli.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Copies src to dst, leaving out the n-th DATA record of pid (1-based). */
static int copy_without(const char *src, const char *dst, uint32_t pid, int nth)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(src, err, sizeof(err));
	if (!r)
		return -1;
	struct fr_writer *w = fr_writer_open(dst, fr_reader_header(r), NULL, err, sizeof(err));
	if (!w) {
		fr_reader_free(r);
		return -1;
	}
	struct fr_record rec;
	int k = 0;
	while (fr_reader_next(r, &rec) > 0) {
		if (rec.kind == FR_DATA && rec.u.data.conn.pid == pid && ++k == nth)
			continue;
		fr_writer_add(w, &rec);
	}
	fr_reader_free(r);
	return fr_writer_close(w);
}

static long long q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *dump_of(const char *db)
{
	char *b = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&b, &n);
	fr_dump_path(db, f);
	fclose(f);
	return b;
}

TEST(engine_lost_request_is_a_gap_and_parsing_resumes)
{
	char in[300], dbp[300], db2[300];
	snprintf(in, sizeof(in), "%s/lossy.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/a.db", t_tmpdir());
	snprintf(db2, sizeof(db2), "%s/b.db", t_tmpdir());
	/* the client (pid 1001) of the keep-alive case: DATA #3 is the second
	 * request (GET /api/users/42) */
	CHECK_EQ(copy_without("tests/corpus/http1/keepalive/input.frs", in, 1001, 3), 0);
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	char *paths[1] = {in};
	CHECK_EQ(fr_analyze(paths, 1, dbp, &o), EXIT_OK);
	o.jobs = 2;
	CHECK_EQ(fr_analyze(paths, 1, db2, &o), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	CHECKF(q1(db, "select count(*) from anomalies where kind = 'gap' and conn_id = 1") == 1, "gap anomaly");
	CHECKF(q1(db, "select gap_bytes from connections where id = 1") == 91, "gap bytes = the lost request");
	/* client side: GET / 200, the orphan response, GET /fail 500, GET /missing 404 */
	CHECKF(q1(db, "select count(*) from requests where conn_id = 1 and status in ('200','500','404')") == 4,
	       "4 responses");
	CHECKF(q1(db, "select count(*) from requests where conn_id = 1 and reason = 'response without request'") == 1,
	       "one orphan response");
	CHECKF(q1(db, "select count(*) from requests where conn_id = 1 and summary = 'GET /fail' and status = '500'") == 1,
	       "paired after the gap");
	/* the server side saw everything */
	CHECKF(q1(db, "select count(*) from requests where conn_id = 2 and reason is null") == 4, "server side intact");
	sqlite3_close(db);
	char *a = dump_of(dbp), *b = dump_of(db2);
	CHECK(a);
	CHECK(b);
	CHECK_STREQ(a, b);
	free(a);
	free(b);
}

/* Splits a one-node case into two nodes: the client processes (pid < 2000)
 * on node-a, the servers on node-b whose monotonic clock reads 5 s less
 * (its wall offset 5 s more).  Records of both kinds of metadata go to both. */
static int split_nodes(const char *src, const char *a, const char *b)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(src, err, sizeof(err));
	if (!r)
		return -1;
	struct fr_header ha = *fr_reader_header(r), hb = ha;
	snprintf(ha.node, sizeof(ha.node), "node-a");
	snprintf(hb.node, sizeof(hb.node), "node-b");
	const int64_t shift = 5000000000LL;
	hb.wall_offset_ns += shift;
	struct fr_writer *wa = fr_writer_open(a, &ha, NULL, err, sizeof(err));
	struct fr_writer *wb = fr_writer_open(b, &hb, NULL, err, sizeof(err));
	if (!wa || !wb)
		return -1;
	struct fr_record rec;
	while (fr_reader_next(r, &rec) > 0) {
		uint32_t pid = rec.kind == FR_DATA ? rec.u.data.conn.pid :
			       rec.kind == FR_CONN_OPEN ? rec.u.open.conn.pid :
			       rec.kind == FR_CONN_CLOSE ? rec.u.close.conn.pid :
			       rec.kind == FR_PROCESS ? rec.u.proc.pid : 0;
		if (!pid || pid < 2000)
			fr_writer_add(wa, &rec);
		if (!pid || pid >= 2000) {
			rec.ts -= (uint64_t)shift;
			fr_writer_add(wb, &rec);
		}
	}
	fr_reader_free(r);
	return fr_writer_close(wa) | fr_writer_close(wb);
}

TEST(engine_two_nodes_link_both_ends_on_the_wall_clock)
{
	char a[300], b[300], dbp[300];
	snprintf(a, sizeof(a), "%s/a.frs", t_tmpdir());
	snprintf(b, sizeof(b), "%s/b.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/x.db", t_tmpdir());
	CHECK_EQ(split_nodes("tests/corpus/mixed/pods_services/input.frs", a, b), 0);
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	char *paths[2] = {a, b};
	CHECK_EQ(fr_analyze(paths, 2, dbp, &o), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	CHECKF(q1(db, "select count(distinct node) from connections") == 2, "two nodes");
	CHECKF(q1(db, "select count(*) from requests where peer_request_id is not null") == 8, "all 8 linked");
	CHECKF(q1(db, "select count(*) from requests_once") == 4, "each request once");
	CHECKF(q1(db, "select count(*) from edges where client_workload = 'shop/frontend' and server_workload = 'shop/web'"
		      " and requests = 2") == 1, "edge frontend -> web");
	sqlite3_close(db);
}

/* Issue 11, finding 12: anomaly rows were uncapped (112k gap rows from a
 * 12 s lossy recording).  A connection gets CONN_ANOMALIES_MAX rows, then
 * one row that counts the rest; the same with -j 2. */
TEST(engine_anomalies_capped_per_connection)
{
	char in[300], dbp[300], db2[300], err[256];
	snprintf(in, sizeof(in), "%s/gappy.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/a.db", t_tmpdir());
	snprintf(db2, sizeof(db2), "%s/b.db", t_tmpdir());
	struct fr_reader *r = fr_reader_open("tests/corpus/http1/keepalive/input.frs", err, sizeof(err));
	CHECK(r != NULL);
	struct fr_writer *w = fr_writer_open(in, fr_reader_header(r), NULL, err, sizeof(err));
	CHECK(w != NULL);
	struct fr_record rec;
	uint64_t ts = 0, seq = 0;
	while (fr_reader_next(r, &rec) > 0) {
		ts = rec.ts;
		seq = rec.seq;
		CHECK_EQ(fr_writer_add(w, &rec), 0);
	}
	fr_reader_free(r);
	/* a new connection whose 250 writes each miss 90 bytes: 249 gaps */
	static const uint8_t junk[10] = "xxxxxxxxxx";
	for (int i = 0; i < 250; i++) {
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_DATA;
		rec.ts = ts + 1000 * (uint64_t)(i + 1);
		rec.seq = seq + 1 + (uint64_t)i;
		rec.u.data.conn = (struct fr_connkey){1001, 77, 1};
		rec.u.data.dir = FR_EGRESS;
		rec.u.data.stream_pos = 100 * (uint64_t)i;
		rec.u.data.orig_len = 10;
		rec.u.data.payload = (struct fr_span){junk, 10};
		CHECK_EQ(fr_writer_add(w, &rec), 0);
	}
	CHECK_EQ(fr_writer_close(w), 0);
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	char *paths[1] = {in};
	CHECK_EQ(fr_analyze(paths, 1, dbp, &o), EXIT_OK);
	o.jobs = 2;
	CHECK_EQ(fr_analyze(paths, 1, db2, &o), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	long long id = q1(db, "select id from connections where fd = 77");
	char sql[200];
	snprintf(sql, sizeof(sql), "select count(*) from anomalies where conn_id = %lld", id);
	CHECK_EQ(q1(db, sql), 101);
	snprintf(sql, sizeof(sql),
		 "select count(*) from anomalies where conn_id = %lld and kind = 'anomalies_capped'"
		 " and detail like '150 more anomalies%%'", id); /* 249 gaps, and unclassified */
	CHECK_EQ(q1(db, sql), 1);
	snprintf(sql, sizeof(sql), "select gap_bytes from connections where id = %lld", id);
	CHECK_EQ(q1(db, sql), 249 * 90);
	sqlite3_close(db);
	char *a = dump_of(dbp), *b = dump_of(db2);
	CHECK(a && b);
	CHECK_STREQ(a, b);
	free(a);
	free(b);
}
