/* report_json.c - `flightrec report DB --json`: the terminal report's
 * sections as one JSON object (report_text.h), for scripts.  Each list
 * holds what the text shows (--limit) and "<list>_more" how many rows it
 * left out. */
#include "../formats/cli.h"
#include "out.h"
#include "report_internal.h"
#include "report_text.h"

#include <stdio.h>
#include <string.h>

/* Writes "name": the rows of sql as a JSON array (an empty array when the
 * database lacks what sql reads). */
static void section(sqlite3 *db, const char *name, const char *sql, int first)
{
	sqlite3_stmt *st;
	printf("%s\"%s\": ", first ? "" : ",\n", name);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("[]");
		return;
	}
	fr_out_rows(st, FR_OUT_JSON, stdout, "flightrec report");
	sqlite3_finalize(st);
}

/* Writes "name": the first row of sql as a JSON object (null when none) */
static void object(sqlite3 *db, const char *name, const char *sql, int first)
{
	sqlite3_stmt *st;
	printf("%s\"%s\": ", first ? "" : ",\n", name);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		printf("null");
		sqlite3_finalize(st);
		return;
	}
	putchar('{');
	for (int i = 0; i < sqlite3_column_count(st); i++) {
		const char *col = sqlite3_column_name(st, i);
		printf("%s", i ? ", " : "");
		fr_out_json_text(stdout, col, strlen(col));
		putchar(':');
		fr_out_json_value(stdout, st, i);
	}
	putchar('}');
	sqlite3_finalize(st);
}

static void more(sqlite3 *db, const char *name, const char *view, int shown)
{
	long long n = rt_count(db, view);
	printf(",\n\"%s_more\": %lld", name, n > shown ? n - shown : 0);
}

int rt_json(const char *path, int limit)
{
	sqlite3 *db;
	char sql[1024];
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "SELECT 1 FROM request_rows LIMIT 1", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec report: cannot read %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	printf("{\"database\": ");
	fr_out_json_text(stdout, path, strlen(path));
	printf(",\n");
	object(db, "summary",
		"SELECT (SELECT CAST(value AS INTEGER) FROM recording WHERE key ="
		" 'count_requests') AS request_rows, (SELECT count(*) FROM requests_once) AS requests,"
		" (SELECT CAST(value AS INTEGER) FROM recording WHERE key = 'count_connections') AS connections,"
		" (SELECT count(*) FROM anomalies) AS anomalies,"
		" (" RT_DURATION_SQL ") AS duration_ns,"
		" r.from_at, r.to_at FROM (" RT_RANGE_SQL ") r", 1);
	object(db, "undecoded",
		"SELECT count(*) AS connections, coalesce(sum(coalesce(bytes_out, 0) + coalesce(bytes_in, 0)), 0)"
		" AS bytes FROM connections" RT_UNDECODED_WHERE, 0);
	section(db, "undecoded_ports", RT_UNDECODED_PORTS_SQL, 0);
	snprintf(sql, sizeof(sql), RT_ALERTS_SQL " LIMIT %d", limit * 2);
	section(db, "alerts", sql, 0);
	more(db, "alerts", "alerts", limit * 2);
	snprintf(sql, sizeof(sql),
		 "SELECT client_workload, server_workload, protocol, requests, errors, error_rate, p50_ns, p99_ns"
		 " FROM edges ORDER BY requests DESC, 1, 2, 3 LIMIT %d", limit * 2);
	section(db, "edges", sql, 0);
	more(db, "edges", "edges", limit * 2);
	snprintf(sql, sizeof(sql),
		 "SELECT id, start_at, protocol, summary, status, client_workload, server_workload, latency_ns,"
		 " upload_ns, wait_ns, download_ns, network_ns, %s AS client_read_delay_ns FROM slowest LIMIT %d",
		 rp_has_column(db, "slowest", "client_read_delay_ns") ? "client_read_delay_ns" : "NULL", limit);
	section(db, "slowest", sql, 0);
	snprintf(sql, sizeof(sql),
		 "SELECT server_workload, protocol, endpoint, status, reason, requests, example_id, first_at,"
		 " last_at FROM failures ORDER BY requests DESC, 1, 2, 3, 4 LIMIT %d", limit * 2);
	section(db, "failures", sql, 0);
	more(db, "failures", "failures", limit * 2);
	snprintf(sql, sizeof(sql),
		 "SELECT protocol, statement, executions, errors, total_ns, p99_ns FROM sql_statements LIMIT %d", limit);
	section(db, "sql_statements", sql, 0);
	section(db, "anomalies", "SELECT kind, count(*) AS count FROM anomalies GROUP BY kind ORDER BY 2 DESC, 1", 0);
	printf("}\n");
	sqlite3_close(db);
	return fflush(stdout) ? EXIT_USAGE : EXIT_OK;
}
