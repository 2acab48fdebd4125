/* report_text.c - parts of the terminal report (report_text.h): the time
 * range, undecoded protocols, alerts and "N more" lines, and `report
 * --rules`. */
#include "../formats/cli.h"
#include "report_internal.h"
#include "report_text.h"
#include "rules.h"

#include <stdio.h>
#include <string.h>

static const char *bytes_str(double b, char *buf, size_t n)
{
	if (b < 1e3)
		snprintf(buf, n, "%.0f bytes", b);
	else if (b < 1e6)
		snprintf(buf, n, "%.1f kB", b / 1e3);
	else if (b < 1e9)
		snprintf(buf, n, "%.1f MB", b / 1e6);
	else
		snprintf(buf, n, "%.2f GB", b / 1e9);
	return buf;
}

void rt_header(sqlite3 *db)
{
	sqlite3_stmt *st;
	char a[64], b[64];
	if (sqlite3_prepare_v2(db, RT_RANGE_SQL, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
			printf("  from %s to %s (UTC)\n", rp_safe(sqlite3_column_text(st, 0), a, sizeof(a)),
			       rp_safe(sqlite3_column_text(st, 1), b, sizeof(b)));
		sqlite3_finalize(st);
	}
	long long n = 0;
	double bytes = 0;
	if (sqlite3_prepare_v2(db, RT_UNDECODED_SQL, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0), bytes = sqlite3_column_double(st, 1);
		sqlite3_finalize(st);
	}
	if (!n)
		return;
	printf("  %lld connection%s, %s in undecoded protocols: ", n, n == 1 ? "" : "s",
	       bytes_str(bytes, a, sizeof(a)));
	if (sqlite3_prepare_v2(db, RT_UNDECODED_PORTS_SQL, -1, &st, NULL) == SQLITE_OK) {
		int k = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *tr = rp_safe(sqlite3_column_text(st, 0), a, sizeof(a));
			printf("%s%lld%s%s", k++ ? ", " : "ports ", (long long)sqlite3_column_int64(st, 1),
			       strcmp(tr, "tcp") ? "/" : "", strcmp(tr, "tcp") ? tr : "");
		}
		sqlite3_finalize(st);
	}
	printf(" (flightrec query DB top_talkers)\n");
}

void rt_alerts(sqlite3 *db, int limit)
{
	sqlite3_stmt *st;
	char sql[512], a[64], c[512], d[512], e[64];
	printf("\nAlerts (rules over the recording: table alerts; times UTC)\n");
	snprintf(sql, sizeof(sql), RT_ALERTS_SQL " LIMIT %d", limit * 2);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("  (not evaluated: this database has no alerts table; `flightrec report DB --rules FILE`\n"
		       "   evaluates a rules file, such as a copy of reports/rules.conf)\n");
		return;
	}
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (!n++)
			printf("  %-8s %-18s %-36s %-12s %-12s  %s\n", "severity", "rule", "subject", "since", "until",
			       "detail");
		const unsigned char *from = sqlite3_column_text(st, 5), *to = sqlite3_column_text(st, 6);
		printf("  %-8s %-18.18s %-36.36s %-12.12s %-12.12s  %s\n", rp_safe(sqlite3_column_text(st, 0), e, sizeof(e)),
		       rp_safe(sqlite3_column_text(st, 1), a, sizeof(a)), rp_safe(sqlite3_column_text(st, 2), c, sizeof(c)),
		       from && strlen((const char *)from) > 11 ? (const char *)from + 11 : "-",
		       to && strlen((const char *)to) > 11 ? (const char *)to + 11 : "-",
		       rp_safe(sqlite3_column_text(st, 7), d, sizeof(d)));
	}
	sqlite3_finalize(st);
	if (!n)
		printf("  (none fired)\n");
	rt_more(db, "alerts", limit * 2);
}

long long rt_count(sqlite3 *db, const char *view)
{
	char sql[256];
	sqlite3_stmt *st;
	long long n = 0;
	if (!strcmp(view, "edges"))
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM requests_dims"
					   " GROUP BY client_dim, server_dim, protocol)");
	else if (!strcmp(view, "failures"))
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM requests_dims WHERE error = 1"
					   " GROUP BY server_dim, protocol, endpoint_dim, status, reason)");
	else
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", view);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

void rt_more(sqlite3 *db, const char *view, int shown)
{
	long long n = rt_count(db, view);
	if (n > shown)
		printf("  ... %lld more (--limit N shows more; all in %s %s)\n", n - shown,
		       strcmp(view, "alerts") ? "view" : "table", view);
}

int rt_reevaluate(const char *rules_path, const char *db_path)
{
	char notes[1024], err[512];
	long n = fr_rules_apply(rules_path, db_path, notes, sizeof(notes), err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "flightrec report: %s\n", err);
		return -1;
	}
	if (notes[0])
		fprintf(stderr, "flightrec report: rules not evaluated: %s\n", notes);
	return 0;
}
