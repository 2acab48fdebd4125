/* report_text.h - parts of `flightrec report` (report_text.c,
 * report_json.c): the time range and what was not decoded, the alerts,
 * "N more" lines, the JSON form, and the re-evaluation of alert rules. */
#ifndef FLIGHTREC_REPORT_TEXT_H
#define FLIGHTREC_REPORT_TEXT_H

#include <sqlite3.h>

/* Prints the recording's time range (UTC) and the connections of
 * protocols no parser decoded (count, bytes, busiest ports), if any. */
void rt_header(sqlite3 *db);

/* Prints the alerts table (most severe first, at most 2 * limit rows),
 * or says that the database has none. */
void rt_alerts(sqlite3 *db, int limit);

/* The number of rows of a view or table: for edges and failures, counted
 * without the latency percentiles and times the views work out. */
long long rt_count(sqlite3 *db, const char *view);

/* Prints "... N more" when the view has more than shown rows. */
void rt_more(sqlite3 *db, const char *view, int shown);

/* Evaluates the rules file at rules_path over the database at db_path
 * (its alerts table rewritten).  0, or -1 after a message on stderr. */
int rt_reevaluate(const char *rules_path, const char *db_path);

/* `report --json`: the report's sections as one JSON object on stdout.
 * Returns EXIT_OK or EXIT_USAGE. */
int rt_json(const char *db_path, int limit);

/* The SQL of the report's sections, shared by the text and JSON forms */
#define RT_CLOCK "(SELECT node, min(wall_offset_ns) AS off FROM segments GROUP BY node)"
#define RT_RANGE_SQL                                                                                   \
	"SELECT strftime('%Y-%m-%dT%H:%M:%fZ', min(c.start_ns + coalesce(o.off, 0)) / 1e9, 'unixepoch')"  \
	" AS from_at,"                                                                                  \
	" strftime('%Y-%m-%dT%H:%M:%fZ', max(coalesce(c.end_ns, c.start_ns) + coalesce(o.off, 0)) / 1e9,"  \
	" 'unixepoch') AS to_at FROM connections c LEFT JOIN " RT_CLOCK " o ON o.node = c.node"
/* the recording's length: the wall-clock range of its connections */
#define RT_DURATION_SQL                                                                                \
	"SELECT max(coalesce(c.end_ns, c.start_ns) + coalesce(o.off, 0)) - min(c.start_ns + coalesce(o.off, 0))" \
	" FROM connections c LEFT JOIN " RT_CLOCK " o ON o.node = c.node"
/* each connection once: its client end when both ends were recorded */
#define RT_UNDECODED_WHERE                                                                             \
	" WHERE protocol IS NULL AND coalesce(bytes_out, 0) + coalesce(bytes_in, 0) > 0"                 \
	" AND (role = 'client' OR peer_conn_id IS NULL)"
#define RT_UNDECODED_SQL                                                                               \
	"SELECT count(*), coalesce(sum(coalesce(bytes_out, 0) + coalesce(bytes_in, 0)), 0) FROM connections" \
	RT_UNDECODED_WHERE
#define RT_UNDECODED_PORTS_SQL                                                                         \
	"SELECT transport, CASE WHEN role = 'server' THEN local_port ELSE remote_port END AS port,"      \
	" count(*) AS connections, sum(coalesce(bytes_out, 0) + coalesce(bytes_in, 0)) AS bytes"         \
	" FROM connections" RT_UNDECODED_WHERE " GROUP BY 1, 2 ORDER BY bytes DESC, 1, 2 LIMIT 5"
#define RT_ALERTS_SQL                                                                                  \
	"SELECT severity, rule, subject, value, threshold, start_at, end_at, detail, start_ns, end_ns"    \
	" FROM alerts ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,"  \
	" start_at, rule, subject"

#endif
