/* rules_eval.c - the evaluation of alert rules (rules.h) over an analysis
 * database.  Each metric is one SQL statement that yields, per subject and
 * window (wall-clock ns / window length), the number judged, the number
 * that counts against the rule ("hits": failed, slow, lost), the metric's
 * value and the time range of the hits; the C code below merges runs of
 * consecutive firing windows into one alert. */
#include "../formats/cli.h"
#include "rules.h"

#include <stdio.h>
#include <string.h>

/* each node's wall clock: monotonic ns + off */
#define CLOCK_CTE "WITH o AS (SELECT node, min(wall_offset_ns) AS off FROM segments GROUP BY node)"

/* The requests the request metrics read, made once per evaluation: the
 * views' capped dimensions (requests_dims) and each node's clock are
 * worked out once, not once per rule. */
static const char ALERT_RQ_SQL[] =
	"CREATE TEMP TABLE alert_rq AS " CLOCK_CTE " SELECT r.server_dim || ' ' || r.endpoint_dim AS s, r.error,"
	" r.latency_ns, r.start_ns, coalesce(r.end_ns, r.start_ns) AS end_ns, coalesce(o.off, 0) AS off"
	" FROM requests_dims r LEFT JOIN connections c ON c.id = r.conn_id LEFT JOIN o ON o.node = c.node";

/* w(s, hit, val, start_ns, end_ns, off) per metric: s the subject, hit 1
 * when the row counts against the rule, val what is summed or ranked */
static const char *const metric_rows[] = {
	[FR_METRIC_ERROR_RATE] =
		", w AS (SELECT s, error AS hit, 0 AS val, start_ns, end_ns, off FROM temp.alert_rq)",
	/* hit: slower than the threshold (">=": not faster) */
	[FR_METRIC_P99_LATENCY] =
		", w AS (SELECT s, CASE WHEN ?4 THEN latency_ns >= ?2 ELSE latency_ns > ?2 END AS hit,"
		" latency_ns AS val, start_ns, end_ns, off FROM temp.alert_rq WHERE latency_ns IS NOT NULL)",
	[FR_METRIC_DNS_FAILURES] =
		", w AS (SELECT d.qname AS s, CASE WHEN r.error = 1 OR d.rcode IS NULL OR d.rcode <> 'NOERROR'"
		" THEN 1 ELSE 0 END AS hit, 0 AS val, r.start_ns, coalesce(r.end_ns, r.start_ns) AS end_ns,"
		" coalesce(o.off, 0) AS off FROM requests_once r JOIN dns d ON d.request_id = r.id"
		" LEFT JOIN connections c ON c.id = r.conn_id LEFT JOIN o ON o.node = c.node)",
	/* a reset ends a connection: its window is its end's; each connection once */
	[FR_METRIC_CONN_RESETS] =
		", w AS (SELECT CASE WHEN c.role = 'server' THEN c.local_workload ELSE c.remote_workload END AS s,"
		" 1 AS hit, c.resets AS val, coalesce(c.end_ns, c.start_ns) AS start_ns,"
		" coalesce(c.end_ns, c.start_ns) AS end_ns, coalesce(o.off, 0) AS off FROM connections c"
		" LEFT JOIN o ON o.node = c.node WHERE c.resets > 0 AND (c.role = 'client' OR c.peer_conn_id IS NULL))",
	/* each end retransmits its own segments: both ends count */
	[FR_METRIC_RETRANSMITS] =
		", w AS (SELECT CASE WHEN c.role = 'server' THEN c.remote_workload || ' -> ' || c.local_workload"
		" ELSE c.local_workload || ' -> ' || c.remote_workload END AS s, 1 AS hit, c.retransmits AS val,"
		" coalesce(c.end_ns, c.start_ns) AS start_ns, coalesce(c.end_ns, c.start_ns) AS end_ns,"
		" coalesce(o.off, 0) AS off FROM connections c LEFT JOIN o ON o.node = c.node WHERE c.retransmits > 0)",
	/* "node N cpu C reason R: K events, B bytes lost in [a, b]" (engine.c) */
	[FR_METRIC_LOSSES] =
		", l AS (SELECT substr(detail, 6, instr(detail, ' cpu ') - 6) AS node,"
		" CAST(substr(detail, instr(detail, ': ') + 2) AS INTEGER) AS k, ts FROM anomalies"
		" WHERE kind = 'loss' AND detail LIKE 'node % cpu %: % events%')"
		", w AS (SELECT 'node ' || l.node AS s, 1 AS hit, l.k AS val, l.ts AS start_ns, l.ts AS end_ns,"
		" coalesce(o.off, 0) AS off FROM l LEFT JOIN o ON o.node = l.node)",
};

/* the value per metric kind, over a window's rows */
#define RATE_SELECT "count(*), sum(hit), 1.0 * sum(hit) / count(*)"
#define COUNT_SELECT "sum(val), sum(hit), sum(val)"

/* The whole statement: ?1 the window in ns, ?2 the threshold, ?3 the
 * minimum count, ?4 1 for ">=".  Columns: s, k, n, hits, value,
 * first_ns, last_ns, first_wall, last_wall.
 *
 * The p99 (as the views compute it: the latency of rank ceil(0.99 n)) is
 * above the threshold exactly when fewer than 0.99 n requests are not:
 * n - hits < 0.99 n.  So a GROUP BY finds the windows that fire, and only
 * their requests are sorted for the value (NULL in the other windows). */
static void metric_sql(enum fr_metric m, char *sql, size_t len)
{
	const char *tail = " min(CASE WHEN hit THEN start_ns END), max(CASE WHEN hit THEN end_ns END),"
			   " min(CASE WHEN hit THEN start_ns + off END), max(CASE WHEN hit THEN end_ns + off END)";
	if (m == FR_METRIC_P99_LATENCY)
		snprintf(sql, len,
			 CLOCK_CTE "%s, b AS (SELECT w.*, (start_ns + off) / ?1 AS k FROM w),"
			 " g AS (SELECT s, k, count(*) AS n, sum(hit) AS hits,%s FROM b GROUP BY s, k),"
			 " f AS (SELECT s, k FROM g WHERE n >= ?3 AND n - hits < 0.99 * n),"
			 " z AS (SELECT b.s, b.k, b.val, row_number() OVER (PARTITION BY b.s, b.k ORDER BY b.val) AS rn,"
			 " count(*) OVER (PARTITION BY b.s, b.k) AS nn FROM b JOIN f ON f.s = b.s AND f.k = b.k),"
			 " p AS (SELECT s, k, min(CASE WHEN rn >= 0.99 * nn THEN val END) AS v FROM z GROUP BY s, k)"
			 " SELECT g.s, g.k, g.n, g.hits, p.v, g.h1, g.h2, g.h3, g.h4 FROM g LEFT JOIN p"
			 " ON p.s = g.s AND p.k = g.k ORDER BY g.s, g.k",
			 metric_rows[m],
			 " min(CASE WHEN hit THEN start_ns END) AS h1, max(CASE WHEN hit THEN end_ns END) AS h2,"
			 " min(CASE WHEN hit THEN start_ns + off END) AS h3, max(CASE WHEN hit THEN end_ns + off END) AS h4");
	else
		snprintf(sql, len, CLOCK_CTE "%s SELECT s, (start_ns + off) / ?1 AS k, %s,%s FROM w"
			 " GROUP BY s, k ORDER BY s, k",
			 metric_rows[m],
			 m == FR_METRIC_ERROR_RATE || m == FR_METRIC_DNS_FAILURES ? RATE_SELECT : COUNT_SELECT, tail);
}

/* The connections column a metric needs, or NULL */
static const char *needed_column(enum fr_metric m)
{
	return m == FR_METRIC_CONN_RESETS ? "resets" : m == FR_METRIC_RETRANSMITS ? "retransmits" : NULL;
}

/* 1 when connections has column col (one of needed_column's) with a value
 * in some row: the analyzer makes the TCP columns for every recording, NULL
 * where the input holds no TCP evidence (older recordings, pcap imports). */
static int has_values(sqlite3 *db, const char *col)
{
	sqlite3_stmt *st;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('connections') WHERE name = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, col, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!found)
		return 0;
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT 1 FROM connections WHERE %s IS NOT NULL LIMIT 1", col);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static const char *dur_str(double ns, char *buf, size_t n)
{
	if (ns >= 3600e9 && (long long)ns % 3600000000000LL == 0)
		snprintf(buf, n, "%lldh", (long long)(ns / 3600e9));
	else if (ns >= 60e9 && (long long)ns % 60000000000LL == 0)
		snprintf(buf, n, "%lldm", (long long)(ns / 60e9));
	else if (ns >= 1e9)
		snprintf(buf, n, "%.3gs", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(buf, n, "%.3gms", ns / 1e6);
	else if (ns >= 1e3)
		snprintf(buf, n, "%.3gus", ns / 1e3);
	else
		snprintf(buf, n, "%.0fns", ns);
	return buf;
}

/* ISO 8601 UTC with milliseconds, as the views' *_at columns */
static const char *iso_ms(int64_t wall_ns, char *buf, size_t n)
{
	fr_time_str(wall_ns, buf, n);
	if (strlen(buf) >= 24) {
		buf[23] = 'Z';
		buf[24] = 0;
	}
	return buf;
}

/* A run of consecutive firing windows of one subject */
struct run {
	char subject[512];
	long long k_first, k_last, n, hits;
	int windows;
	double peak;
	int64_t first_ns, last_ns, first_wall, last_wall;
};

static int insert_alert(sqlite3_stmt *ins, const struct fr_rule *r, const struct run *u)
{
	char detail[512], a[32], b[32], w[32], t1[40], t2[40];
	dur_str((double)r->window_ns, w, sizeof(w));
	int nw = u->windows;
	const char *ws = nw == 1 ? "" : "s";
	switch (r->metric) {
	case FR_METRIC_ERROR_RATE:
	case FR_METRIC_DNS_FAILURES:
		snprintf(detail, sizeof(detail), "%lld of %lld %s failed (%.1f%%) in %d window%s of %s; peak %.1f%%",
			 u->hits, u->n, r->metric == FR_METRIC_ERROR_RATE ? "requests" : "queries",
			 100.0 * (double)u->hits / (double)(u->n ? u->n : 1), nw, ws, w, 100.0 * u->peak);
		break;
	case FR_METRIC_P99_LATENCY:
		snprintf(detail, sizeof(detail), "p99 up to %s (threshold %s); %lld of %lld requests slower in %d window%s of %s",
			 dur_str(u->peak, a, sizeof(a)), dur_str(r->threshold, b, sizeof(b)), u->hits, u->n, nw, ws, w);
		break;
	default:
		snprintf(detail, sizeof(detail), "%lld %s in %d window%s of %s", u->n,
			 r->metric == FR_METRIC_CONN_RESETS ? "TCP resets" :
			 r->metric == FR_METRIC_RETRANSMITS ? "TCP retransmits" : "events lost",
			 nw, ws, w);
	}
	sqlite3_bind_text(ins, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, r->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 3, u->subject, -1, SQLITE_STATIC);
	sqlite3_bind_double(ins, 4, u->peak);
	sqlite3_bind_double(ins, 5, r->threshold);
	sqlite3_bind_int64(ins, 6, u->first_ns);
	sqlite3_bind_int64(ins, 7, u->last_ns);
	sqlite3_bind_text(ins, 8, detail, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 9, iso_ms(u->first_wall, t1, sizeof(t1)), -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 10, iso_ms(u->last_wall, t2, sizeof(t2)), -1, SQLITE_STATIC);
	int rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Evaluates one rule: its windows in order, runs merged and inserted.
 * Returns the number of alerts or -1 (err). */
static long eval_rule(sqlite3 *db, const struct fr_rule *r, sqlite3_stmt *ins, char *err, size_t errlen)
{
	char sql[4096];
	sqlite3_stmt *st;
	metric_sql(r->metric, sql, sizeof(sql));
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "rule %s: %s", r->name, sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, r->window_ns);
	sqlite3_bind_double(st, 2, r->threshold);
	sqlite3_bind_int64(st, 3, r->min_count);
	sqlite3_bind_int(st, 4, r->or_equal);
	struct run u = {.windows = 0};
	long alerts = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		long long k = sqlite3_column_int64(st, 1), n = sqlite3_column_int64(st, 2);
		double v = sqlite3_column_double(st, 4);
		int fires = sqlite3_column_type(st, 4) != SQLITE_NULL && sqlite3_column_type(st, 5) != SQLITE_NULL &&
			    n >= r->min_count && (v > r->threshold || (r->or_equal && v >= r->threshold));
		int same = u.windows && !strcmp(u.subject, s ? s : "?") && k == u.k_last + 1;
		if (u.windows && (!fires || !same)) {
			if (insert_alert(ins, r, &u) < 0)
				goto fail;
			alerts++;
			u.windows = 0;
		}
		if (!fires)
			continue;
		if (!u.windows) {
			memset(&u, 0, sizeof(u));
			snprintf(u.subject, sizeof(u.subject), "%s", s ? s : "?");
			u.k_first = k;
			u.first_ns = sqlite3_column_int64(st, 5);
			u.first_wall = sqlite3_column_int64(st, 7);
		}
		u.k_last = k;
		u.windows++;
		u.n += n;
		u.hits += sqlite3_column_int64(st, 3);
		u.peak = v > u.peak ? v : u.peak;
		u.last_ns = sqlite3_column_int64(st, 6);
		u.last_wall = sqlite3_column_int64(st, 8);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	if (u.windows) {
		if (insert_alert(ins, r, &u) < 0)
			goto fail;
		alerts++;
	}
	sqlite3_finalize(st);
	return alerts;
fail:
	snprintf(err, errlen, "rule %s: %s", r->name, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return -1;
}

long fr_rules_evaluate(const struct fr_rules *r, sqlite3 *db, char *notes, size_t noteslen, char *err,
		       size_t errlen)
{
	sqlite3_stmt *ins = NULL;
	long total = 0;
	if (notes && noteslen)
		notes[0] = 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE; " FR_ALERTS_SQL "; DELETE FROM alerts", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO alerts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", -1, &ins,
			       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot write the alerts table: %s", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	int need_rq = 0;
	for (int i = 0; i < r->n; i++)
		need_rq |= r->v[i].metric == FR_METRIC_ERROR_RATE || r->v[i].metric == FR_METRIC_P99_LATENCY;
	if (need_rq && (sqlite3_exec(db, "DROP TABLE IF EXISTS temp.alert_rq", NULL, NULL, NULL) != SQLITE_OK ||
			sqlite3_exec(db, ALERT_RQ_SQL, NULL, NULL, NULL) != SQLITE_OK)) {
		snprintf(err, errlen, "cannot read the requests: %s", sqlite3_errmsg(db));
		sqlite3_finalize(ins);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	for (int i = 0; i < r->n; i++) {
		const char *col = needed_column(r->v[i].metric);
		if (col && !has_values(db, col)) {
			if (notes) {
				size_t o = strlen(notes);
				snprintf(notes + o, noteslen - o, "%s%s (the recording has no connections.%s)",
					 o ? "; " : "", r->v[i].name, col);
			}
			continue;
		}
		long n = eval_rule(db, &r->v[i], ins, err, errlen);
		if (n < 0) {
			sqlite3_finalize(ins);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		total += n;
	}
	sqlite3_finalize(ins);
	if (need_rq)
		sqlite3_exec(db, "DROP TABLE temp.alert_rq", NULL, NULL, NULL);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot write the alerts table: %s", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return total;
}

long fr_rules_apply(const char *path, const char *db_path, char *notes, size_t noteslen, char *err,
		    size_t errlen)
{
	struct fr_rules r;
	sqlite3 *db = NULL;
	if (fr_rules_load(path, &r, err, errlen) < 0)
		return -1;
	long n = -1;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		snprintf(err, errlen, "cannot open %s: %s", db_path, sqlite3_errmsg(db));
	else {
		sqlite3_busy_timeout(db, 5000);
		n = fr_rules_evaluate(&r, db, notes, noteslen, err, errlen);
	}
	sqlite3_close(db);
	fr_rules_fini(&r);
	return n;
}
