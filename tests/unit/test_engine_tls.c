/* test_engine_tls.c - a TLS connection recorded from the middle of its
 * handshake (issue 17): the recorder writes the rest of the handshake as
 * ciphertext (no SSL call was seen to tie the connection to) and then the
 * plaintext flagged TLS at the positions that follow.  The analyzer gives
 * up on the ciphertext's records (PROBE_TRIES of them) and must start
 * protocol detection anew at the first plaintext: the HTTP/1.1 exchange
 * after it is a request row with its status.  A connection whose parser
 * runs already (a cleartext prefix) is not restarted: that is the other
 * tests' PostgreSQL/STARTTLS ground, not exercised here. */
#define _GNU_SOURCE
#include "harness.h"

#include "../../analyze/engine.h"
#include "../../formats/cli.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static void rec_data(struct fr_record *r, int dir, uint64_t pos, uint64_t ts, const uint8_t *p, uint32_t n,
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

static long long q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

TEST(engine_tls_plaintext_after_mid_handshake_ciphertext)
{
	static const char req[] = "GET /after-handshake HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char lib[] = "OpenSSL 3.0.19 (test)";
	char path[300], dbp[300], err[256];
	snprintf(path, sizeof(path), "%s/midhs.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/midhs.db", t_tmpdir());
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "n");
	struct fr_writer *w = fr_writer_open(path, &h, NULL, err, sizeof(err));
	CHECK(w != NULL);
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.ts = 10;
	r.u.open = (struct fr_conn_open){{1, 3, 1}, 1, FR_ROLE_CLIENT, {0}, 1, {4, 6, 40000, {10, 0, 0, 1}},
					 {4, 6, 8443, {10, 0, 0, 2}}};
	CHECK_EQ(fr_writer_add(w, &r), 0);
	/* the handshake's tail: TLS 1.3 records (application data type, as
	 * its encrypted handshake messages are), 5 each way */
	uint8_t ct[200];
	uint64_t pos[2] = {0, 0}, ts = 11;
	for (int i = 0; i < 10; i++) {
		int dir = i & 1;
		uint32_t n = 60 + 13 * (uint32_t)i;
		ct[0] = 0x17, ct[1] = 3, ct[2] = 3, ct[3] = 0, ct[4] = (uint8_t)(n - 5);
		for (uint32_t k = 5; k < n; k++)
			ct[k] = (uint8_t)(k * 151 + i * 7 + 0x80);
		rec_data(&r, dir ? FR_INGRESS : FR_EGRESS, pos[dir], ts++, ct, n, 0);
		CHECK_EQ(fr_writer_add(w, &r), 0);
		pos[dir] += n;
	}
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_TLS;
	r.ts = ts;
	r.u.tls = (struct fr_conn_tls){{1, 3, 1}, {(const uint8_t *)lib, sizeof(lib) - 1}};
	CHECK_EQ(fr_writer_add(w, &r), 0);
	rec_data(&r, FR_EGRESS, pos[0], ts++, (const uint8_t *)req, sizeof(req) - 1, 1);
	CHECK_EQ(fr_writer_add(w, &r), 0);
	rec_data(&r, FR_INGRESS, pos[1], ts++, (const uint8_t *)resp, sizeof(resp) - 1, 1);
	CHECK_EQ(fr_writer_add(w, &r), 0);
	CHECK_EQ(fr_writer_close(w), 0);

	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	char *paths[1] = {path};
	CHECK_EQ(fr_analyze(paths, 1, dbp, &o), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	CHECK_EQ(q1(db, "select count(*) from requests where protocol = 'http1' and "
			"summary = 'GET /after-handshake' and status = '200'"), 1);
	CHECK_EQ(q1(db, "select count(*) from connections where tls = 'OpenSSL 3.0.19 (test)'"), 1);
	sqlite3_close(db);
}
