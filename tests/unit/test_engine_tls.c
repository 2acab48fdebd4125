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
#include "engine_test.h"
#include "harness.h"

#include "../../formats/cli.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

TEST(engine_tls_plaintext_after_mid_handshake_ciphertext)
{
	static const char req[] = "GET /after-handshake HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char lib[] = "OpenSSL 3.0.19 (test)";
	char path[300], dbp[300], err[256];
	snprintf(path, sizeof(path), "%s/midhs.frs", t_tmpdir());
	snprintf(dbp, sizeof(dbp), "%s/midhs.db", t_tmpdir());
	struct fr_writer *w = t_writer(path, err, sizeof(err));
	CHECK(w != NULL);
	struct fr_record r;
	t_open(&r, 10, 8443);
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
		t_data(&r, dir ? FR_INGRESS : FR_EGRESS, pos[dir], ts++, ct, n, 0);
		CHECK_EQ(fr_writer_add(w, &r), 0);
		pos[dir] += n;
	}
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_TLS;
	r.ts = ts;
	r.u.tls = (struct fr_conn_tls){{1, 3, 1}, {(const uint8_t *)lib, sizeof(lib) - 1}};
	CHECK_EQ(fr_writer_add(w, &r), 0);
	t_data(&r, FR_EGRESS, pos[0], ts++, (const uint8_t *)req, sizeof(req) - 1, 1);
	CHECK_EQ(fr_writer_add(w, &r), 0);
	t_data(&r, FR_INGRESS, pos[1], ts++, (const uint8_t *)resp, sizeof(resp) - 1, 1);
	CHECK_EQ(fr_writer_add(w, &r), 0);
	CHECK_EQ(fr_writer_close(w), 0);

	CHECK_EQ(t_analyze(path, dbp, 0, 0), EXIT_OK);
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(dbp, &db), SQLITE_OK);
	CHECK_EQ(t_q1(db, "select count(*) from requests where protocol = 'http1' and "
			"summary = 'GET /after-handshake' and status = '200'"), 1);
	CHECK_EQ(t_q1(db, "select count(*) from connections where tls = 'OpenSSL 3.0.19 (test)'"), 1);
	sqlite3_close(db);
}
