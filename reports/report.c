/* report.c - `flightrec report DB`: the terminal summary of an analysis.
 * Everything it prints comes from the views (edges, slowest, failures) and
 * tables of the database; it computes nothing of its own. */
#include "../formats/cli.h"
#include "report.h"
#include "report_internal.h"
#include "report_text.h"
#include "rules.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A duration column: "-" for NULL, else as rp_dur(). */
static const char *dur(sqlite3_stmt *st, int i, char *buf, size_t n)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return "-";
	return rp_dur(sqlite3_column_int64(st, i), buf, n);
}

/* A text column, harmless on a terminal: the database holds names and
 * payload text taken from captured bytes (a process name can be set to
 * escape sequences), so control characters, C1 controls in UTF-8 and DEL
 * become '?'.  Up to 8 results stay valid at once (one printf's worth). */
static const char *txt(sqlite3_stmt *st, int i)
{
	static char bufs[8][512];
	static unsigned next;
	return rp_safe(sqlite3_column_text(st, i), bufs[next++ % 8], sizeof(bufs[0]));
}

/* The sections shown only when a recording has such rows: messages outside
 * request/response (pub/sub, pushes; a database from before the messages
 * table has none) and SQL statements (a database without the view has
 * none). */
static void optional_sections(sqlite3 *db, int limit)
{
	sqlite3_stmt *st;
	char sql[256], a[32], b[32];
	if (sqlite3_prepare_v2(db, "SELECT protocol, kind, coalesce(topic, '-'), count(*), sum(bytes) FROM messages "
			       "GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT 10", -1, &st, NULL) == SQLITE_OK) {
		int n = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (!n++)
				printf("\nMessages outside request/response (pub/sub, pushes)\n"
				       "  %-6s %-12s %-30s %8s %10s\n", "proto", "kind", "topic", "messages", "bytes");
			printf("  %-6s %-12s %-30.30s %8lld %10lld\n", txt(st, 0), txt(st, 1), txt(st, 2),
			       (long long)sqlite3_column_int64(st, 3), (long long)sqlite3_column_int64(st, 4));
		}
		sqlite3_finalize(st);
	}

	snprintf(sql, sizeof(sql),
		 "SELECT protocol, statement, executions, errors, total_ns, p99_ns FROM sql_statements LIMIT %d", limit);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		int n = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (!n++)
				printf("\nSQL statements by total time (normalised; view sql_statements)\n"
				       "  %-6s %-50s %10s %7s %10s %10s\n", "proto", "statement", "executions", "errors",
				       "total", "p99");
			printf("  %-6s %-50.50s %10lld %7lld %10s %10s\n", txt(st, 0), txt(st, 1),
			       (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3),
			       dur(st, 4, a, sizeof(a)), dur(st, 5, b, sizeof(b)));
		}
		sqlite3_finalize(st);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: flightrec report DB [--limit N] [--json] [--rules FILE] [-o report.html]\n\n"
		   "Prints the alerts, workload-to-workload edges (requests, error rate, p99),\n"
		   "the slowest requests with their timing breakdown, and the failures grouped\n"
		   "by workload and endpoint, from the views of DB.\n\n"
		   "  --limit N     rows per section (10; edges and failures 2N)\n"
		   "  --json        the same sections as one JSON object\n"
		   "  --rules FILE  evaluate these alert rules again (a copy of reports/rules.conf)\n"
		   "                into DB's alerts table before reporting\n"
		   "  -o FILE       writes the incident report instead: one self-contained HTML\n"
		   "                page (verdict, topology, golden signals, what changed, slowest\n"
		   "                requests, failures, anomalies, request drill-down; no network),\n"
		   "                and prints the verdict\n"
		   "Times are UTC (ISO 8601), from the recording's wall-clock offsets.\n");
}

/* The first line: request rows, connections, the recording's length and
 * the anomalies.  Returns 0, or -1 when the database lacks what it needs. */
static int print_totals(sqlite3 *db, const char *path)
{
	char a[32];
	sqlite3_stmt *st = rp_prep(db, "SELECT (SELECT value FROM recording WHERE key = 'count_requests'),"
				       " (SELECT value FROM recording WHERE key = 'count_connections'),"
				       " (SELECT count(*) FROM requests_once), (SELECT count(*) FROM anomalies),"
				       " (" RT_DURATION_SQL ")");
	if (!st)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		printf("%s: %s request rows (%s counting both ends once) on %s connections over %s; %s anomalies\n",
		       path, txt(st, 0), txt(st, 2), txt(st, 1), dur(st, 4, a, sizeof(a)), txt(st, 3));
	sqlite3_finalize(st);
	return 0;
}

static void print_edges(sqlite3 *db, int limit)
{
	char sql[512], a[32];
	sqlite3_stmt *st;
	printf("\nEdges (client workload -> server workload)\n");
	printf("  %-28s %-28s %-6s %8s %7s %10s\n", "client", "server", "proto", "requests", "errors", "p99");
	snprintf(sql, sizeof(sql),
		 "SELECT client_workload, server_workload, protocol, requests, error_rate, p99_ns FROM edges"
		 " ORDER BY requests DESC, 1, 2, 3 LIMIT %d", limit * 2);
	if ((st = rp_prep(db, sql))) {
		while (sqlite3_step(st) == SQLITE_ROW)
			printf("  %-28.28s %-28.28s %-6s %8lld %6.1f%% %10s\n", txt(st, 0), txt(st, 1), txt(st, 2),
			       (long long)sqlite3_column_int64(st, 3), 100.0 * sqlite3_column_double(st, 4),
			       dur(st, 5, a, sizeof(a)));
		sqlite3_finalize(st);
	}
	rt_more(db, "edges", limit * 2);
}

static void print_slowest(sqlite3 *db, int limit)
{
	char sql[512], a[32], b[32], d[32], e[32], f[32];
	sqlite3_stmt *st;
	printf("\nSlowest requests (upload / server wait / download; network = client - server latency)\n");
	printf("  %-6s %-12s %-36s %-9s %9s %9s %9s %9s %9s  %s\n", "id", "at (UTC)", "request", "status", "latency",
	       "upload", "wait", "download", "network", "client -> server");
	snprintf(sql, sizeof(sql),
		 "SELECT id, protocol || ' ' || summary, status, latency_ns, upload_ns, wait_ns, download_ns,"
		 " network_ns, client_workload, server_workload, substr(start_at, 12, 12), %s FROM slowest LIMIT %d",
		 rp_has_column(db, "slowest", "client_read_delay_ns") ? "client_read_delay_ns" : "NULL", limit);
	if (!(st = rp_prep(db, sql)))
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		printf("  %-6lld %-12.12s %-36.36s %-9.9s %9s %9s %9s %9s %9s  %s -> %s\n",
		       (long long)sqlite3_column_int64(st, 0), txt(st, 10), txt(st, 1), txt(st, 2),
		       dur(st, 3, a, sizeof(a)), dur(st, 4, b, sizeof(b)), dur(st, 5, d, sizeof(d)),
		       dur(st, 6, e, sizeof(e)), dur(st, 7, f, sizeof(f)), txt(st, 8), txt(st, 9));
		if (rp_read_delay_large(sqlite3_column_int64(st, 11), sqlite3_column_int64(st, 3)))
			printf("  %-6s the client read the response %s after it arrived: slow to read, not the"
			       " network or the server\n", "", dur(st, 11, a, sizeof(a)));
	}
	sqlite3_finalize(st);
}

static void print_failures(sqlite3 *db, int limit)
{
	char sql[512];
	sqlite3_stmt *st;
	printf("\nFailures by workload and endpoint\n");
	printf("  %-28s %-6s %-32s %-14s %8s %-12s  %s\n", "server", "proto", "endpoint", "status", "requests",
	       "since (UTC)", "example id / reason");
	snprintf(sql, sizeof(sql),
		 "SELECT server_workload, protocol, endpoint, status, requests, example_id, reason,"
		 " substr(first_at, 12, 12) FROM failures"
		 " ORDER BY requests DESC, 1, 2, 3, 4 LIMIT %d", limit * 2);
	int nf = 0;
	if ((st = rp_prep(db, sql))) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			nf++;
			const char *reason = txt(st, 6);
			printf("  %-28.28s %-6s %-32.32s %-14.14s %8lld %-12.12s  #%lld%s%s\n", txt(st, 0), txt(st, 1),
			       txt(st, 2), txt(st, 3), (long long)sqlite3_column_int64(st, 4), txt(st, 7),
			       (long long)sqlite3_column_int64(st, 5), *reason ? " " : "", reason);
		}
		sqlite3_finalize(st);
	}
	if (!nf)
		printf("  (none)\n");
	rt_more(db, "failures", limit * 2);
}

static void print_anomalies(sqlite3 *db)
{
	sqlite3_stmt *st;
	printf("\nAnomalies by kind\n");
	if ((st = rp_prep(db, "SELECT kind, count(*) FROM anomalies GROUP BY kind ORDER BY 2 DESC, 1"))) {
		int n = 0;
		while (sqlite3_step(st) == SQLITE_ROW)
			printf("  %-20s %lld\n", txt(st, 0), (long long)sqlite3_column_int64(st, 1)), n++;
		if (!n)
			printf("  (none)\n");
		sqlite3_finalize(st);
	}
}

/* The terminal report of the database open at db.  Returns an exit code. */
static int report_text(sqlite3 *db, const char *path, int limit)
{
	if (print_totals(db, path) < 0)
		return EXIT_USAGE;
	rt_header(db);
	rt_alerts(db, limit);
	print_edges(db, limit);
	print_slowest(db, limit);
	print_failures(db, limit);
	optional_sections(db, limit);
	print_anomalies(db);
	printf("\nMore: sqlite3 %s  (views: golden_signals, edges, slowest, failures)\n", path);
	return EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"limit", required_argument, 0, 'n'}, {"output", required_argument, 0, 'o'},
		{"help", no_argument, 0, 'h'},        {"json", no_argument, 0, 'J'},
		{"rules", required_argument, 0, 'R'}, {0, 0, 0, 0}};
	int limit = 10, c, json = 0;
	const char *html = NULL, *rules = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:o:h", longopts, NULL)) != -1) {
		if (c == 'o') {
			html = optarg;
		} else if (c == 'J') {
			json = 1;
		} else if (c == 'R') {
			rules = optarg;
		} else if (c == 'n') {
			uint64_t v;
			if (fr_parse_u64(optarg, &v) || v < 1 || v > 100000) {
				fprintf(stderr, "flightrec report: bad --limit: %s (a number from 1 to 100000)\n", optarg);
				return EXIT_USAGE;
			}
			limit = (int)v;
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: flightrec report DB [--limit N] [--json] [--rules FILE] [-o report.html]\n");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	char err[512];
	if (fr_input_file_ok(path, err, sizeof(err)) < 0) {
		fprintf(stderr, "flightrec report: %s\n", err);
		return EXIT_USAGE;
	}
	sqlite3 *db;
	if (rules && rt_reevaluate(rules, path) < 0)
		return EXIT_USAGE;
	if (json)
		return rt_json(path, limit);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec report: cannot open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	int rc;
	if (html) {
		rc = rp_html(db, path, html) < 0 ? EXIT_USAGE : EXIT_OK;
		if (rc == EXIT_OK)
			rp_print_verdict(db, stdout, 5), printf("report: %s\n", html);
	} else {
		rc = report_text(db, path, limit);
	}
	sqlite3_close(db);
	return rc;
}
