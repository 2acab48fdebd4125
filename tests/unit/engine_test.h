/* engine_test.h - what the engine's tests on made-up recordings share
 * (test_engine_state.c, test_engine_tls.c): one connection (pid 1, fd 3,
 * generation 1, 10.0.0.1:40000 -> 10.0.0.2:PORT) written record by record
 * into a segment of node "n", analyzed quietly, and asked one number at a
 * time. */
#ifndef FLIGHTREC_ENGINE_TEST_H
#define FLIGHTREC_ENGINE_TEST_H

#include "../../analyze/engine.h"
#include "../../formats/segment.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* A segment writer on path with node "n" (NULL after a message in err). */
static inline struct fr_writer *t_writer(const char *path, char *err, size_t n)
{
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "n");
	return fr_writer_open(path, &h, NULL, err, n);
}

/* The connection's CONN_OPEN at ts: the client's socket, to port. */
static inline void t_open(struct fr_record *r, uint64_t ts, uint16_t port)
{
	memset(r, 0, sizeof(*r));
	r->kind = FR_CONN_OPEN;
	r->ts = ts;
	r->u.open = (struct fr_conn_open){{1, 3, 1}, 1, FR_ROLE_CLIENT, {0}, 1, {4, 6, 40000, {10, 0, 0, 1}},
					  {4, 6, port, {10, 0, 0, 2}}};
}

/* A DATA record of the connection: n bytes at p (not copied) at stream
 * position pos of direction dir, through SSL_write/SSL_read when tls. */
static inline void t_data(struct fr_record *r, int dir, uint64_t pos, uint64_t ts, const void *p, uint32_t n,
			  int tls)
{
	memset(r, 0, sizeof(*r));
	r->kind = FR_DATA;
	r->ts = ts;
	r->u.data.conn = (struct fr_connkey){1, 3, 1};
	r->u.data.tid = 1;
	r->u.data.dir = (uint8_t)dir;
	r->u.data.syscall = tls ? (dir ? FR_SYS_SSL_READ : FR_SYS_SSL_WRITE) : (dir ? FR_SYS_READ : FR_SYS_WRITE);
	r->u.data.flags = tls ? FR_DATA_TLS : 0;
	r->u.data.stream_pos = pos;
	r->u.data.orig_len = n;
	r->u.data.payload = (struct fr_span){p, n};
}

/* The first column of the first row of sql: -1 when there is none or the
 * query fails, -2 when it is NULL. */
static inline long long t_q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Analyzes the segment file in into the database db, quietly, with jobs
 * threads (0: the default) and, when from_ns, --from at that time.
 * Returns fr_analyze's exit code. */
static inline int t_analyze(const char *in, const char *db, int jobs, uint64_t from_ns)
{
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	if (jobs)
		o.jobs = jobs;
	if (from_ns) {
		o.have_from = 1;
		o.from_ns = from_ns;
	}
	char *paths[1] = {(char *)in};
	return fr_analyze(paths, 1, db, &o);
}

#endif
