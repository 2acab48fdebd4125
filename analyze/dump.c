/* dump.c - `flightrec dump DB`: the canonical text dump of an analysis.
 *
 * Every table in a fixed order, columns in schema order, rows sorted by all
 * columns, values escaped onto one line.  Machine- and run-specific values
 * (the analyzer version, the thread count, the dump's own hash) are left
 * out, so the same input gives the same bytes on every run and machine. */
#include "../formats/bytes.h"
#include "../formats/cli.h"
#include "dump_case.h"
#include "dump_internal.h"
#include "engine.h"
#include "schema.h"
#include "flightrec.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const fr_dump_head_tables[] = {
	"recording", "settings", "segments", "pods", "pod_ips", "pod_labels", "pod_containers",
	"services", "service_ips", "service_selector", "processes", "marks", "connections",
	NULL,
}; /* then requests, the protocols' tables, messages, anomalies */

static const char recording_filter[] =
	" WHERE key NOT IN ('dump_sha256', 'analyzer_version', 'threads', 'db')";

/* Rows are built in a buffer and written OUT_CHUNK bytes or more at a
 * time: one stdio call per chunk instead of per row, and on an unbuffered
 * stream (the hasher's) a chunk goes to EVP_DigestUpdate without a copy. */
#define OUT_CHUNK (1 << 16)

static __attribute__((noinline)) void l_grow(struct dump_line *l, size_t n)
{
	l->p = fr_grow(l->p, &l->cap, l->len + n, 2 * OUT_CHUNK);
}

/* Makes room for n more bytes; returns where they go. */
static inline char *l_room(struct dump_line *l, size_t n)
{
	if (l->cap - l->len < n)
		l_grow(l, n);
	return l->p + l->len;
}

static inline void l_put(struct dump_line *l, const void *s, size_t n)
{
	memcpy(l_room(l, n), s, n);
	l->len += n;
}

static inline void l_tab(struct dump_line *l)
{
	*l_room(l, 1) = '\t';
	l->len++;
}

/* A temporary file under $TMPDIR (default /tmp), already unlinked. */
static FILE *tmp_file(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/flightrec-dump-XXXXXX", fr_tmpdir());
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	unlink(path);
	FILE *f = fdopen(fd, "w+");
	if (!f)
		close(fd);
	return f;
}

static __attribute__((noinline)) void o_spill(struct dump_out *o)
{
	o->f = tmp_file();
	if (!o->f) {
		fprintf(stderr, "flightrec dump: cannot create a temporary file in %s\n", fr_tmpdir());
		o->err = 1;
		o->keep = 0; /* no second try: the piece fails */
		return;
	}
	o->spilled = 1;
}

/* Writes what o holds to its file once it is min bytes or more. */
static inline void o_flush(struct dump_out *o, size_t min)
{
	if (!o->f && o->keep && o->l.len > o->keep)
		o_spill(o);
	if (o->f && o->l.len >= min && o->l.len) {
		if (fwrite(o->l.p, 1, o->l.len, o->f) != o->l.len)
			o->err = 1;
		o->l.len = 0;
	}
}

static const char digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
			      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
			      "8081828384858687888990919293949596979899";

static const unsigned long long pow10[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
	1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
	100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
	1000000000000000000ull, 10000000000000000000ull,
};

/* The digits are counted first (from the bit length) and written in place
 * from the end, two per division: the timestamps have 10 to 19 digits. */
static inline void l_int(struct dump_line *l, long long v)
{
	char *o = l_room(l, 21);
	unsigned long long u = (unsigned long long)v;
	if (v < 0) {
		*o++ = '-';
		u = 0ull - u;
	}
	if (u < 10) {
		*o++ = (char)('0' + u);
		l->len = (size_t)(o - l->p);
		return;
	}
	int t = ((64 - __builtin_clzll(u)) * 1233) >> 12; /* log10(u) or one less */
	int nd = t + (u >= pow10[t]);
	char *e = o + nd;
	o = e;
	while (u >= 100) {
		unsigned r = (unsigned)(u % 100);
		u /= 100;
		e -= 2;
		memcpy(e, digits2 + 2 * r, 2);
	}
	if (u >= 10)
		memcpy(e - 2, digits2 + 2 * u, 2);
	else
		e[-1] = (char)('0' + u);
	l->len = (size_t)(o - l->p);
}

static const char hexd[] = "0123456789abcdef";

#define ONES 0x0101010101010101ull

/* Nonzero when a byte of x is one l_text escapes (below 0x20, the
 * backslash, DEL): eight bytes at a time.  A borrow sets a false flag only
 * above a byte flagged itself. */
static inline uint64_t esc8(uint64_t x)
{
	uint64_t bs = x ^ (ONES * '\\'), del = x ^ (ONES * 0x7f);
	return (((x - ONES * 0x20) & ~x) | ((bs - ONES) & ~bs) | ((del - ONES) & ~del)) & (ONES * 0x80);
}

/* 1 when some byte of p[0..n) needs an escape: a word at a time, the last
 * word overlapping the one before (never a read past the end); below 8
 * bytes, the missing bytes of the word are a letter's. */
static inline int needs_esc(const unsigned char *p, size_t n)
{
	uint64_t m = 0, x;
	size_t k;
	for (k = 0; k + 8 <= n; k += 8) {
		memcpy(&x, p + k, 8);
		m |= esc8(x);
	}
	if (k == n)
		return m != 0;
	if (n >= 8) {
		memcpy(&x, p + n - 8, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		x = a | (uint64_t)b << 32;
	} else
		x = (ONES * 'a') << 24 | p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
	return (m | esc8(x)) != 0;
}

/* Appends text escaped: \\ \t \n \r, other control bytes and DEL as \xNN.
 * Room for the worst case is made once.  Out of line: the clean texts'
 * path below stays small. */
static __attribute__((noinline)) void l_text_esc(struct dump_line *l, const unsigned char *p, size_t n)
{
	char *o = l_room(l, n * 4);
	for (size_t k = 0; k < n; k++) {
		unsigned char c = p[k];
		if (c >= 0x20 && c != 0x7f && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		if (c == '\\')
			*o++ = '\\';
		else if (c == '\t')
			*o++ = 't';
		else if (c == '\n')
			*o++ = 'n';
		else if (c == '\r')
			*o++ = 'r';
		else {
			*o++ = 'x';
			*o++ = hexd[c >> 4];
			*o++ = hexd[c & 15];
		}
	}
	l->len = (size_t)(o - l->p);
}

/* Appends text, escaped when it needs it (most texts do not). */
static inline void l_text(struct dump_line *l, const unsigned char *p, size_t n)
{
	if (needs_esc(p, n))
		l_text_esc(l, p, n);
	else
		l_put(l, p, n);
}

/* Appends one value: \N for NULL. */
static void put_sqlvalue(struct dump_line *l, sqlite3_value *v)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_NULL:
		l_put(l, "\\N", 2);
		break;
	case SQLITE_INTEGER:
		l_int(l, (long long)sqlite3_value_int64(v));
		break;
	case SQLITE_FLOAT: {
		char b[40];
		int n = snprintf(b, sizeof(b), "%.10g", sqlite3_value_double(v));
		l_put(l, b, (size_t)n);
		break;
	}
	default: {
		const unsigned char *p = sqlite3_value_text(v);
		l_text(l, p, (size_t)sqlite3_value_bytes(v));
	}
	}
}

/* The value is read through sqlite3_column_value(): one call per column
 * instead of a type call and a value call, each with its own checks.  The
 * dump's connection is used by this thread only. */
static void put_value(struct dump_line *l, sqlite3_stmt *st, int i)
{
	put_sqlvalue(l, sqlite3_column_value(st, i));
}

/* ---- requests without the view -------------------------------------------
 * The requests view joins every request row to its connection and to its
 * datagram peer's workload, and picks the two workloads with CASE: about
 * a sixth of the dump's time.  When the database's view is exactly the one
 * this program creates (fr_views_sql), the same values are made here from
 * request_rows, with the connection and peer rows looked up through small
 * caches; any other view is read as it is. */

#define WL_CACHE 1024

static const char req_cols[] =
	"id, conn_id, seq, protocol, side, start_ns, end_ns, latency_ns, upload_ns, wait_ns,"
	" download_ns, network_ns, summary, endpoint, status, error, reason, req_bytes, resp_bytes,"
	" peer_addr, peer_port, peer_request_id, client_read_delay_ns, server_read_delay_ns";
enum { RC_CONN = 1, RC_SIDE = 4, RC_PEER = 19, RC_WL = 21, /* the workloads go before column 21 */
       RC_N = 24 };

struct wl_conn {
	int used;
	int64_t id;
	sqlite3_value *local, *remote; /* NULL: no row or SQL NULL */
};

struct wl_peer {
	char *ip;
	int len;
	sqlite3_value *wl;
};

struct wlc {
	sqlite3_stmt *cq, *pq;
	struct wl_conn c[WL_CACHE];
	struct wl_peer p[WL_CACHE];
};

/* 1 when the database's requests view is the one fr_views_sql creates */
static int view_is_ours(sqlite3 *db)
{
	const char *a = strstr(fr_views_sql, "CREATE VIEW requests AS ");
	const char *e = a ? strchr(a, ';') : NULL;
	sqlite3_stmt *st;
	int ok = 0;
	if (!e || sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'requests'",
				     -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const void *t = sqlite3_column_text(st, 0);
		ok = t && sqlite3_column_bytes(st, 0) == (int)(e - a) && !memcmp(t, a, (size_t)(e - a));
	}
	sqlite3_finalize(st);
	return ok;
}

static sqlite3_value *dup_col(sqlite3_stmt *st, int i)
{
	sqlite3_value *v = sqlite3_column_value(st, i);
	if (sqlite3_value_type(v) == SQLITE_NULL)
		return NULL;
	sqlite3_value *d = sqlite3_value_dup(v);
	if (!d)
		abort();
	return d;
}

/* The connection's row for conn_id (c.id = r.conn_id) */
static struct wl_conn *wl_conn(struct wlc *w, sqlite3_value *conn_id)
{
	static struct wl_conn none;
	if (sqlite3_value_type(conn_id) != SQLITE_INTEGER)
		return &none; /* NULL matches nothing; the column's affinity makes numbers integers */
	int64_t id = sqlite3_value_int64(conn_id);
	struct wl_conn *e = &w->c[(uint64_t)id % WL_CACHE];
	if (e->used && e->id == id)
		return e;
	sqlite3_value_free(e->local);
	sqlite3_value_free(e->remote);
	e->used = 1;
	e->id = id;
	e->local = e->remote = NULL;
	sqlite3_bind_int64(w->cq, 1, id);
	if (sqlite3_step(w->cq) == SQLITE_ROW) {
		e->local = dup_col(w->cq, 0);
		e->remote = dup_col(w->cq, 1);
	}
	sqlite3_reset(w->cq);
	return e;
}

/* pw.workload for peer_addr (pw.ip = r.peer_addr), or NULL */
static sqlite3_value *wl_peer(struct wlc *w, sqlite3_value *addr)
{
	if (sqlite3_value_type(addr) != SQLITE_TEXT)
		return NULL; /* NULL: no peer; the column's affinity makes the rest text */
	const char *ip = (const char *)sqlite3_value_text(addr);
	int n = sqlite3_value_bytes(addr);
	struct wl_peer *e = &w->p[fr_hash(ip, (size_t)n, FR_HASH_INIT) % WL_CACHE];
	if (e->ip && e->len == n && !memcmp(e->ip, ip, (size_t)n))
		return e->wl;
	free(e->ip);
	sqlite3_value_free(e->wl);
	e->wl = NULL;
	e->ip = malloc((size_t)n + 1);
	if (!e->ip)
		abort();
	memcpy(e->ip, ip, (size_t)n);
	e->len = n;
	sqlite3_bind_text(w->pq, 1, e->ip, n, SQLITE_STATIC);
	if (sqlite3_step(w->pq) == SQLITE_ROW)
		e->wl = dup_col(w->pq, 0);
	sqlite3_reset(w->pq);
	return e->wl;
}

static void put_wl(struct dump_line *l, sqlite3_value *v)
{
	if (v)
		put_sqlvalue(l, v);
	else
		l_put(l, "\\N", 2);
}

/* The line of a requests view row made from request_rows' columns v */
static void put_request(struct dump_line *l, struct wlc *w, sqlite3_value **v)
{
	for (int i = 0; i < RC_WL; i++) {
		if (i)
			l_tab(l);
		put_sqlvalue(l, v[i]);
	}
	struct wl_conn *c = wl_conn(w, v[RC_CONN]);
	sqlite3_value *pw = wl_peer(w, v[RC_PEER]);
	sqlite3_value *far = pw ? pw : c->remote; /* coalesce(pw.workload, c.remote_workload) */
	sqlite3_value *side = v[RC_SIDE];
	int client = sqlite3_value_type(side) == SQLITE_TEXT && sqlite3_value_bytes(side) == 6 &&
		     !memcmp(sqlite3_value_text(side), "client", 6);
	l_tab(l);
	put_wl(l, client ? c->local : far);
	l_tab(l);
	put_wl(l, client ? far : c->local);
	for (int i = RC_WL; i < RC_N; i++) {
		l_tab(l);
		put_sqlvalue(l, v[i]);
	}
	l_put(l, "\n", 1);
}

/* ---- rows through a function ---------------------------------------------
 * Reading a row value by value with sqlite3_column_value() is a call into
 * SQLite, with its checks, per value: some 12% of the dump.  Instead the
 * query passes the row's values to fr_dump_row(), which gets them as one
 * array, and returns the row's line, read with one call.  The line is the
 * function's result, not written by it, so it comes out in the query's
 * order even when a sorter stands between the function and the caller. */

#define ROW_PTR "flightrec-dump-row"

struct rowfn {
	struct dump_line l; /* the last row's line */
	struct wlc *w; /* the requests view's lookups, or NULL: a plain row */
};

/* fr_dump_row(?1 bound to a struct rowfn, values...) */
static void row_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct rowfn *f = argc > 1 ? sqlite3_value_pointer(argv[0], ROW_PTR) : NULL;
	if (!f || (f->w && argc != 1 + RC_N)) {
		sqlite3_result_error(ctx, "fr_dump_row: not called by the dump", -1);
		return;
	}
	f->l.len = 0;
	if (f->w)
		put_request(&f->l, f->w, argv + 1);
	else {
		for (int i = 1; i < argc; i++) {
			if (i > 1)
				l_tab(&f->l);
			put_sqlvalue(&f->l, argv[i]);
		}
		l_put(&f->l, "\n", 1);
	}
	/* valid until the next call: copied by a sorter, or read by the caller
	 * before the next step */
	sqlite3_result_blob(ctx, f->l.p, (int)f->l.len, SQLITE_STATIC);
}

/* Makes fr_dump_row() on a connection the dump reads; not for views or
 * triggers, and useless without a pointer only bind_pointer can give. */
void fr_dump_row_fn(sqlite3 *db)
{
	sqlite3_create_function_v2(db, "fr_dump_row", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, row_fn, NULL,
				   NULL, NULL);
}

/* Steps st (fr_dump_row's lines) to its end, writing the lines to out. */
static int put_lines(sqlite3_stmt *st, struct rowfn *f, struct dump_out *o)
{
	int rc;
	sqlite3_bind_pointer(st, 1, f, ROW_PTR, NULL);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		if (p && n > 0)
			l_put(&o->l, p, (size_t)n);
		o_flush(o, OUT_CHUNK);
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(sqlite3_db_handle(st)));
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The rows of the requests view matching where, as dump_table writes them. */
static int dump_requests_fast(sqlite3 *db, struct dump_out *o, const char *where)
{
	char sql[1024];
	snprintf(sql, sizeof(sql), "SELECT fr_dump_row(?1, %s) FROM request_rows%s ORDER BY id", req_cols, where);
	struct rowfn f = {{0}, calloc(1, sizeof(struct wlc))};
	struct wlc *w = f.w;
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (!w || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT local_workload, remote_workload FROM connections WHERE id = ?", -1,
			       &w->cq, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT workload FROM peer_workloads WHERE ip = ?", -1, &w->pq, NULL) !=
		    SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	rc = put_lines(st, &f, o);
out:
	sqlite3_finalize(st);
	free(f.l.p);
	if (w) {
		sqlite3_finalize(w->cq);
		sqlite3_finalize(w->pq);
		for (int i = 0; i < WL_CACHE; i++) {
			sqlite3_value_free(w->c[i].local);
			sqlite3_value_free(w->c[i].remote);
			free(w->p[i].ip);
			sqlite3_value_free(w->p[i].wl);
		}
		free(w);
	}
	return rc;
}

/* Dumps the rows of table t in range r, with or without the header lines. */
static int dump_table(sqlite3 *db, const char *t, struct dump_out *o, struct dump_range r, int header)
{
	char sql[4096];
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 0", t);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	int n = sqlite3_column_count(st);
	if (header) {
		l_put(&o->l, "# ", 2);
		l_put(&o->l, t, strlen(t));
		l_put(&o->l, "\n", 1);
		for (int i = 0; i < n; i++) {
			const char *c = sqlite3_column_name(st, i);
			if (i)
				l_tab(&o->l);
			l_put(&o->l, c, strlen(c));
		}
		l_put(&o->l, "\n", 1);
	}
	char where[256] = "";
	if (r.lo != INT64_MIN || r.hi != INT64_MAX)
		snprintf(where, sizeof(where), " WHERE \"%s\" > %lld AND \"%s\" <= %lld", sqlite3_column_name(st, 0),
			 (long long)r.lo, sqlite3_column_name(st, 0), (long long)r.hi);
	sqlite3_finalize(st);
	if (!strcmp(t, "requests") && n == RC_N + 2 && view_is_ours(db))
		return dump_requests_fast(db, o, where);
	const char *filter = strcmp(t, "recording") ? "" : recording_filter;
	/* The columns are renamed c1..cn, whatever the table calls them (a
	 * view's names need not be unique); the query is flattened into the
	 * plain one below, with the same plan. */
	sqlite3_str *q = sqlite3_str_new(db);
	sqlite3_str_appendall(q, "WITH s(");
	for (int i = 1; i <= n; i++)
		sqlite3_str_appendf(q, "%sc%d", i > 1 ? "," : "", i);
	sqlite3_str_appendf(q, ") AS (SELECT * FROM %s%s%s) SELECT fr_dump_row(?1", t, filter, where);
	for (int i = 1; i <= n; i++)
		sqlite3_str_appendf(q, ", c%d", i);
	sqlite3_str_appendall(q, ") FROM s ORDER BY ");
	for (int i = 1; i <= n; i++)
		sqlite3_str_appendf(q, "%sc%d", i > 1 ? "," : "", i);
	char *fsql = sqlite3_str_errcode(q) == SQLITE_OK ? sqlite3_str_value(q) : NULL;
	int ok = fsql && sqlite3_prepare_v2(db, fsql, -1, &st, NULL) == SQLITE_OK;
	sqlite3_free(sqlite3_str_finish(q));
	if (ok) {
		struct rowfn f = {{0}, NULL};
		int rc = put_lines(st, &f, o);
		free(f.l.p);
		sqlite3_finalize(st);
		return rc;
	}
	/* without the function (more columns than a function takes): value
	 * by value */
	int k = snprintf(sql, sizeof(sql), "SELECT * FROM %s%s%s ORDER BY ", t, filter, where);
	for (int i = 1; i <= n && k < (int)sizeof(sql) - 16; i++)
		k += snprintf(sql + k, sizeof(sql) - (size_t)k, "%s%d", i > 1 ? "," : "", i);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++) {
			if (i)
				l_tab(&o->l);
			put_value(&o->l, st, i);
		}
		l_put(&o->l, "\n", 1);
		o_flush(o, OUT_CHUNK);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The tables before requests */
static int dump_head(sqlite3 *db, struct dump_out *o)
{
	for (int i = 0; fr_dump_head_tables[i]; i++)
		if (dump_table(db, fr_dump_head_tables[i], o, dump_whole, 1) < 0)
			return -1;
	return 0;
}

int fr_dump_piece(sqlite3 *db, const char *table, struct dump_range r, int header, struct dump_out *o)
{
	int rc = table ? dump_table(db, table, o, r, header) : dump_head(db, o);
	if (o->f) {
		o_flush(o, 0);
		if (fflush(o->f) != 0 || fseek(o->f, 0, SEEK_SET) != 0)
			o->err = 1;
	}
	return o->err ? -1 : rc;
}

static int dump_all(sqlite3 *db, struct dump_out *o)
{
	if (dump_head(db, o) < 0 || dump_table(db, "requests", o, dump_whole, 1) < 0)
		return -1;
	for (int i = 0; fr_proto_table(i); i++)
		if (dump_table(db, fr_proto_table(i), o, dump_whole, 1) < 0)
			return -1;
	if (dump_table(db, "messages", o, dump_whole, 1) < 0)
		return -1;
	return dump_table(db, "anomalies", o, dump_whole, 1);
}

int fr_dump_rows(struct sqlite3 *db, const char *sql, FILE *out)
{
	sqlite3_stmt *st;
	fr_dump_row_fn(db);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	struct dump_out o = {{0}, out};
	struct rowfn f = {{0}, NULL};
	int rc = put_lines(st, &f, &o);
	o_flush(&o, 0);
	sqlite3_finalize(st);
	free(f.l.p);
	free(o.l.p);
	return rc < 0 || o.err ? -1 : 0;
}

int fr_dump_db(struct sqlite3 *db, FILE *out)
{
	struct dump_out o = {{0}, out};
	fr_dump_row_fn(db);
	int rc = dump_all(db, &o);
	o_flush(&o, 0);
	free(o.l.p);
	return rc < 0 || o.err ? -1 : 0;
}

int fr_dump_path(const char *path, FILE *f)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: cannot open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	int rc = fr_dump_db(db, f);
	sqlite3_close(db);
	return rc;
}

int cmd_dump(int argc, char **argv)
{
	int case_view = argc == 3 && !strcmp(argv[1], "--case");
	if ((argc != 2 && !case_view) || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		FILE *f = argc == 2 ? stdout : stderr;
		fprintf(f, "usage: flightrec dump [--case] DB\n\n"
			   "Prints the canonical text dump of an analysis database: every table,\n"
			   "sorted, without machine-specific values.  Its SHA-256 is the\n"
			   "'dump_sha256' row of the recording table.\n"
			   "\n"
			   "  --case   the corpus's view (the expected.dump of a corpus case): only\n"
			   "           the rows of the records analyzed; no recording or settings\n"
			   "           table, no name, hash or size of segment files, no empty table\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	char err[512];
	if (fr_input_file_ok(argv[case_view ? 2 : 1], err, sizeof(err)) < 0) {
		fprintf(stderr, "flightrec dump: %s\n", err);
		return EXIT_USAGE;
	}
	if ((case_view ? fr_dump_case_path(argv[2], stdout) : fr_dump_path(argv[1], stdout)) < 0)
		return EXIT_USAGE;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "flightrec dump: cannot write the dump: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	return EXIT_OK;
}
