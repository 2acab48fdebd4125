/* findings.c - the verdict: the few findings that explain an incident,
 * ranked.  Failing endpoints (errors that started part-way through the
 * recording rank first), DNS names that do not resolve, slow edges, the
 * recording's own losses and gaps per edge, and the rows of the alerts
 * table when the analysis made one (after the findings they restate).  Each comes from one aggregate query
 * over temp.rq (rp_setup) or the tables; nothing here reads every row in C. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct flist {
	struct rp_finding *v;
	int n, cap;
};

static struct rp_finding *add(struct flist *l)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 16;
		struct rp_finding *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v, l->cap = cap;
	}
	struct rp_finding *f = &l->v[l->n++];
	memset(f, 0, sizeof(*f));
	return f;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

/* A kind of finding: the aggregate query whose rows are findings, and how
 * a row fills one in (its kind is set already; range is the recording's
 * wall-clock time range).  With table set, the kind is looked for only when
 * the database has that table, and a query that does not fit it is not an
 * error (another layout: not ours to judge). */
struct fkind {
	const char *kind, *table, *sql;
	void (*fill)(struct rp_finding *f, sqlite3_stmt *st, const int64_t range[2]);
};

/* Error responses per server workload and endpoint (DNS apart: by name,
 * below).  Errors that begin after the first tenth of the recording are
 * what changed, and rank above errors present all along; their rate is
 * that of the requests since the first error (an endpoint that fails
 * every request since then fails at 100%, however long it worked
 * before: else how long the recording ran before the fault would decide
 * whether an alert outranks it). */
static void endpoint_fill(struct rp_finding *f, sqlite3_stmt *st, const int64_t range[2])
{
	char t[32], d[32];
	int64_t from = range[0], to = range[1];
	int64_t errs = sqlite3_column_int64(st, 3), n = sqlite3_column_int64(st, 4);
	int64_t since = sqlite3_column_int64(st, 5);
	int64_t n_since = sqlite3_column_int64(st, 9);
	int late = to > from && since > from + (to - from) / 10;
	double rate = (double)errs / (double)(late && n_since ? n_since : n);
	f->score = rate * log2(1.0 + (double)errs) * (late ? 3 : 1);
	snprintf(f->workload, sizeof(f->workload), "%s", col(st, 0));
	snprintf(f->endpoint, sizeof(f->endpoint), "%s", col(st, 2));
	f->since_ns = since, f->count = errs, f->total = n;
	f->example_id = sqlite3_column_int64(st, 6);
	snprintf(f->title, sizeof(f->title), "%s %s %.60s returns %s since %s (%lld of %lld requests)%s%s",
		 f->workload, col(st, 1), f->endpoint, col(st, 7), rp_hms(since, t, sizeof(t)), (long long)errs,
		 (long long)n, sqlite3_column_type(st, 8) == SQLITE_NULL ? "" : ", slowest error wait ",
		 sqlite3_column_type(st, 8) == SQLITE_NULL ? "" : rp_dur(sqlite3_column_int64(st, 8), d, sizeof(d)));
}

/* DNS names answered with an error (NXDOMAIN, SERVFAIL...) or not at all. */
static void dns_fill(struct rp_finding *f, sqlite3_stmt *st, const int64_t range[2])
{
	char t[32];
	(void)range;
	f->count = sqlite3_column_int64(st, 2);
	f->total = sqlite3_column_int64(st, 6);
	f->since_ns = sqlite3_column_int64(st, 3);
	f->example_id = sqlite3_column_int64(st, 4);
	f->score = 0.8 * log2(1.0 + (double)f->count) * f->count / (f->total ? f->total : 1);
	snprintf(f->workload, sizeof(f->workload), "%s", col(st, 5));
	snprintf(f->endpoint, sizeof(f->endpoint), "%s", col(st, 0));
	snprintf(f->title, sizeof(f->title), "DNS %.120s: %s since %s (%lld of %lld queries)", f->endpoint,
		 col(st, 1), rp_hms(f->since_ns, t, sizeof(t)), (long long)f->count, (long long)f->total);
}

/* Edges whose p99 is over a second. */
static void slow_fill(struct rp_finding *f, sqlite3_stmt *st, const int64_t range[2])
{
	char d[32];
	(void)range;
	f->count = sqlite3_column_int64(st, 7);
	f->total = sqlite3_column_int64(st, 3);
	f->example_id = sqlite3_column_int64(st, 6);
	f->since_ns = sqlite3_column_int64(st, 5);
	f->score = 0.3 * log2(1.0 + (double)f->count);
	snprintf(f->client, sizeof(f->client), "%s", col(st, 0));
	snprintf(f->workload, sizeof(f->workload), "%s", col(st, 1));
	snprintf(f->title, sizeof(f->title), "slow: %s -> %s %s: %lld of %lld requests over 1 s (max %s)",
		 f->client, f->workload, col(st, 2), (long long)f->count, (long long)f->total,
		 rp_dur(sqlite3_column_int64(st, 4), d, sizeof(d)));
}

/* What the recording lost or skipped, per edge: capture losses, stream
 * gaps, resynchronisations, damaged segments (the evidence a network or
 * capture problem leaves in the recording).  Payload cut at the snap length
 * is the recorder's choice, not evidence: left out. */
static void network_fill(struct rp_finding *f, sqlite3_stmt *st, const int64_t range[2])
{
	char t[32];
	(void)range;
	f->count = sqlite3_column_int64(st, 3);
	f->since_ns = sqlite3_column_int64(st, 4);
	f->score = 0.2 * log2(1.0 + (double)f->count);
	snprintf(f->client, sizeof(f->client), "%s", col(st, 1));
	snprintf(f->workload, sizeof(f->workload), "%s", col(st, 2));
	snprintf(f->title, sizeof(f->title), "network/capture: %lld %s on %s -> %s since %s",
		 (long long)f->count, col(st, 0), f->client, f->workload, rp_hms(f->since_ns, t, sizeof(t)));
}

/* The alerts table (rules evaluated at analyze time), when there is one. */
static void alert_fill(struct rp_finding *f, sqlite3_stmt *st, const int64_t range[2])
{
	char t[32];
	(void)range;
	f->since_ns = sqlite3_column_int64(st, 5);
	f->score = !strcmp(col(st, 1), "critical") ? 2.5 : 1.0;
	snprintf(f->workload, sizeof(f->workload), "%s", col(st, 2));
	snprintf(f->title, sizeof(f->title), "alert %s (%s): %s %g over %g since %s%s%.80s", col(st, 0),
		 col(st, 1), col(st, 2), sqlite3_column_double(st, 3), sqlite3_column_double(st, 4),
		 rp_hms(f->since_ns, t, sizeof(t)), *col(st, 6) ? ": " : "", col(st, 6));
}

static const struct fkind kinds[] = {
	{"endpoint", NULL,
	 "WITH g AS (SELECT sw, protocol, ep, min(ts) AS since FROM rq WHERE error AND protocol != 'dns'"
	 "  GROUP BY sw, protocol, ep)"
	 " SELECT rq.sw, rq.protocol, rq.ep, sum(error), count(*), g.since,"
	 "  min(CASE WHEN error THEN id END),"
	 "  replace(group_concat(DISTINCT CASE WHEN error THEN coalesce(status, 'no response') END), ',', ' or '),"
	 "  max(CASE WHEN error THEN wait_ns END), sum(ts >= g.since)"
	 " FROM rq JOIN g ON g.sw IS rq.sw AND g.protocol = rq.protocol AND g.ep IS rq.ep"
	 " GROUP BY rq.sw, rq.protocol, rq.ep ORDER BY 4 DESC LIMIT 50",
	 endpoint_fill},
	{"dns", NULL,
	 "SELECT summary, replace(group_concat(DISTINCT CASE WHEN error THEN coalesce(status, 'no answer') END), ',', ' or '),"
	 " sum(error), min(CASE WHEN error THEN ts END), min(CASE WHEN error THEN id END), sw, count(*)"
	 " FROM rq WHERE protocol = 'dns' GROUP BY summary HAVING sum(error) > 0 ORDER BY 3 DESC LIMIT 20",
	 dns_fill},
	{"slow", NULL,
	 /* id and ts: the slowest request's (SQLite's bare columns of max()) */
	 "SELECT cw, sw, protocol, count(*), max(latency_ns), ts, id, sum(latency_ns >= 1000000000)"
	 " FROM rq WHERE latency_ns IS NOT NULL GROUP BY cw, sw, protocol"
	 " HAVING sum(latency_ns >= 1000000000) * 100 > count(*) ORDER BY 8 DESC LIMIT 10",
	 slow_fill},
	{"network", NULL,
	 "SELECT a.kind, CASE WHEN c.role = 'server' THEN c.remote_workload ELSE c.local_workload END,"
	 " CASE WHEN c.role = 'server' THEN c.local_workload ELSE c.remote_workload END, count(*),"
	 " min(a.ts + coalesce(o.off, 0)) FROM anomalies a LEFT JOIN connections c ON c.id = a.conn_id"
	 " LEFT JOIN rp_conn o ON o.id = a.conn_id WHERE a.kind IN ('gap', 'loss', 'resync', 'segment_damage')"
	 " AND a.detail NOT LIKE 'truncated by snap length%' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 10",
	 network_fill},
	/* start_ns is the recording's clock: on the wall clock as rq.ts is */
	{"alert", "alerts",
	 "SELECT rule, severity, subject, value, threshold,"
	 " start_ns + coalesce((SELECT min(off) FROM rp_off), 0), detail"
	 " FROM alerts ORDER BY severity = 'critical' DESC, start_ns LIMIT 50",
	 alert_fill},
};

/* Adds the findings of one kind to l.  0, or -1 when its query failed. */
static int find(sqlite3 *db, struct flist *l, const struct fkind *k, const int64_t range[2])
{
	if (k->table && !rp_has(db, k->table))
		return 0;
	sqlite3_stmt *st = rp_prep(db, k->sql);
	if (!st)
		return k->table ? 0 : -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct rp_finding *f = add(l);
		if (!f)
			break;
		snprintf(f->kind, sizeof(f->kind), "%s", k->kind);
		k->fill(f, st, range);
	}
	sqlite3_finalize(st);
	return 0;
}

/* Whether an alert's subject names finding f: its server workload (and
 * endpoint: "e2e/cache INCR"), or the end of its endpoint (a DNS name,
 * "A cahce.shop.svc.cluster.local"). */
static int names(const char *subject, const struct rp_finding *f)
{
	size_t n = strlen(f->workload), m = strlen(subject), e = strlen(f->endpoint);
	if (n && !strncmp(subject, f->workload, n) && (!subject[n] || subject[n] == ' '))
		return 1;
	return m && e >= m && !strcmp(f->endpoint + e - m, subject) && (e == m || f->endpoint[e - m - 1] == ' ');
}

/* An alert that names a finding says again what it says, with less (no
 * status, no example): it ranks after the findings, so that a short
 * verdict names the different causes first.  A demo run under load had
 * four such alerts push an NXDOMAIN name out of its five lines. */
static void demote_restated(struct flist *l)
{
	for (int i = 0; i < l->n; i++) {
		struct rp_finding *a = &l->v[i];
		if (strcmp(a->kind, "alert"))
			continue;
		for (int j = 0; j < l->n; j++)
			if (strcmp(l->v[j].kind, "alert") && names(a->workload, &l->v[j])) {
				a->score /= 100;
				break;
			}
	}
}

static int by_score(const void *a, const void *b)
{
	const struct rp_finding *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->title, y->title);
}

int rp_findings(sqlite3 *db, int max, struct rp_finding **out)
{
	struct flist l = {0};
	int64_t range[2];
	rp_range(db, &range[0], &range[1]);
	*out = NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (find(db, &l, &kinds[i], range) < 0) {
			free(l.v);
			return -1;
		}
	demote_restated(&l);
	qsort(l.v, l.n, sizeof(*l.v), by_score);
	*out = l.v;
	return l.n < max ? l.n : max;
}

void rp_print_verdict(sqlite3 *db, FILE *f, int max)
{
	struct rp_finding *v;
	int n = rp_findings(db, max, &v);
	fprintf(f, "Verdict%s\n", n > 0 ? " (most telling first; times UTC)" : "");
	for (int i = 0; i < n; i++)
		fprintf(f, "  %d. %s\n", i + 1, v[i].title);
	if (n == 0)
		fprintf(f, "  nothing stands out: no errors, no slow edges, no losses\n");
	free(v);
}
