/* html_drill.c - the HTML report's request drill-down: for each request in
 * temp.rp_ids, its row and its protocol's detail row; for each of their
 * connections, the connection row, the process behind it, and a timeline
 * (open, the requests around the chosen ones, anomalies, close).  Reads go
 * through the indexes (request_rows by id and (conn_id, seq), anomalies by
 * conn_id), so the cost is per chosen request, not per recorded one. */
#include "html_internal.h"

#include <stdio.h>
#include <string.h>

static const char req_sql[] =
	"SELECT r.id, r.conn_id AS conn, r.seq, r.protocol, r.side, r.start_ns + o.off AS ts, r.latency_ns,\n"
	"  r.upload_ns, r.wait_ns, r.download_ns, r.network_ns, substr(r.summary, 1, 500) AS summary, r.endpoint,\n"
	"  r.status, r.error, r.reason, r.req_bytes, r.resp_bytes, r.peer_addr, r.peer_port,\n"
	"  r.client_workload AS client, r.server_workload AS server, r.peer_request_id AS peer\n"
	"FROM rp_ids i JOIN requests r ON r.id = i.id JOIN rp_conn o ON o.id = r.conn_id ORDER BY r.id";

static const char conn_sql[] =
	"SELECT c.id, c.node, c.pid, c.fd, c.comm, c.transport, c.role, c.protocol, c.local_addr, c.local_port,\n"
	"  c.remote_addr, c.remote_port, c.local_pod, c.local_workload, c.remote_pod, c.remote_service,\n"
	"  c.remote_workload, c.start_ns + o.off AS start, c.end_ns + o.off AS end, c.bytes_out, c.bytes_in,\n"
	"  c.gap_bytes, c.requests, c.closed, c.peer_conn_id AS peer,\n"
	"  p.exe, substr(p.cmdline, 1, 300) AS cmdline, p.ppid, p.start_ns + o.off AS proc_start, p.container_id\n"
	"FROM connections c JOIN rp_conn o ON o.id = c.id\n"
	"LEFT JOIN processes p ON p.node = c.node AND p.pid = c.pid AND p.start_ns = (SELECT max(x.start_ns)\n"
	"  FROM processes x WHERE x.node = c.node AND x.pid = c.pid AND x.start_ns <= c.start_ns + 1000000000)\n"
	"WHERE c.id IN (SELECT DISTINCT r.conn_id FROM rp_ids i JOIN request_rows r ON r.id = i.id)";

/* the requests of a connection around the chosen ones (?1 conn) */
static const char timeline_sql[] =
	"WITH s AS (SELECT c.seq FROM rp_ids i JOIN request_rows c ON c.id = i.id WHERE c.conn_id = ?1)\n"
	"SELECT DISTINCT r.id, r.seq, r.start_ns + o.off AS ts, r.latency_ns, substr(r.summary, 1, 120) AS summary,\n"
	"  r.status, r.error FROM s JOIN request_rows r ON r.conn_id = ?1 AND r.seq BETWEEN s.seq - 10 AND s.seq + 10\n"
	"  JOIN rp_conn o ON o.id = r.conn_id ORDER BY r.seq LIMIT 200";
static const char conn_anom_sql[] =
	"SELECT a.ts + o.off AS ts, a.kind, substr(a.detail, 1, 200) AS detail FROM anomalies a\n"
	"JOIN rp_conn o ON o.id = a.conn_id WHERE a.conn_id = ?1 ORDER BY a.ts LIMIT 50";

/* The row as an object of its columns. */
static json_t *row_object(sqlite3_stmt *st)
{
	json_t *o = json_object();
	for (int i = 0; i < sqlite3_column_count(st); i++)
		json_object_set_new(o, sqlite3_column_name(st, i), hj_value(st, i));
	return o;
}

/* The protocol's own detail row (table named as the protocol; HTTP/1's
 * is "http"). */
static json_t *detail(sqlite3 *db, const char *proto, int64_t id)
{
	const char *table = !strcmp(proto, "http1") ? "http" : proto;
	if (!rp_has(db, table) || strchr(table, '"'))
		return json_null();
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" WHERE request_id = ?", table);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return json_null();
	sqlite3_bind_int64(st, 1, id);
	json_t *o = sqlite3_step(st) == SQLITE_ROW ? row_object(st) : json_null();
	sqlite3_finalize(st);
	return o;
}

static json_t *per_conn(sqlite3_stmt *st, int64_t conn)
{
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, conn);
	return hj_table_stmt(st);
}

json_t *html_drill(sqlite3 *db)
{
	json_t *d = json_object(), *reqs = json_object(), *conns = json_object();
	json_object_set_new(d, "reqs", reqs);
	json_object_set_new(d, "conns", conns);
	sqlite3_stmt *st = rp_prep(db, req_sql);
	char key[32];
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = row_object(st);
		int64_t id = sqlite3_column_int64(st, 0);
		json_object_set_new(o, "detail", detail(db, (const char *)sqlite3_column_text(st, 3), id));
		snprintf(key, sizeof(key), "%lld", (long long)id);
		json_object_set_new(reqs, key, o);
	}
	sqlite3_finalize(st);
	st = rp_prep(db, conn_sql);
	sqlite3_stmt *tl = rp_prep(db, timeline_sql), *an = rp_prep(db, conn_anom_sql);
	while (st && tl && an && sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = row_object(st);
		int64_t id = sqlite3_column_int64(st, 0);
		json_object_set_new(o, "timeline", per_conn(tl, id));
		json_object_set_new(o, "anomalies", per_conn(an, id));
		snprintf(key, sizeof(key), "%lld", (long long)id);
		json_object_set_new(conns, key, o);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(tl);
	sqlite3_finalize(an);
	return d;
}
