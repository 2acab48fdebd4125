/* html.c - `flightrec report DB -o report.html`: one self-contained page
 * (inline CSS, SVG and JS; no network) for an incident.  Everything the
 * page shows is aggregated here in SQL over temp.rq (common.c) and capped
 * (dimensions at the analysis's dim_cap, rows at fixed limits), so the file
 * stays small whatever the number of requests; the page's script
 * (report_template.html) draws it and filters it. */
#include "../formats/cli.h"
#include "../formats/outfile.h"
#include "html_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Groups for rp_groups (keys, error, latency; sorted by keys, latency):
 * per edge; per server workload and time bucket (?1 start, ?2 width); per
 * edge and bucket for the 100 busiest edges. */
static const char edges_sql[] =
	"SELECT cw, sw, protocol, error, latency_ns FROM rq ORDER BY 1, 2, 3, 5";
static const char *const edges_cols[] = {"client", "server", "protocol"};
static const char series_sql[] =
	"SELECT sw, (ts - ?1) / ?2, error, latency_ns FROM rq ORDER BY 1, 2, 4";
static const char *const series_cols[] = {"w", "b"};
static const char edge_series_sql[] =
	"WITH top AS (SELECT cw, sw FROM rq GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 100)\n"
	"SELECT rq.cw, rq.sw, (ts - ?1) / ?2, error, latency_ns FROM rq JOIN top ON top.cw = rq.cw AND top.sw = rq.sw\n"
	"ORDER BY 1, 2, 3, 5";
static const char *const edge_series_cols[] = {"c", "s", "b"};

static const char workloads_sql[] =
	"WITH a AS (SELECT sw AS w, count(*) AS nin, sum(error) AS ein, 0 AS nout FROM rq GROUP BY sw\n"
	"  UNION ALL SELECT cw, 0, 0, count(*) FROM rq GROUP BY cw)\n"
	"SELECT w AS workload, sum(nin) AS served, sum(ein) AS errors, sum(nout) AS sent,\n"
	"  (SELECT min(namespace) FROM pods WHERE workload = a.w) AS namespace,\n"
	"  (SELECT group_concat(name, ' ') FROM (SELECT name FROM pods WHERE workload = a.w ORDER BY name LIMIT 5)) AS pods,\n"
	"  (SELECT count(*) FROM pods WHERE workload = a.w) AS npods\n"
	"FROM a GROUP BY w ORDER BY sum(nin) + sum(nout) DESC, w";

static const char slowest_sql[] =
	"SELECT id, protocol, summary, status, error, cw AS client, sw AS server, ts, latency_ns, upload_ns,\n"
	"  wait_ns, download_ns, network_ns, read_delay_ns AS client_read_delay_ns FROM rq WHERE latency_ns IS NOT NULL\n"
	"  ORDER BY latency_ns DESC, id LIMIT 100";

static const char failures_sql[] =
	"SELECT sw AS server, cw AS client, protocol, ep AS endpoint, coalesce(status, '(no response)') AS status,\n"
	"  coalesce(reason, '') AS reason, count(*) AS requests, min(id) AS example, min(ts) AS first, max(ts) AS last\n"
	"FROM rq WHERE error GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 7 DESC, 1, 2, 3, 4 LIMIT 200";

static const char anomaly_kinds_sql[] =
	"SELECT a.kind, count(*) AS n, min(a.ts + coalesce(o.off, 0)) AS first, max(a.ts + coalesce(o.off, 0)) AS last\n"
	"FROM anomalies a LEFT JOIN rp_conn o ON o.id = a.conn_id GROUP BY 1 ORDER BY 2 DESC, 1";
/* at most 30 of each kind, spread over the recording (every k-th) */
static const char anomalies_sql[] =
	"WITH a AS (SELECT a.*, row_number() OVER (PARTITION BY a.kind ORDER BY a.ts) AS rn,\n"
	"   count(*) OVER (PARTITION BY a.kind) AS n FROM anomalies a)\n"
	"SELECT a.conn_id AS conn, a.ts + coalesce(o.off, 0) AS ts, a.kind, substr(a.detail, 1, 200) AS detail,\n"
	"  CASE WHEN c.role = 'server' THEN c.remote_workload ELSE c.local_workload END AS client,\n"
	"  CASE WHEN c.role = 'server' THEN c.local_workload ELSE c.remote_workload END AS server\n"
	"FROM a LEFT JOIN connections c ON c.id = a.conn_id LEFT JOIN rp_conn o ON o.id = a.conn_id\n"
	"WHERE (a.rn - 1) % ((a.n + 29) / 30) = 0 ORDER BY 2 LIMIT 600";

/* FLIGHTREC_TIMING=1: each part's wall and CPU time on stderr */
static void stage(const char *name)
{
	static struct timespec w0, c0;
	struct timespec w, c;
	if (!getenv("FLIGHTREC_TIMING"))
		return;
	clock_gettime(CLOCK_MONOTONIC, &w);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
	if (name)
		fprintf(stderr, "report: %-12s %6.2f s (cpu %.2f s)\n", name,
			(double)(w.tv_sec - w0.tv_sec) + (w.tv_nsec - w0.tv_nsec) / 1e9,
			(double)(c.tv_sec - c0.tv_sec) + (c.tv_nsec - c0.tv_nsec) / 1e9);
	w0 = w, c0 = c;
}

/* The golden signals' bucket: a round width giving at most 120 buckets. */
static int64_t bucket_width(int64_t from, int64_t to)
{
	static const int64_t ms[] = {10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000,
				     120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 86400000};
	int64_t range = to - from;
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (range / (ms[i] * 1000000) < 120)
			return ms[i] * 1000000;
	return range / 119 + 1;
}

static void group_row(void *ctx, const struct rp_group *g)
{
	json_t *r = json_array();
	for (int i = 0; i < g->nkeys; i++) {
		sqlite3_value *v = g->key[i];
		if (sqlite3_value_type(v) == SQLITE_INTEGER)
			json_array_append_new(r, json_integer(sqlite3_value_int64(v)));
		else
			json_array_append_new(r, hj_str((const char *)sqlite3_value_text(v)));
	}
	json_array_append_new(r, json_integer(g->n));
	json_array_append_new(r, json_integer(g->errors));
	json_array_append_new(r, g->p50 ? json_integer(g->p50) : json_null());
	json_array_append_new(r, g->p99 ? json_integer(g->p99) : json_null());
	json_array_append_new(ctx, r);
}

static int by_count_desc(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	size_t k = json_array_size(x) - 4;
	json_int_t m = json_integer_value(json_array_get(x, k)), n = json_integer_value(json_array_get(y, k));
	return m < n ? 1 : m > n ? -1 : 0;
}

/* {"cols": keys + n, errors, p50, p99, "rows"} of rp_groups over sql;
 * with max > 0 the max groups with the most requests. */
static json_t *groups(sqlite3 *db, const char *sql, const int64_t *binds, int nbind, const char *const *keys,
		      int nkeys, int max)
{
	json_t *t = json_object(), *cols = json_array(), *rows = json_array();
	static const char *const stats[] = {"n", "errors", "p50", "p99"};
	for (int i = 0; i < nkeys; i++)
		json_array_append_new(cols, json_string(keys[i]));
	for (int i = 0; i < 4; i++)
		json_array_append_new(cols, json_string(stats[i]));
	rp_groups(db, sql, binds, nbind, nkeys, group_row, rows);
	size_t n = json_array_size(rows);
	if (max > 0 && n > (size_t)max) {
		json_t **v = malloc(n * sizeof(*v)), *kept = json_array();
		for (size_t i = 0; v && i < n; i++)
			v[i] = json_array_get(rows, i);
		if (v) {
			qsort(v, n, sizeof(*v), by_count_desc);
			for (int i = 0; i < max; i++)
				json_array_append(kept, v[i]);
		}
		free(v);
		json_decref(rows);
		rows = kept;
	}
	json_object_set_new(t, "cols", cols);
	json_object_set_new(t, "rows", rows);
	return t;
}

static json_t *meta(sqlite3 *db, const char *path, int64_t from, int64_t to)
{
	json_t *m = json_object();
	char reason[128];
	int64_t trig = rp_trigger(db, reason, sizeof(reason));
	json_object_set_new(m, "db", hj_str(path));
	json_object_set_new(m, "version", hj_str(FLIGHTREC_VERSION));
	json_object_set_new(m, "generated", json_integer((int64_t)time(NULL) * 1000000000));
	json_object_set_new(m, "from", json_integer(from));
	json_object_set_new(m, "to", json_integer(to));
	json_object_set_new(m, "trigger", trig > 0 ? json_integer(trig) : json_null());
	json_object_set_new(m, "reason", trig > 0 ? hj_str(reason) : json_null());
	json_object_set_new(m, "requests", json_integer(hj_scalar(db, "SELECT count(*) FROM rq")));
	json_object_set_new(m, "errors", json_integer(hj_scalar(db, "SELECT coalesce(sum(error), 0) FROM rq")));
	json_object_set_new(m, "connections", json_integer(hj_scalar(db, "SELECT count(*) FROM connections")));
	json_object_set_new(m, "pods", json_integer(hj_scalar(db, "SELECT count(*) FROM pods")));
	json_object_set_new(m, "gap_bytes",
			    json_integer(hj_scalar(db, "SELECT coalesce(sum(gap_bytes), 0) FROM connections")));
	json_object_set_new(m, "gap_conns",
			    json_integer(hj_scalar(db, "SELECT count(*) FROM connections WHERE gap_bytes > 0")));
	json_object_set_new(m, "damaged_segments",
			    json_integer(hj_scalar(db, "SELECT coalesce(sum(damaged > 0), 0) FROM segments")));
	json_object_set_new(m, "dim_cap",
			    json_integer(hj_scalar(db, "SELECT value FROM settings WHERE key = 'dim_cap'")));
	json_object_set_new(m, "nodes", hj_table(db, "SELECT DISTINCT node FROM segments ORDER BY 1"));
	return m;
}

static json_t *findings(sqlite3 *db)
{
	struct rp_finding *f;
	int n = rp_findings(db, 12, &f);
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "kind", hj_str(f[i].kind));
		json_object_set_new(o, "title", hj_str(f[i].title));
		json_object_set_new(o, "server", hj_str(f[i].workload));
		json_object_set_new(o, "client", hj_str(f[i].client));
		json_object_set_new(o, "endpoint", hj_str(f[i].endpoint));
		json_object_set_new(o, "since", json_integer(f[i].since_ns));
		json_object_set_new(o, "count", json_integer(f[i].count));
		json_object_set_new(o, "total", json_integer(f[i].total));
		json_object_set_new(o, "example", f[i].example_id ? json_integer(f[i].example_id) : json_null());
		json_array_append_new(a, o);
	}
	free(f);
	return a;
}

static json_t *diff(sqlite3 *db)
{
	struct rp_diff d;
	json_t *o = json_object(), *ch = json_array(), *nw = json_array();
	if (rp_diff_compute(db, -1, 40, &d) == 0) {
		json_object_set_new(o, "split", json_integer(d.split));
		json_object_set_new(o, "by_trigger", json_boolean(d.by_trigger));
		for (int i = 0; i < d.nch; i++) {
			struct rp_change *c = &d.ch[i];
			json_array_append_new(ch, json_pack("{s:o,s:o,s:o,s:[I,I],s:[I,I],s:[I,I],s:[f,f],s:f}", "kind",
							    hj_str(c->kind), "subject", hj_str(c->subject), "proto",
							    hj_str(c->proto), "n", c->n[0], c->n[1], "err", c->err[0],
							    c->err[1], "p99", c->p99[0], c->p99[1], "rate", c->rate[0],
							    c->rate[1], "score", c->score));
		}
		for (int i = 0; i < d.nnw; i++) {
			struct rp_new *x = &d.nw[i];
			json_array_append_new(nw, json_pack("{s:o,s:o,s:o,s:s,s:I,s:I}", "kind", hj_str(x->kind), "text",
							    hj_str(x->text), "where", hj_str(x->where), "side", x->side,
							    "count", x->count, "first", x->first_ns));
		}
	}
	rp_diff_fini(&d);
	json_object_set_new(o, "changes", ch);
	json_object_set_new(o, "new", nw);
	return o;
}

/* The requests the page can open: the slowest, an example of each failure
 * group and of each finding. */
static const char ids_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS rp_ids (id INTEGER PRIMARY KEY);\n"
	"INSERT OR IGNORE INTO rp_ids SELECT id FROM rq WHERE latency_ns IS NOT NULL ORDER BY latency_ns DESC, id LIMIT 100;\n"
	"INSERT OR IGNORE INTO rp_ids SELECT min(id) FROM rq WHERE error GROUP BY sw, cw, protocol, ep, status, reason\n"
	"  ORDER BY count(*) DESC LIMIT 200;\n";

static json_t *build(sqlite3 *db, const char *path)
{
	int64_t from, to;
	rp_range(db, &from, &to);
	int64_t width = bucket_width(from, to);
	json_t *d = json_object();
	json_object_set_new(d, "meta", meta(db, path, from, to));
	stage("meta");
	json_object_set_new(d, "findings", findings(db));
	stage("findings");
	if (rp_has(db, "alerts"))
		json_object_set_new(d, "alerts", hj_table(db, "SELECT rule, severity, subject, value, threshold,"
							      " start_ns, end_ns, detail FROM alerts LIMIT 500"));
	json_object_set_new(d, "workloads", hj_table(db, workloads_sql));
	stage("workloads");
	json_object_set_new(d, "edges", groups(db, edges_sql, NULL, 0, edges_cols, 3, 300));
	stage("edges");
	json_object_set_new(d, "bucket", json_integer(width));
	int64_t b[2] = {from, width};
	json_object_set_new(d, "series", groups(db, series_sql, b, 2, series_cols, 2, 0));
	stage("series");
	json_object_set_new(d, "edge_series", groups(db, edge_series_sql, b, 2, edge_series_cols, 3, 0));
	stage("edge_series");
	json_object_set_new(d, "diff", diff(db));
	stage("diff");
	json_object_set_new(d, "slowest", hj_table(db, slowest_sql));
	stage("slowest");
	json_object_set_new(d, "failures", hj_table(db, failures_sql));
	stage("failures");
	json_object_set_new(d, "anomaly_kinds", hj_table(db, anomaly_kinds_sql));
	json_object_set_new(d, "anomalies", hj_table(db, anomalies_sql));
	stage("anomalies");
	char *err = NULL;
	if (sqlite3_exec(db, ids_sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "flightrec report: %s\n", err);
		sqlite3_free(err);
	}
	sqlite3_stmt *st = rp_prep(db, "INSERT OR IGNORE INTO rp_ids VALUES (?)");
	json_t *f = json_object_get(d, "findings"), *v;
	size_t i;
	json_array_foreach(f, i, v) {
		json_t *ex = json_object_get(v, "example");
		if (!st || !json_is_integer(ex))
			continue;
		sqlite3_bind_int64(st, 1, json_integer_value(ex));
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	json_object_set_new(d, "drill", html_drill(db));
	stage("drill");
	return d;
}

/* Writes the template with the data in place of its marker. */
static int write_page(FILE *f, json_t *doc)
{
	const char *mark = strstr(rp_template, HTML_DATA_MARK);
	if (!mark)
		return -1;
	fwrite(rp_template, 1, mark - rp_template, f);
	if (hj_write_script(f, doc) < 0)
		return -1;
	fputs(mark + strlen(HTML_DATA_MARK), f);
	return ferror(f) ? -1 : 0;
}

/* The page is written as every output (formats/outfile.h): under a
 * temporary name (0600: it quotes payloads), renamed into place once
 * complete; only a regular file or nothing is replaced at out. */
int rp_html(sqlite3 *db, const char *path, const char *out)
{
	char err[512];
	int fd;
	char *tmp = fr_out_begin(out, &fd, err, sizeof(err));
	if (!tmp) {
		fprintf(stderr, "flightrec report: %s\n", err);
		return -1;
	}
	stage(NULL);
	FILE *f = fdopen(fd, "w");
	if (!f || rp_setup(db) < 0) {
		if (!f)
			fprintf(stderr, "flightrec report: cannot write %s: %m\n", tmp);
		f ? fclose(f) : close(fd);
		fr_out_abort(tmp);
		return -1;
	}
	stage("setup");
	json_t *doc = build(db, path);
	int rc = write_page(f, doc);
	json_decref(doc);
	stage("write");
	if (fclose(f) != 0)
		rc = -1;
	if (rc < 0) {
		fprintf(stderr, "flightrec report: writing %s failed: %m\n", out);
		fr_out_abort(tmp);
		return -1;
	}
	if (fr_out_commit(tmp, out) < 0) { /* tmp is gone */
		fprintf(stderr, "flightrec report: cannot rename the page to %s: %m\n", out);
		return -1;
	}
	return 0;
}
