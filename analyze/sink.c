/* sink.c - the SQLite sink (sink_internal.h maps its files): the database
 * created with its tables and prepared statements, rows inserted inside
 * large transactions with one lock for all threads, request ids in the
 * order the rows come (which the engine makes canonical); after the load,
 * attribution, peer links, indexes, views and the dump hash. */
#define _GNU_SOURCE
#include "engine.h"
#include "../formats/outfile.h"
#include "schema.h"
#include "sink_internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const stmt_sql[S_N] = {
	[S_KV] = "INSERT OR REPLACE INTO recording (key, value) VALUES (?, ?)",
	[S_SEG] = "INSERT INTO segments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_PROC] = "INSERT OR IGNORE INTO processes VALUES (?,?,?,?,?,?,?,?,?,?)",
	[S_POD] = "INSERT OR IGNORE INTO pods VALUES (?,?,?,?,?,?,?,?,?)",
	[S_POD_IP] = "INSERT OR IGNORE INTO pod_ips VALUES (?,?)",
	[S_POD_LABEL] = "INSERT OR IGNORE INTO pod_labels VALUES (?,?,?)",
	[S_POD_CONT] = "INSERT OR IGNORE INTO pod_containers VALUES (?,?,?,?)",
	[S_SVC] = "INSERT OR IGNORE INTO services VALUES (?,?,?,?,?)",
	[S_SVC_IP] = "INSERT OR IGNORE INTO service_ips VALUES (?,?,?)",
	[S_SVC_SEL] = "INSERT OR IGNORE INTO service_selector VALUES (?,?,?,?)",
	[S_MARK] = "INSERT INTO marks VALUES (?,?,?,?)",
	[S_CONN] = "INSERT INTO connections (id, node, pid, fd, gen, transport, role, protocol,"
		   " local_addr, local_port, remote_addr, remote_port, start_ns, end_ns, bytes_out,"
		   " bytes_in, gap_bytes, requests, closed, head, tls, retransmits, resets, resets_sent,"
		   " resets_received, srtt_us)"
		   " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_ANOM] = "INSERT INTO anomalies VALUES (?,?,?,?)",
	[S_MSG] = "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?)",
};

static const char req_insert[] =
	"INSERT INTO request_rows (conn_id, seq, protocol, side, start_ns, end_ns, latency_ns,"
	" upload_ns, wait_ns, download_ns, summary, endpoint, status, error, reason, req_bytes,"
	" resp_bytes, peer_addr, peer_port, client_read_delay_ns, server_read_delay_ns)";
#define REQ_COLS 21

static double t_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* FLIGHTREC_TIMING=1: phase times on stderr (for the benchmark), and the
 * CPU time of all threads in the phase (on a shared machine it moves less
 * than the elapsed time). */
static void phase(const char *what)
{
	static double t0, c0;
	static int on = -1;
	if (on < 0)
		on = getenv("FLIGHTREC_TIMING") != NULL;
	if (!on)
		return;
	double t = t_now(), c = cpu_now();
	if (t0 > 0)
		fprintf(stderr, "flightrec: %-12s %.2f s  (cpu %.2f s)\n", what, t - t0, c - c0);
	t0 = t;
	c0 = c;
}

/* exec(), and with FLIGHTREC_TIMING=2 the time of every statement on
 * stderr (for the benchmark: which index or update costs what). */
static int exec_timed(sqlite3 *db, const char *sql)
{
	const char *t = getenv("FLIGHTREC_TIMING");
	if (!t || strcmp(t, "2"))
		return exec(db, sql);
	while (*sql) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		double t0 = t_now();
		if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK) {
			fprintf(stderr, "flightrec: sqlite: %s\n", sqlite3_errmsg(db));
			return -1;
		}
		if (!st)
			break;
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			fprintf(stderr, "flightrec: sqlite: %s\n", sqlite3_errmsg(db));
			return -1;
		}
		fprintf(stderr, "flightrec:   %6.2f s  %.*s\n", t_now() - t0,
			(int)strcspn(sql + strspn(sql, " \n"), "\n"), sql + strspn(sql, " \n"));
		sql = tail;
	}
	return 0;
}

/* The database is built under a temporary name (outfile.h) and renamed
 * over the output path once complete; SIGINT, SIGTERM or SIGHUP while it is
 * built remove the temporary file. */
static char *volatile building; /* for the signal handler */

static void on_fatal_signal(int sig)
{
	char *p = building;
	if (p)
		unlink(p);
	signal(sig, SIG_DFL);
	raise(sig);
}

struct sink *sink_open(const char *path, char *err, size_t errlen)
{
	struct sink *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->final = strdup(path);
	if (!s->final || !(s->path = fr_out_begin(path, NULL, err, errlen))) {
		free(s->final);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	building = s->path;
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	for (int i = 0; i < 3; i++) /* left ignored where they are (nohup, a background job) */
		if (signal(sigs[i], on_fatal_signal) == SIG_IGN)
			signal(sigs[i], SIG_IGN);
	/* NOMUTEX: every use of the connection is serialized by s->lock already;
	 * SQLite's own per-call locking cost a fifth of the time */
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot create %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	/* 64 KiB pages: a tenth less CPU than 4 KiB over the whole analysis
	 * (fewer pages to balance, write and read back) and half the system
	 * time.  The page size comes before the cache size: SQLite turns a
	 * cache size in KiB into pages when it is set. */
	if (exec(s->db, "PRAGMA page_size=65536; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
			"PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536;") < 0 ||
	    exec(s->db, fr_schema_sql) < 0) {
		snprintf(err, errlen, "cannot create the schema in %s", path);
		goto fail;
	}
	for (int i = 0; fr_protocols[i]; i++)
		if (exec(s->db, fr_protocols[i]->schema) < 0 ||
		    (fr_protocols[i]->child_schema && exec(s->db, fr_protocols[i]->child_schema) < 0)) {
			snprintf(err, errlen, "cannot create table %s", fr_protocols[i]->table);
			goto fail;
		}
	for (int i = 0; i < S_N; i++)
		if (sqlite3_prepare_v2(s->db, stmt_sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(s->db));
			goto fail;
		}
	if (rbuf_init(s, &s->req, req_insert, REQ_COLS) < 0) {
		snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	exec(s->db, "BEGIN");
	phase("open");
	return s;
fail:
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(s->st[i]);
	rbuf_fini(&s->req);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	building = NULL;
	fr_out_abort(s->path);
	free(s->final);
	free(s);
	return NULL;
}

static ssize_t hash_write(void *cookie, const char *buf, size_t n)
{
	return EVP_DigestUpdate(cookie, buf, n) ? (ssize_t)n : -1;
}

/* The determinism hash: SHA-256 of the canonical dump, streamed.  With
 * jobs > 1 the dump is written by that many threads on their own read-only
 * connections (fr_dump_parallel), else on the sink's connection. */
struct hasher {
	const char *path;
	sqlite3 *db;
	int64_t max_id;
	int jobs;
	int rc;
	char hex[65];
};

static void *hasher_main(void *arg)
{
	struct hasher *h = arg;
	h->rc = -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	cookie_io_functions_t io = {.write = hash_write};
	FILE *f = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) ? fopencookie(md, "w", io) : NULL;
	if (!f) {
		EVP_MD_CTX_free(md);
		return NULL;
	}
	/* unbuffered: the dump writes in chunks of 64 KiB or more, which go
	 * to the digest without a copy into a stdio buffer */
	setvbuf(f, NULL, _IONBF, 0);
	int rc;
	if (h->jobs < 2)
		rc = fr_dump_db((struct sqlite3 *)h->db, f);
	else
		rc = fr_dump_parallel(h->path, h->max_id, f, h->jobs);
	if (fclose(f) != 0)
		rc = -1;
	unsigned char dg[32];
	unsigned int dl = 0;
	if (rc == 0 && EVP_DigestFinal_ex(md, dg, &dl)) {
		for (int i = 0; i < 32; i++)
			snprintf(h->hex + 2 * i, 3, "%02x", dg[i]);
		h->rc = 0;
	}
	EVP_MD_CTX_free(md);
	return NULL;
}

int sink_close(struct sink *s, int dim_cap, int jobs)
{
	int rc = s->failed ? -1 : 0;
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(s->st[i]);
	rbuf_flush(s, &s->req);
	rbuf_fini(&s->req);
	for (int i = 0; i < MAX_PROTOS; i++) {
		rbuf_flush(s, &s->detail[i]);
		rbuf_fini(&s->detail[i]);
	}
	rc = s->failed ? -1 : rc;
	{
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(id), 0) FROM request_rows", -1, &st,
				       NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
		    sqlite3_column_int64(st, 0) != (int64_t)s->next_req) {
			fprintf(stderr, "flightrec: request ids do not follow the order of the rows\n");
			rc = -1;
		}
		sqlite3_finalize(st);
	}
	char sql[128];
	phase("load");
	snprintf(sql, sizeof(sql), "INSERT INTO settings VALUES ('dim_cap', %d)", dim_cap);
	if (peer_table(s) < 0 || exec(s->db, sql) < 0 || exec_timed(s->db, fr_attr_sql) < 0)
		rc = -1;
	phase("attribution");
	if (exec_timed(s->db, fr_post_sql) < 0)
		rc = -1;
	phase("post");
	if (exec(s->db, fr_views_sql) < 0)
		rc = -1;
	/* counts */
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO recording VALUES ('count_requests', '%llu')",
		 (unsigned long long)s->next_req);
	exec(s->db, sql);
	exec(s->db, "INSERT OR REPLACE INTO recording SELECT 'count_connections', count(*) FROM connections;"
		    "INSERT OR REPLACE INTO recording SELECT 'count_anomalies', count(*) FROM anomalies;"
		    "INSERT OR REPLACE INTO recording SELECT 'count_messages', count(*) FROM messages;"
		    "INSERT OR REPLACE INTO recording SELECT 'time_first_ns', min(start_ns) FROM connections;"
		    "INSERT OR REPLACE INTO recording SELECT 'time_last_ns', max(end_ns) FROM connections;");
	if (exec_timed(s->db, fr_late_index_sql) < 0)
		rc = -1;
	phase("indexes");
	if (exec(s->db, "COMMIT") < 0)
		rc = -1;
	phase("commit");
	/* with -j > 1 other connections read for the dump hash: this one
	 * gives up its exclusive lock (at its next read) */
	if (jobs >= 2 && exec(s->db, "PRAGMA locking_mode=NORMAL; SELECT count(*) FROM settings;") < 0)
		rc = -1;
	struct hasher h = {.path = s->path, .db = s->db, .max_id = (int64_t)s->next_req, .jobs = jobs};
	hasher_main(&h);
	if (h.rc < 0)
		rc = -1;
	else {
		snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO recording VALUES ('dump_sha256', '%s')", h.hex);
		if (exec(s->db, sql) < 0)
			rc = -1;
	}
	phase("dump hash");
	if (sqlite3_close(s->db) != SQLITE_OK)
		rc = -1;
	building = NULL;
	if (rc == 0 && fr_out_commit(s->path, s->final) < 0) {
		fprintf(stderr, "flightrec: cannot rename the database to %s: %s\n", s->final, strerror(errno));
		rc = -1;
	} else if (rc < 0) {
		fr_out_abort(s->path);
	}
	pthread_mutex_destroy(&s->lock);
	free(s->final);
	free(s);
	return rc;
}
