/* clickhouse_views.c - after `flightrec export-clickhouse` loads
 * databases: the cross-node links between loads, stored at load time, and
 * the analysis database's views in ClickHouse's SQL (export_clickhouse.h). */
#define _GNU_SOURCE
#include "export_clickhouse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The two ends of a TCP connection recorded in different loads (two nodes
 * analyzed apart) are linked here, as `flightrec analyze` links them in
 * one database: the client's connection and the server's with the
 * addresses crossed and overlapping times on the wall clock (a second of
 * slack), preferring a server connection that carried requests (a server
 * that forks after accept shows one socket twice).  Requests pair by
 * their order on the connection; the network's share of a request is the
 * client's latency less the server's.  The views *_new find the links;
 * after each load, the new ones are stored in the tables conn_links and
 * request_links (a load step), so queries do not join connections again. */
static const char *const link_views[] = {
	"CREATE VIEW `%1$s`.conn_links_new AS SELECT incident, c_load, c_id,\n"
	"  argMax(sl, tuple(s_requests > 0, -si)) AS s_load, argMax(si, tuple(s_requests > 0, -si)) AS s_id\n"
	"FROM (SELECT incident, load_id AS c_load, id AS c_id, ifNull(local_addr, '') AS a1, ifNull(local_port, 0) AS p1,\n"
	"    ifNull(remote_addr, '') AS a2, ifNull(remote_port, 0) AS p2, wall_ns AS c_start,\n"
	"    wall_ns + ifNull(end_ns - start_ns, 0) AS c_end\n"
	"  FROM `%1$s`.connections WHERE role = 'client' AND transport = 'tcp' AND peer_conn_id IS NULL)\n"
	"ALL INNER JOIN (SELECT incident, load_id AS sl, id AS si, ifNull(remote_addr, '') AS a1,\n"
	"    ifNull(remote_port, 0) AS p1, ifNull(local_addr, '') AS a2, ifNull(local_port, 0) AS p2,\n"
	"    wall_ns AS s_start, wall_ns + ifNull(end_ns - start_ns, 0) AS s_end, ifNull(requests, 0) AS s_requests\n"
	"  FROM `%1$s`.connections WHERE role = 'server' AND transport = 'tcp' AND peer_conn_id IS NULL)\n"
	"USING (incident, a1, p1, a2, p2)\n"
	"WHERE c_load != sl AND c_start <= s_end + 1000000000 AND s_start <= c_end + 1000000000\n"
	"GROUP BY incident, c_load, c_id",
	"CREATE VIEW `%1$s`.request_links_new AS SELECT incident, c_load, c_req, s_load, s_req,\n"
	"  c_latency - s_latency AS network_ns\n"
	"FROM (SELECT incident, c_load, s_load, s_id, c_req, seq, protocol, c_latency FROM `%1$s`.conn_links\n"
	"  GLOBAL ALL INNER JOIN (SELECT incident, load_id AS c_load, conn_id AS c_id, id AS c_req, ifNull(seq, -1) AS seq,\n"
	"      ifNull(protocol, '') AS protocol, latency_ns AS c_latency FROM `%1$s`.requests WHERE side = 'client')\n"
	"  USING (incident, c_load, c_id))\n"
	"ALL INNER JOIN (SELECT incident, load_id AS s_load, conn_id AS s_id, id AS s_req, ifNull(seq, -1) AS seq,\n"
	"    ifNull(protocol, '') AS protocol, latency_ns AS s_latency FROM `%1$s`.requests WHERE side = 'server')\n"
	"USING (incident, s_load, s_id, seq, protocol)",
};

/* The views of the analysis database, in ClickHouse's SQL, per incident:
 * dimensions capped at the 100 most frequent values (the rest '*'),
 * percentiles by nearest rank as in SQLite (the smallest latency with at
 * least p * n requests at or below it). */
#define PCT(p) "if(count(latency_ns) = 0, NULL, arraySort(groupArray(latency_ns))[toUInt64(ceil(" p " * count(latency_ns)))])"
#define TOP(col, alias) \
	"if((incident, ifNull(" col ", '?')) IN (SELECT incident, v FROM (SELECT incident, ifNull(" col ", '?') AS v,\n" \
	"    count() AS c FROM `%1$s`.requests_once GROUP BY incident, v ORDER BY incident, c DESC, v LIMIT 100 BY incident)),\n" \
	"    ifNull(" col ", '?'), '*') AS " alias
static const char *const query_views[] = {
	"CREATE VIEW `%1$s`.requests_dims AS SELECT *,\n  " TOP("server_workload", "server_dim") ",\n  "
	TOP("client_workload", "client_dim") ",\n  " TOP("endpoint", "endpoint_dim") "\nFROM `%1$s`.requests_once",
	"CREATE VIEW `%1$s`.edges AS SELECT incident, client_dim AS client_workload, server_dim AS server_workload,\n"
	"  protocol, count() AS requests, sum(error) AS errors, round(sum(error) / count(), 4) AS error_rate,\n"
	"  " PCT("0.50") " AS p50_ns,\n  " PCT("0.90") " AS p90_ns,\n  " PCT("0.99") " AS p99_ns\n"
	"FROM `%1$s`.requests_dims GROUP BY incident, client_dim, server_dim, protocol",
	"CREATE VIEW `%1$s`.golden_signals AS SELECT incident, server_dim AS workload,\n"
	"  formatDateTime(toDateTime(intDiv(wall_ns, 60000000000) * 60, 'UTC'), '%%Y-%%m-%%dT%%H:%%MZ') AS minute,\n"
	"  count() AS requests, sum(error) AS errors,\n  " PCT("0.50") " AS p50_ns,\n  " PCT("0.90")
	" AS p90_ns,\n  " PCT("0.99") " AS p99_ns\nFROM `%1$s`.requests_dims GROUP BY incident, workload, minute",
	"CREATE VIEW `%1$s`.slowest AS SELECT *, concat(formatDateTime(toDateTime(intDiv(intDiv(wall_ns + 500000, 1000000), 1000),\n"
	"  'UTC'), '%%Y-%%m-%%dT%%H:%%M:%%S'), '.', substring(toString(1000 + intDiv(wall_ns + 500000, 1000000) %% 1000), 2, 3),\n"
	"  'Z') AS start_at\n"
	"FROM `%1$s`.requests_once WHERE latency_ns IS NOT NULL\n"
	"ORDER BY latency_ns DESC, incident, load_id, id",
	"CREATE VIEW `%1$s`.failures AS SELECT incident, server_dim AS server_workload, protocol, endpoint_dim AS endpoint,\n"
	"  ifNull(status, '(no response)') AS status_, ifNull(reason, '') AS reason_, count() AS requests,\n"
	"  min(id) AS example_id, min(start_ns) AS first_ns, max(start_ns) AS last_ns\n"
	"FROM `%1$s`.requests_dims WHERE error = 1 GROUP BY incident, server_dim, protocol, endpoint_dim, status_, reason_",
	"CREATE VIEW `%1$s`.sql_statements AS SELECT incident, protocol, server_dim AS server_workload,\n"
	"  endpoint_dim AS statement, count() AS executions, sum(error) AS errors, sum(latency_ns) AS total_ns,\n"
	"  " PCT("0.50") " AS p50_ns,\n  " PCT("0.99") " AS p99_ns\n"
	"FROM `%1$s`.requests_dims WHERE protocol IN ('mysql', 'pgsql')\n"
	"GROUP BY incident, protocol, server_dim, endpoint_dim",
};

/* requests_once: each request once (a server's row stands down when its
 * client's row is linked, here or across nodes), with the network's share
 * of cross-node links filled in.  Made from the columns `requests` has. */
static int requests_once_sql(struct exporter *e, char *sql, size_t len)
{
	char q[512], db[140], *cols;
	exp_quote(db, sizeof(db), e->database);
	snprintf(q, sizeof(q), "SELECT name FROM system.columns WHERE database = %s AND table = 'requests'", db);
	if (ch_exec(&e->shard[0], q, &cols) != CH_OK) {
		fprintf(stderr, "flightrec export-clickhouse: %s\n", e->shard[0].err);
		return -1;
	}
	char outer[4096] = "", inner[4096] = "";
	size_t o = 0, i = 0;
	for (char *c = strtok(cols, "\n"); c; c = strtok(NULL, "\n")) {
		int net = !strcmp(c, "network_ns");
		o += (size_t)snprintf(outer + o, o < sizeof(outer) ? sizeof(outer) - o : 0, "%s%s", o ? ", " : "",
				      net ? "if(isNull(r_net), x_net, r_net) AS network_ns" : c);
		i += (size_t)snprintf(inner + i, i < sizeof(inner) ? sizeof(inner) - i : 0, "%s%s", i ? ", " : "",
				      net ? "network_ns AS r_net" : c);
	}
	free(cols);
	if (o >= sizeof(outer) || i >= sizeof(inner))
		return -1;
	int n = snprintf(sql, len,
			 "CREATE VIEW `%1$s`.requests_once AS SELECT %2$s FROM (SELECT %3$s FROM `%1$s`.requests\n"
			 "  WHERE NOT (side = 'server' AND (peer_request_id IS NOT NULL\n"
			 "    OR (incident, load_id, id) GLOBAL IN (SELECT incident, s_load, s_req FROM `%1$s`.request_links))))\n"
			 "ANY LEFT JOIN (SELECT incident, c_load AS load_id, c_req AS id, network_ns AS x_net\n"
			 "  FROM `%1$s`.request_links) USING (incident, load_id, id)",
			 e->database, outer, inner);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Stores the links (level 0: connections, 1: requests) the last loads
 * made possible, each link once: those stored before are left out. */
static int store_links(struct exporter *e, int level)
{
	static const char *const tables[][3] = {
		{"conn_links", "incident String, c_load String, c_id Nullable(Int64), s_load String, s_id Nullable(Int64)",
		 "c_id"},
		{"request_links", "incident String, c_load String, c_req Nullable(Int64), s_load String, "
				  "s_req Nullable(Int64), network_ns Nullable(Int64)", "c_req"},
	};
	char sql[2048];
	for (int i = level; i == level; i++) {
		const char *name = tables[i][0];
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS `%s`.`%s%s` (%s) ENGINE = MergeTree() PARTITION BY incident "
			 "ORDER BY (incident, c_load)", e->database, name, e->cluster ? "_local" : "", tables[i][1]);
		if (exp_on_shards(e, sql) < 0)
			return -1;
		if (e->cluster) {
			snprintf(sql, sizeof(sql),
				 "CREATE TABLE IF NOT EXISTS `%1$s`.`%2$s` AS `%1$s`.`%2$s_local` ENGINE = "
				 "Distributed(`%3$s`, `%1$s`, `%2$s_local`, sipHash64(c_load))", e->database, name, e->cluster);
			if (exp_on_shards(e, sql) < 0)
				return -1;
		}
		snprintf(sql, sizeof(sql),
			 "INSERT INTO `%1$s`.%2$s SELECT * FROM `%1$s`.%2$s_new WHERE (incident, c_load, %3$s) "
			 "GLOBAL NOT IN (SELECT incident, c_load, %3$s FROM `%1$s`.%2$s)", e->database, name, tables[i][2]);
		if (ch_exec_with(&e->shard[0], "insert_distributed_sync=1", sql, NULL) != CH_OK) {
			fprintf(stderr, "flightrec export-clickhouse: linking the loads: %s\n", e->shard[0].err);
			return -1;
		}
	}
	return 0;
}

/* (Re)creates the views on every shard (each reads through the
 * Distributed tables with --cluster): after a load they follow the
 * columns the tables have now. */
int exp_create_views(struct exporter *e)
{
	static const char *const names[] = {"sql_statements", "failures", "slowest", "golden_signals", "edges",
					    "requests_dims", "requests_once", "request_links_new", "conn_links_new"};
	char sql[16384];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS `%s`.%s", e->database, names[i]);
		if (exp_on_shards(e, sql) < 0)
			return -1;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(sql, sizeof(sql), link_views[i], e->database);
		if (exp_on_shards(e, sql) < 0 || store_links(e, i) < 0)
			return -1;
	}
	if (requests_once_sql(e, sql, sizeof(sql)) < 0 || exp_on_shards(e, sql) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(query_views) / sizeof(query_views[0]); i++) {
		snprintf(sql, sizeof(sql), query_views[i], e->database);
		if (exp_on_shards(e, sql) < 0)
			return -1;
	}
	return 0;
}

