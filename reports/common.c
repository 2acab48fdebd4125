/* common.c - helpers the report, diff and HTML writer share: statements,
 * the run's temporary tables (temp.rq: every request once, with its
 * dimensions and wall-clock start), times and durations. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

sqlite3_stmt *rp_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec report: %s\n", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

int rp_has(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int r = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return r;
}

/* Each node's wall offset (its monotonic clock + offset = wall clock); a
 * request's time is its connection's node's. */
static const char setup_sql[] =
	"CREATE TEMP TABLE rp_off AS SELECT node, min(wall_offset_ns) AS off FROM segments GROUP BY node;\n"
	"CREATE TEMP TABLE rp_conn (id INTEGER PRIMARY KEY, off INTEGER);\n"
	"INSERT INTO rp_conn SELECT c.id, coalesce(o.off, 0) FROM connections c LEFT JOIN rp_off o ON o.node = c.node;\n"
	"CREATE TEMP TABLE rq (id INTEGER PRIMARY KEY, conn_id, protocol, ts, latency_ns, upload_ns, wait_ns,\n"
	"  download_ns, network_ns, error, status, reason, summary, cw, sw, ep, read_delay_ns);\n"
	"INSERT INTO rq SELECT r.id, r.conn_id, r.protocol, r.start_ns + coalesce(c.off, 0), r.latency_ns,\n"
	"  r.upload_ns, r.wait_ns, r.download_ns, r.network_ns, r.error, r.status, r.reason, r.summary,\n"
	"  r.client_dim, r.server_dim, r.endpoint_dim, %s\n"
	"  FROM requests_dims r LEFT JOIN rp_conn c ON c.id = r.conn_id ORDER BY r.id;\n";

int rp_read_delay_large(int64_t read_delay_ns, int64_t latency_ns)
{
	return read_delay_ns >= 1000000 && latency_ns > 0 && read_delay_ns * 4 >= latency_ns;
}

int rp_has_column(sqlite3 *db, const char *table, const char *col)
{
	sqlite3_stmt *st;
	int has = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
	has = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return has;
}

int rp_setup(sqlite3 *db)
{
	char *err = NULL;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM temp.sqlite_schema WHERE name = 'rq'", -1, &st, NULL) == SQLITE_OK) {
		int done = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		if (done)
			return 0;
	}
	char sql[sizeof(setup_sql) + 64];
	snprintf(sql, sizeof(sql), setup_sql,
		 rp_has_column(db, "requests", "client_read_delay_ns") ? "r.client_read_delay_ns" : "NULL");
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "flightrec report: %s (is this an analysis database?)\n", err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

void rp_range(sqlite3 *db, int64_t *from, int64_t *to)
{
	*from = *to = 0;
	sqlite3_stmt *st = rp_prep(db, "SELECT min(ts), max(ts) FROM rq");
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		*from = sqlite3_column_int64(st, 0);
		*to = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
}

int64_t rp_trigger(sqlite3 *db, char *reason, size_t n)
{
	int64_t t = -1;
	if (n)
		reason[0] = 0;
	sqlite3_stmt *st = rp_prep(db, "SELECT m.ts + coalesce(o.off, 0), m.text FROM marks m"
				       " LEFT JOIN rp_off o ON o.node = m.node WHERE m.kind = 'trigger' ORDER BY 1 LIMIT 1");
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		t = sqlite3_column_int64(st, 0);
		const unsigned char *s = sqlite3_column_text(st, 1);
		if (s && n)
			snprintf(reason, n, "%s", (const char *)s);
	}
	sqlite3_finalize(st);
	return t;
}

const char *rp_wall(int64_t ns, char *buf, size_t n)
{
	if (ns <= 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char d[32];
	strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03dZ", d, (int)(ns / 1000000 % 1000));
	return buf;
}

const char *rp_safe(const unsigned char *s, char *out, size_t n)
{
	size_t o = 0;
	if (!s)
		return "-";
	for (; *s && o < n - 1; s++) {
		int c1 = s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
		out[o++] = *s < 0x20 || *s == 0x7f || c1 ? '?' : (char)*s;
		s += c1;
	}
	out[o] = 0;
	return out;
}

const char *rp_hms(int64_t ns, char *buf, size_t n)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, n, "%H:%M:%S", &tm);
	return buf;
}

const char *rp_dur(int64_t v, char *buf, size_t n)
{
	if (v < 1000)
		snprintf(buf, n, "%lldns", (long long)v);
	else if (v < 1000000)
		snprintf(buf, n, "%.1fus", v / 1e3);
	else if (v < 1000000000)
		snprintf(buf, n, "%.1fms", v / 1e6);
	else
		snprintf(buf, n, "%.2fs", v / 1e9);
	return buf;
}

/* digits of a fraction of a second after the '.', as ns */
static int frac_ns(const char *s, int64_t *ns, const char **end)
{
	*ns = 0;
	int64_t scale = 100000000;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
			*ns += (*s - '0') * scale;
	*end = s;
	return 0;
}

int rp_parse_time(const char *s, int64_t day_ns, int64_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *e;
	int64_t frac;
	if ((e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))) {
		frac_ns(e, &frac, &e);
		if (strcmp(e, "Z") && *e)
			return -1;
		*out = (int64_t)timegm(&tm) * 1000000000 + frac;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (!(e = strptime(s, "%H:%M:%S", &tm)))
		return -1;
	frac_ns(e, &frac, &e);
	if (*e && strcmp(e, "Z"))
		return -1;
	int64_t day = day_ns / 1000000000 / 86400 * 86400;
	*out = (day + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) * 1000000000 + frac;
	return 0;
}

static int64_t rank_pick(const int64_t *v, int64_t n, double q)
{
	if (!n)
		return 0;
	int64_t r = (int64_t)(q * (double)n);
	if ((double)r < q * (double)n)
		r++; /* ceil: the first rank >= q * n */
	return v[r < 1 ? 0 : r - 1];
}

static int same_keys(sqlite3_stmt *st, sqlite3_value **key, int nkeys)
{
	for (int i = 0; i < nkeys; i++) {
		sqlite3_value *a = sqlite3_column_value(st, i), *b = key[i];
		int ta = sqlite3_value_type(a), tb = sqlite3_value_type(b);
		if (ta != tb)
			return 0;
		if (ta == SQLITE_INTEGER && sqlite3_value_int64(a) != sqlite3_value_int64(b))
			return 0;
		if (ta == SQLITE_FLOAT && sqlite3_value_double(a) != sqlite3_value_double(b))
			return 0;
		if ((ta == SQLITE_TEXT || ta == SQLITE_BLOB) &&
		    (sqlite3_value_bytes(a) != sqlite3_value_bytes(b) ||
		     memcmp(sqlite3_value_blob(a), sqlite3_value_blob(b), sqlite3_value_bytes(a))))
			return 0;
	}
	return 1;
}

static void flush(struct rp_group *g, const int64_t *lat, int64_t nl, void (*fn)(void *, const struct rp_group *),
		  void *ctx)
{
	g->p50 = rank_pick(lat, nl, 0.50);
	g->p99 = rank_pick(lat, nl, 0.99);
	fn(ctx, g);
	for (int i = 0; i < g->nkeys; i++)
		sqlite3_value_free(g->key[i]), g->key[i] = NULL;
}

int rp_groups(sqlite3 *db, const char *sql, const int64_t *binds, int nbind, int nkeys,
	      void (*fn)(void *ctx, const struct rp_group *g), void *ctx)
{
	sqlite3_stmt *st = rp_prep(db, sql);
	if (!st)
		return -1;
	for (int i = 0; i < nbind; i++)
		sqlite3_bind_int64(st, i + 1, binds[i]);
	struct rp_group g = {.nkeys = nkeys};
	int64_t *lat = NULL, nl = 0, cap = 0;
	int have = 0, rc = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (have && !same_keys(st, g.key, nkeys)) {
			flush(&g, lat, nl, fn, ctx);
			have = 0;
		}
		if (!have) {
			for (int i = 0; i < nkeys; i++)
				g.key[i] = sqlite3_value_dup(sqlite3_column_value(st, i));
			g.n = g.errors = nl = 0;
			have = 1;
		}
		g.n++;
		g.errors += sqlite3_column_int64(st, nkeys);
		if (sqlite3_column_type(st, nkeys + 1) != SQLITE_NULL) {
			if (nl == cap) {
				int64_t *v = realloc(lat, (cap = cap ? cap * 2 : 1024) * sizeof(*v));
				if (!v) {
					rc = -1;
					break;
				}
				lat = v;
			}
			lat[nl++] = sqlite3_column_int64(st, nkeys + 1);
		}
	}
	if (have && rc == 0)
		flush(&g, lat, nl, fn, ctx);
	for (int i = 0; i < nkeys; i++)
		sqlite3_value_free(g.key[i]);
	if (sqlite3_errcode(db) != SQLITE_DONE && sqlite3_errcode(db) != SQLITE_OK && sqlite3_errcode(db) != SQLITE_ROW)
		fprintf(stderr, "flightrec report: %s\n", sqlite3_errmsg(db)), rc = -1;
	free(lat);
	sqlite3_finalize(st);
	return rc;
}
