/* diff.c - "what changed": the requests of the window before a split time
 * (the snapshot trigger by default) against those after it, or of two
 * given ranges.  Per edge and per endpoint the change in rate, error rate
 * and p99, ranked; endpoints, statuses, error messages, DNS names and SQL
 * statements seen only after; the pods whose traffic starts in the after
 * window, those whose traffic stopped before it, and the processes started
 * in the window.
 * Used by the HTML report's section and by `flightrec diff DB [--split
 * TIME | --before FROM..TO --after FROM..TO]`.  All aggregation is in SQL
 * over temp.rq (common.c), or its rows in the two ranges (temp.rqw). */
#include "../formats/cli.h"
#include "report.h"
#include "report_internal.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests per subject, protocol and side of the split (?1), for
 * rp_groups.  %s is the subject expression. */
static const char change_sql[] =
	"SELECT %s AS subj, protocol, ts >= ?1 AS after, error, latency_ns FROM %s ORDER BY 1, 2, 3, 5";

/* What appears only after the split: kind, text, where, count, first. */
static const char *const new_sql[] = {
	"SELECT 'endpoint', ep, sw, count(*), min(ts) FROM %s GROUP BY sw, protocol, ep HAVING min(ts) >= ?1",
	"SELECT 'status', protocol || ' ' || coalesce(status, '(no response)'), group_concat(DISTINCT sw), count(*),"
	" min(ts) FROM %s GROUP BY protocol, status HAVING min(ts) >= ?1",
	"SELECT 'error', reason, group_concat(DISTINCT sw), count(*), min(ts) FROM %s"
	" WHERE reason IS NOT NULL AND reason != '' GROUP BY reason HAVING min(ts) >= ?1",
	"SELECT 'dns', summary || ' ' || group_concat(DISTINCT coalesce(status, '(no answer)')), group_concat(DISTINCT sw),"
	" count(*), min(ts) FROM %s WHERE protocol = 'dns' GROUP BY summary HAVING min(ts) >= ?1",
	"SELECT 'sql', ep, group_concat(DISTINCT sw), count(*), min(ts) FROM %s"
	" WHERE protocol IN ('mysql', 'pgsql') GROUP BY ep HAVING min(ts) >= ?1",
};

/* Processes with their pod and start (wall ns) */
#define PROC_POD \
	"WITH p AS (SELECT pr.comm, pr.start_ns + coalesce(o.off, 0) AS t,\n" \
	"   (SELECT min(pd.namespace || '/' || pd.name) FROM pod_containers pc JOIN pods pd ON pd.uid = pc.pod_uid\n" \
	"    WHERE pc.container_id = pr.container_id) AS pod\n" \
	"  FROM processes pr LEFT JOIN rp_off o ON o.node = pr.node)\n"

/* Pods and processes that came or went, each row: kind, text, where, count,
 * time, on the after side (1/0); ?1 the after window's start, ?2 and ?3
 * the window (the before range's start, the after range's end). */
static const char *const life_sql[] = {
	/* a pod whose traffic starts on the after side (a process is not
	 * enough: a server's main process without connections is not recorded) */
	"SELECT 'new pod', c.local_pod, group_concat(DISTINCT c.comm), count(*), min(c.start_ns + coalesce(o.off, 0)), 1\n"
	" FROM connections c LEFT JOIN rp_off o ON o.node = c.node WHERE c.local_pod IS NOT NULL\n"
	" GROUP BY c.local_pod HAVING min(c.start_ns + coalesce(o.off, 0)) >= ?1\n"
	"  AND min(c.start_ns + coalesce(o.off, 0)) <= ?3 AND ?2 < ?1 ORDER BY 5",
	/* a pod with traffic in the window, none from the after window on */
	"SELECT 'quiet pod', c.local_pod, 'last traffic', count(*), max(c.end_ns + coalesce(o.off, 0)), 0\n"
	" FROM connections c LEFT JOIN rp_off o ON o.node = c.node WHERE c.local_pod IS NOT NULL\n"
	" GROUP BY c.local_pod HAVING max(c.end_ns + coalesce(o.off, 0)) < ?1\n"
	"  AND max(c.end_ns + coalesce(o.off, 0)) >= ?2 AND ?3 > ?1 ORDER BY 5",
	/* processes started in the window, by pod and command, on each side */
	PROC_POD "SELECT 'process', coalesce(comm, '?'), coalesce(pod, '(no pod)'), count(*), min(t), t >= ?1 AS after\n"
	" FROM p WHERE t >= ?2 AND t <= ?3 GROUP BY comm, pod, after ORDER BY after DESC, 5",
};

static double ratio_score(double a, double b)
{
	return fabs(log2((a + 1e-9) / (b + 1e-9)));
}

static void score(struct rp_change *c)
{
	double e0 = c->n[0] ? (double)c->err[0] / c->n[0] : 0, e1 = c->n[1] ? (double)c->err[1] / c->n[1] : 0;
	double s = 3 * fabs(e1 - e0) * log2(2.0 + c->err[0] + c->err[1]);
	if (c->p99[0] > 0 && c->p99[1] > 0)
		s += 0.5 * fmin(ratio_score((double)c->p99[1], (double)c->p99[0]), 6);
	if (c->n[0] && c->n[1])
		s += 0.3 * fmin(ratio_score(c->rate[1], c->rate[0]), 6);
	else
		s += 0.6; /* only on one side */
	c->score = s;
}

struct chctx {
	struct rp_diff *d;
	const char *kind;
	int fresh; /* the last change is complete: a group starts a new one */
};

/* One group: a side of a subject.  Both sides of a subject come one after
 * the other (sorted by subject, protocol, side). */
static void change_group(void *ctx, const struct rp_group *g)
{
	struct chctx *x = ctx;
	struct rp_diff *d = x->d;
	const char *subj = (const char *)sqlite3_value_text(g->key[0]);
	const char *proto = (const char *)sqlite3_value_text(g->key[1]);
	int after = sqlite3_value_int(g->key[2]);
	struct rp_change *c = d->nch && !x->fresh ? &d->ch[d->nch - 1] : NULL;
	if (!c || strcmp(c->subject, subj ? subj : "") || strcmp(c->proto, proto ? proto : "")) {
		struct rp_change *v = realloc(d->ch, (d->nch + 1) * sizeof(*v));
		if (!v)
			return;
		d->ch = v;
		c = &v[d->nch++];
		memset(c, 0, sizeof(*c));
		snprintf(c->kind, sizeof(c->kind), "%s", x->kind);
		snprintf(c->subject, sizeof(c->subject), "%s", subj ? subj : "");
		snprintf(c->proto, sizeof(c->proto), "%s", proto ? proto : "");
		x->fresh = 0;
	}
	c->n[after] = g->n;
	c->err[after] = g->errors;
	c->p99[after] = g->p99;
}

/* The requests the diff reads: all of temp.rq split in two, or those of the two ranges */
static const char *source(const struct rp_diff *d)
{
	return d->ranges ? "rqw" : "rq";
}

static int changes(sqlite3 *db, struct rp_diff *d, const char *kind, const char *subj)
{
	char sql[sizeof(change_sql) + 64];
	snprintf(sql, sizeof(sql), change_sql, subj, source(d));
	struct chctx x = {d, kind, 1};
	int first = d->nch;
	if (rp_groups(db, sql, &d->a0, 1, 3, change_group, &x) < 0)
		return -1;
	double w0 = (double)(d->b1 - d->b0) / 1e9, w1 = (double)(d->a1 - d->a0) / 1e9;
	for (int i = first; i < d->nch; i++) {
		struct rp_change *c = &d->ch[i];
		c->rate[0] = w0 > 0 ? c->n[0] / w0 : 0;
		c->rate[1] = w1 > 0 ? c->n[1] / w1 : 0;
		score(c);
	}
	return 0;
}

static int news(sqlite3 *db, struct rp_diff *d, const char *fmt, int nbind, int limit)
{
	char sql[1024];
	snprintf(sql, sizeof(sql), fmt, source(d));
	sqlite3_stmt *st = rp_prep(db, sql);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, d->a0);
	if (nbind == 3) {
		sqlite3_bind_int64(st, 2, d->b0);
		sqlite3_bind_int64(st, 3, d->a1);
	}
	for (int n = 0; n < limit && sqlite3_step(st) == SQLITE_ROW; n++) {
		struct rp_new *v = realloc(d->nw, (d->nnw + 1) * sizeof(*v));
		if (!v)
			break;
		d->nw = v;
		struct rp_new *x = &v[d->nnw++];
		memset(x, 0, sizeof(*x));
		const unsigned char *w = sqlite3_column_text(st, 2);
		snprintf(x->kind, sizeof(x->kind), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(x->text, sizeof(x->text), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(x->where, sizeof(x->where), "%s", w ? (const char *)w : "");
		x->count = sqlite3_column_int64(st, 3);
		x->first_ns = sqlite3_column_int64(st, 4);
		snprintf(x->side, sizeof(x->side), "%s", nbind == 3 && !sqlite3_column_int(st, 5) ? "before" : "after");
	}
	sqlite3_finalize(st);
	return 0;
}

static int by_score(const void *a, const void *b)
{
	const struct rp_change *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->subject, y->subject);
}

/* The diff of d's two windows (b0..b1 against a0..a1, set) */
static int compute(sqlite3 *db, int limit, struct rp_diff *d)
{
	if (d->ranges) {
		char sql[300];
		snprintf(sql, sizeof(sql),
			 "DROP TABLE IF EXISTS temp.rqw; CREATE TEMP TABLE rqw AS SELECT * FROM rq"
			 " WHERE (ts >= %lld AND ts < %lld) OR (ts >= %lld AND ts <= %lld)",
			 (long long)d->b0, (long long)d->b1, (long long)d->a0, (long long)d->a1);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			fprintf(stderr, "flightrec diff: %s\n", sqlite3_errmsg(db));
			return -1;
		}
	}
	if (changes(db, d, "edge", "cw || ' -> ' || sw") < 0 ||
	    changes(db, d, "endpoint", "sw || ' ' || coalesce(ep, '?')") < 0)
		return -1;
	qsort(d->ch, d->nch, sizeof(*d->ch), by_score);
	if (d->nch > limit)
		d->nch = limit;
	for (size_t i = 0; i < sizeof(new_sql) / sizeof(new_sql[0]); i++)
		if (news(db, d, new_sql[i], 1, limit) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(life_sql) / sizeof(life_sql[0]); i++)
		if (news(db, d, life_sql[i], 3, limit) < 0)
			return -1;
	return 0;
}

int rp_diff_compute(sqlite3 *db, int64_t split, int limit, struct rp_diff *d)
{
	memset(d, 0, sizeof(*d));
	rp_range(db, &d->from, &d->to);
	int64_t trig = rp_trigger(db, d->reason, sizeof(d->reason));
	if (split < 0 && trig > d->from && trig < d->to)
		split = trig, d->by_trigger = 1;
	if (split < 0)
		split = d->from + (d->to - d->from) / 2;
	d->split = split;
	d->b0 = d->from, d->b1 = d->a0 = split, d->a1 = d->to;
	return compute(db, limit, d);
}

int rp_diff_ranges(sqlite3 *db, const int64_t before[2], const int64_t after[2], int limit, struct rp_diff *d)
{
	memset(d, 0, sizeof(*d));
	rp_range(db, &d->from, &d->to);
	d->ranges = 1;
	d->b0 = before[0], d->b1 = before[1], d->a0 = after[0], d->a1 = after[1];
	d->from = d->b0, d->split = d->a0, d->to = d->a1;
	return compute(db, limit, d);
}

void rp_diff_fini(struct rp_diff *d)
{
	free(d->ch);
	free(d->nw);
	memset(d, 0, sizeof(*d));
}

static void print(const struct rp_diff *d)
{
	char a[40], b[40], c[40], x[32], y[32];
	if (d->ranges)
		printf("What changed: %s .. %s  against  %s .. %s  (two ranges)\n", rp_wall(d->b0, a, sizeof(a)),
		       rp_hms(d->b1, x, sizeof(x)), rp_wall(d->a0, c, sizeof(c)), rp_hms(d->a1, y, sizeof(y)));
	else
		printf("What changed: %s .. %s  against  %s .. %s  (split %s%s%s)\n", rp_wall(d->from, a, sizeof(a)),
		       rp_hms(d->split, x, sizeof(x)), rp_hms(d->split, y, sizeof(y)), rp_hms(d->to, b, sizeof(b)),
		       rp_wall(d->split, c, sizeof(c)), d->by_trigger ? ": the snapshot trigger " : "",
		       d->by_trigger ? d->reason : "");
	printf("\n  %-9s %-44s %-6s %17s %17s %21s\n", "", "subject", "proto", "req/s before>after",
	       "errors before>after", "p99 before>after");
	for (int i = 0; i < d->nch; i++) {
		const struct rp_change *ch = &d->ch[i];
		char r[40], e[40], p0[16], p1[16];
		snprintf(r, sizeof(r), "%.2f > %.2f", ch->rate[0], ch->rate[1]);
		snprintf(e, sizeof(e), "%.1f%% > %.1f%%", ch->n[0] ? 100.0 * ch->err[0] / ch->n[0] : 0,
			 ch->n[1] ? 100.0 * ch->err[1] / ch->n[1] : 0);
		printf("  %-9s %-44.44s %-6s %17s %19s %10s > %-8s\n", ch->kind, ch->subject, ch->proto, r, e,
		       ch->p99[0] ? rp_dur(ch->p99[0], p0, sizeof(p0)) : "-",
		       ch->p99[1] ? rp_dur(ch->p99[1], p1, sizeof(p1)) : "-");
	}
	if (!d->nch)
		printf("  (no requests)\n");
	printf("\nOnly %s; pods and processes that appeared, pods that went quiet\n",
	       d->ranges ? "in the after range" : "after the split");
	for (int i = 0; i < d->nnw; i++) {
		const struct rp_new *n = &d->nw[i];
		int quiet = !strncmp(n->kind, "quiet", 5);
		printf("  %-9s %-50.50s %-28.28s %6lld  %s %s%s\n", n->kind, n->text, n->where, (long long)n->count,
		       quiet ? "last" : "first", rp_hms(n->first_ns, x, sizeof(x)),
		       strcmp(n->side, "before") ? "" : d->ranges ? " (before the after range)" : " (before the split)");
	}
	if (!d->nnw)
		printf("  (nothing)\n");
}

/* "FROM..TO" (each as rp_parse_time, on the day of day_ns) into r[2].
 * 0, or -1 when it is not two times in order. */
static int parse_range(const char *s, int64_t day_ns, int64_t r[2])
{
	const char *dots = strstr(s, "..");
	char from[64];
	if (!dots || (size_t)(dots - s) >= sizeof(from))
		return -1;
	memcpy(from, s, (size_t)(dots - s));
	from[dots - s] = 0;
	if (rp_parse_time(from, day_ns, &r[0]) < 0 || rp_parse_time(dots + 2, day_ns, &r[1]) < 0)
		return -1;
	return r[0] < r[1] ? 0 : -1;
}

#define DIFF_USAGE "usage: flightrec diff DB [--split TIME | --before FROM..TO --after FROM..TO] [--limit N]\n"

int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {{"split", required_argument, 0, 's'},
		{"before", required_argument, 0, 'b'}, {"after", required_argument, 0, 'a'},
		{"limit", required_argument, 0, 'n'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *split_arg = NULL, *range_arg[2] = {NULL, NULL};
	int limit = 20, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:n:h", longopts, NULL)) != -1) {
		uint64_t v;
		if (c == 's') {
			split_arg = optarg;
		} else if (c == 'b' || c == 'a') {
			range_arg[c == 'a'] = optarg;
		} else if (c == 'n' && !fr_parse_u64(optarg, &v) && v >= 1 && v <= 100000) {
			limit = (int)v;
		} else {
			FILE *f = c == 'h' ? stdout : stderr;
			fprintf(f, DIFF_USAGE "\n"
				   "What changed: the requests before TIME against those after it, per edge\n"
				   "and endpoint (rate, error rate, p99; ranked), what appears only after\n"
				   "(endpoints, statuses, error messages, DNS names, SQL statements), the\n"
				   "pods whose traffic starts after (new pod) or stops before (quiet pod)\n"
				   "and the processes started in the window.  TIME is UTC, 2026-12-06T09:10:11Z\n"
				   "or 09:10:11 (on the recording's day); default: the snapshot trigger, or\n"
				   "the middle of the recording.  --before and --after compare two ranges\n"
				   "instead (FROM..TO, times as TIME; the before range ends no later than\n"
				   "the after range starts): the requests of each, per second of each.\n"
				   "--limit: rows per list (default 20).\n");
			return c == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !range_arg[0] != !range_arg[1] || (split_arg && range_arg[0])) {
		fprintf(stderr, DIFF_USAGE "(--before and --after go together, without --split)\n");
		return EXIT_USAGE;
	}
	sqlite3 *db;
	if (sqlite3_open_v2(argv[optind], &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec diff: cannot open %s: %s\n", argv[optind], sqlite3_errmsg(db));
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	int rc = EXIT_USAGE;
	int64_t split = -1, from, to;
	struct rp_diff d = {0};
	if (rp_setup(db) < 0)
		goto out;
	rp_range(db, &from, &to);
	if (split_arg && (rp_parse_time(split_arg, from, &split) < 0 || split <= from || split >= to)) {
		char a[40], b[40];
		fprintf(stderr, "flightrec diff: bad --split %s: a UTC time between %s and %s\n", split_arg,
			rp_wall(from, a, sizeof(a)), rp_wall(to, b, sizeof(b)));
		goto out;
	}
	int64_t r[2][2];
	for (int k = 0; range_arg[0] && k < 2; k++) {
		if (parse_range(range_arg[k], from, r[k]) < 0) {
			fprintf(stderr, "flightrec diff: bad --%s %s: FROM..TO, two UTC times in order\n",
				k ? "after" : "before", range_arg[k]);
			goto out;
		}
	}
	if (range_arg[0] && r[0][1] > r[1][0]) {
		fprintf(stderr, "flightrec diff: the --before range must end before the --after range starts\n");
		goto out;
	}
	if ((range_arg[0] ? rp_diff_ranges(db, r[0], r[1], limit, &d) : rp_diff_compute(db, split, limit, &d)) == 0) {
		print(&d);
		rc = EXIT_OK;
	}
out:
	rp_diff_fini(&d);
	sqlite3_close(db);
	return rc;
}
