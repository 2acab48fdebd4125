/* schema.c - the database schema of `flightrec analyze`, run by the sink
 * (sink.c): tables (created before the load), attribution and peer links
 * (after the load), and the views.  Protocol detail tables (http, redis,
 * dns) come from each protocol's descriptor (analyze/protocols/). */
#include "schema.h"

const char fr_schema_sql[] =
	"CREATE TABLE recording (key TEXT PRIMARY KEY, value TEXT);\n"
	"CREATE TABLE settings (key TEXT PRIMARY KEY, value);\n"
	"CREATE TABLE segments (file TEXT, node TEXT, segment_index INTEGER, source TEXT,\n"
	"  recorder TEXT, sha256 TEXT, bytes INTEGER, blocks INTEGER, records INTEGER,\n"
	"  damaged INTEGER, has_footer INTEGER, first_ts INTEGER, last_ts INTEGER,\n"
	"  wall_offset_ns INTEGER, snaplen INTEGER);\n"
	"CREATE TABLE pods (uid TEXT PRIMARY KEY, namespace TEXT, name TEXT, node TEXT,\n"
	"  owner_kind TEXT, owner_name TEXT, workload TEXT, ips TEXT, labels TEXT);\n"
	"CREATE TABLE pod_ips (ip TEXT, pod_uid TEXT, PRIMARY KEY (ip, pod_uid));\n"
	"CREATE TABLE pod_labels (pod_uid TEXT, key TEXT, value TEXT, PRIMARY KEY (pod_uid, key));\n"
	"CREATE TABLE pod_containers (container_id TEXT, pod_uid TEXT, name TEXT, image TEXT,\n"
	"  PRIMARY KEY (container_id, pod_uid));\n"
	"CREATE TABLE services (namespace TEXT, name TEXT, cluster_ips TEXT, ports TEXT,\n"
	"  selector TEXT, PRIMARY KEY (namespace, name));\n"
	"CREATE TABLE service_ips (ip TEXT, namespace TEXT, name TEXT, PRIMARY KEY (ip, namespace, name));\n"
	"CREATE TABLE service_selector (namespace TEXT, name TEXT, key TEXT, value TEXT,\n"
	"  PRIMARY KEY (namespace, name, key));\n"
	"CREATE TABLE processes (node TEXT, pid INTEGER, ppid INTEGER, start_ns INTEGER,\n"
	"  comm TEXT, exe TEXT, cmdline TEXT, cgroup_id INTEGER, cgroup_path TEXT,\n"
	"  container_id TEXT, PRIMARY KEY (node, pid, start_ns));\n"
	"CREATE TABLE marks (node TEXT, ts INTEGER, kind TEXT, text TEXT);\n"
	"CREATE TABLE connections (id INTEGER PRIMARY KEY, node TEXT, pid INTEGER, fd INTEGER,\n"
	"  gen INTEGER, comm TEXT, transport TEXT, role TEXT, protocol TEXT,\n"
	"  local_addr TEXT, local_port INTEGER, remote_addr TEXT, remote_port INTEGER,\n"
	"  local_pod TEXT, local_workload TEXT, remote_pod TEXT, remote_service TEXT,\n"
	"  remote_workload TEXT, start_ns INTEGER, end_ns INTEGER, bytes_out INTEGER,\n"
	"  bytes_in INTEGER, gap_bytes INTEGER, requests INTEGER, closed INTEGER,\n"
	"  head INTEGER, peer_conn_id INTEGER, tls TEXT, retransmits INTEGER, resets INTEGER,\n"
	"  resets_sent INTEGER, resets_received INTEGER, srtt_us INTEGER);\n"
	/* the stored part of `requests` (a view adding both ends' workloads) */
	"CREATE TABLE request_rows (id INTEGER PRIMARY KEY, conn_id INTEGER, seq INTEGER,\n"
	"  protocol TEXT, side TEXT, start_ns INTEGER, end_ns INTEGER, latency_ns INTEGER,\n"
	"  upload_ns INTEGER, wait_ns INTEGER, download_ns INTEGER, network_ns INTEGER,\n"
	"  summary TEXT, endpoint TEXT, status TEXT, error INTEGER, reason TEXT,\n"
	"  req_bytes INTEGER, resp_bytes INTEGER, peer_addr TEXT, peer_port INTEGER,\n"
	"  peer_request_id INTEGER, client_read_delay_ns INTEGER, server_read_delay_ns INTEGER);\n"
	"CREATE TABLE peer_workloads (ip TEXT PRIMARY KEY, workload TEXT);\n"
	"CREATE TABLE anomalies (conn_id INTEGER, ts INTEGER, kind TEXT, detail TEXT);\n"
	/* messages outside request/response pairs: pub/sub deliveries, pushes */
	"CREATE TABLE messages (conn_id INTEGER, protocol TEXT, start_ns INTEGER, end_ns INTEGER,\n"
	"  sender TEXT, kind TEXT, topic TEXT, bytes INTEGER);\n";

/* Run once every row is in.  Local side: process -> container -> pod.
 * Remote side: pod IPs, then service cluster IPs (a service's workload is
 * the workload of the pods its selector matches).  Fallbacks say what they
 * are: "proc:<comm>", "svc:<ns/name>", "ip:<addr>". */
const char fr_attr_sql[] =
	"CREATE TEMP TABLE proc_pod AS SELECT pr.node, pr.pid, min(pc.pod_uid) AS uid\n"
	"  FROM processes pr JOIN pod_containers pc ON pc.container_id = pr.container_id\n"
	"  WHERE pr.container_id IS NOT NULL AND pr.container_id != '' GROUP BY pr.node, pr.pid;\n"
	"CREATE TEMP TABLE proc_comm AS SELECT node, pid, max(comm) AS comm FROM processes GROUP BY node, pid;\n"
	"UPDATE connections SET comm = (SELECT comm FROM proc_comm x WHERE x.node = connections.node AND x.pid = connections.pid);\n"
	"UPDATE connections SET local_pod = p.namespace || '/' || p.name, local_workload = p.workload\n"
	"  FROM proc_pod x JOIN pods p ON p.uid = x.uid WHERE x.node = connections.node AND x.pid = connections.pid;\n"
	"CREATE TEMP TABLE ip_pod AS SELECT i.ip, min(p.uid) AS uid FROM pod_ips i JOIN pods p ON p.uid = i.pod_uid GROUP BY i.ip;\n"
	"UPDATE connections SET remote_pod = p.namespace || '/' || p.name, remote_workload = p.workload\n"
	"  FROM ip_pod x JOIN pods p ON p.uid = x.uid WHERE x.ip = connections.remote_addr;\n"
	"CREATE TEMP TABLE svc_wl AS SELECT s.namespace, s.name, min(p.workload) AS workload\n"
	"  FROM services s JOIN pods p ON p.namespace = s.namespace\n"
	"  WHERE EXISTS (SELECT 1 FROM service_selector q WHERE q.namespace = s.namespace AND q.name = s.name)\n"
	"    AND NOT EXISTS (SELECT 1 FROM service_selector q WHERE q.namespace = s.namespace AND q.name = s.name\n"
	"      AND NOT EXISTS (SELECT 1 FROM pod_labels l WHERE l.pod_uid = p.uid AND l.key = q.key AND l.value = q.value))\n"
	"  GROUP BY s.namespace, s.name;\n"
	"CREATE TEMP TABLE ip_svc AS SELECT ip, min(namespace || '/' || name) AS svc FROM service_ips GROUP BY ip;\n"
	"UPDATE connections SET remote_service = x.svc FROM ip_svc x WHERE x.ip = connections.remote_addr;\n"
	"UPDATE connections SET remote_workload = coalesce((SELECT w.workload FROM svc_wl w\n"
	"  WHERE w.namespace || '/' || w.name = connections.remote_service), 'svc:' || remote_service)\n"
	"  WHERE remote_workload IS NULL AND remote_service IS NOT NULL;\n"
	"UPDATE connections SET local_workload = 'proc:' || comm WHERE local_workload IS NULL AND comm IS NOT NULL;\n"
	"UPDATE connections SET remote_workload = 'ip:' || remote_addr WHERE remote_workload IS NULL AND remote_addr IS NOT NULL;\n"
	/* per-datagram peers (a UDP server socket talks to many clients):
	 * temp.peer_addrs holds the distinct peer_addr of request_rows (the
	 * sink keeps them while loading: no scan of every request) */
	"INSERT INTO peer_workloads SELECT ip, coalesce(\n"
	"  (SELECT p.workload FROM ip_pod x JOIN pods p ON p.uid = x.uid WHERE x.ip = d.ip),\n"
	"  (SELECT coalesce(w.workload, 'svc:' || x.svc) FROM ip_svc x LEFT JOIN svc_wl w ON w.namespace || '/' || w.name = x.svc WHERE x.ip = d.ip),\n"
	"  'ip:' || d.ip) FROM temp.peer_addrs d;\n";

/* temp.peer_addrs when the sink did not keep them (too many) */
const char fr_peer_addrs_scan_sql[] =
	"CREATE TEMP VIEW peer_addrs AS SELECT DISTINCT peer_addr AS ip FROM request_rows WHERE peer_addr IS NOT NULL;\n";

const char fr_post_sql[] =
	"CREATE INDEX requests_conn ON request_rows (conn_id, seq);\n"
	"CREATE INDEX anomalies_conn ON anomalies (conn_id, ts);\n"
	"CREATE INDEX messages_conn ON messages (conn_id, start_ns);\n"
	/* both ends: the same connection seen from its client and its server.
	 * Times of different nodes compare on the wall clock (each node's
	 * monotonic clock + its offset), with a second of slack for skew. */
	"CREATE INDEX connections_addr ON connections (remote_addr, remote_port);\n"
	"CREATE TEMP TABLE node_off AS SELECT node, min(wall_offset_ns) AS off FROM segments GROUP BY node;\n"
	/* A server that forks after accept (dnsmasq over TCP) shows one socket
	 * as two connections with the same tuple: the parent's, which only
	 * accepted, and the child's, which carried the requests.  The one with
	 * requests is the peer. */
	"CREATE TEMP TABLE conn_pair AS SELECT cid, sid FROM (\n"
	"  SELECT a.id AS cid, b.id AS sid, row_number() OVER (PARTITION BY a.id\n"
	"    ORDER BY b.requests > 0 DESC, b.id) AS rank FROM connections a\n"
	"  JOIN connections b ON b.remote_addr = a.local_addr AND b.remote_port = a.local_port\n"
	"  AND a.remote_addr = b.local_addr AND a.remote_port = b.local_port\n"
	"  AND b.role = 'server' AND b.transport = 'tcp'\n"
	"  LEFT JOIN node_off oa ON oa.node = a.node LEFT JOIN node_off ob ON ob.node = b.node\n"
	"  WHERE a.role = 'client' AND a.transport = 'tcp'\n"
	"  AND a.start_ns + coalesce(oa.off, 0) <= b.end_ns + coalesce(ob.off, 0) + 1000000000\n"
	"  AND b.start_ns + coalesce(ob.off, 0) <= a.end_ns + coalesce(oa.off, 0) + 1000000000)\n"
	"  WHERE rank = 1;\n"
	"UPDATE connections SET peer_conn_id = x.sid FROM conn_pair x WHERE x.cid = connections.id;\n"
	"UPDATE connections SET peer_conn_id = x.cid FROM conn_pair x WHERE x.sid = connections.id;\n"
	"CREATE TEMP TABLE req_pair AS SELECT a.id AS cid, b.id AS sid FROM conn_pair x\n"
	"  JOIN request_rows a ON a.conn_id = x.cid JOIN request_rows b ON b.conn_id = x.sid AND b.seq = a.seq\n"
	"  AND b.protocol = a.protocol;\n"
	/* datagrams: a client socket's request and the server socket's request
	 * with the same summary, the addresses crossed, close in time.  The
	 * UDP connections drive the scan (CROSS JOIN fixes the loop order):
	 * their requests are found through requests_conn, not by reading
	 * every request. */
	"CREATE TEMP TABLE udp_c AS SELECT r.id, r.protocol, r.summary, r.start_ns + coalesce(o.off, 0) AS ws,\n"
	"  r.end_ns + coalesce(o.off, 0) AS we, r.peer_addr, r.peer_port, c.local_addr, c.local_port\n"
	"  FROM connections c CROSS JOIN request_rows r ON r.conn_id = c.id LEFT JOIN node_off o ON o.node = c.node\n"
	"  WHERE c.transport = 'udp' AND r.side = 'client' AND r.peer_addr IS NOT NULL;\n"
	"CREATE TEMP TABLE udp_s AS SELECT r.id, r.protocol, r.summary, r.start_ns + coalesce(o.off, 0) AS ws,\n"
	"  r.peer_addr, r.peer_port, c.local_addr, c.local_port\n"
	"  FROM connections c CROSS JOIN request_rows r ON r.conn_id = c.id LEFT JOIN node_off o ON o.node = c.node\n"
	"  WHERE c.transport = 'udp' AND r.side = 'server' AND r.peer_addr IS NOT NULL;\n"
	"CREATE INDEX udp_s_key ON udp_s (summary, local_addr, local_port, ws);\n"
	"INSERT INTO req_pair SELECT a.id, min(b.id) FROM udp_c a JOIN udp_s b\n"
	"  ON b.summary = a.summary AND b.local_addr = a.peer_addr AND b.local_port = a.peer_port\n"
	"  AND b.ws BETWEEN a.ws - 1000000000 AND a.we + 1000000000\n"
	"  AND b.protocol = a.protocol AND b.peer_addr = a.local_addr AND b.peer_port = a.local_port\n"
	"  GROUP BY a.id;\n"
	"UPDATE request_rows SET peer_request_id = x.sid FROM req_pair x WHERE x.cid = request_rows.id;\n"
	"UPDATE request_rows SET peer_request_id = x.cid FROM req_pair x WHERE x.sid = request_rows.id;\n"
	"UPDATE request_rows SET network_ns = request_rows.latency_ns - s.latency_ns FROM req_pair x\n"
	"  JOIN request_rows s ON s.id = x.sid WHERE request_rows.id = x.cid\n"
	"  AND request_rows.latency_ns IS NOT NULL AND s.latency_ns IS NOT NULL;\n"
	/* A connection recorded at both ends names its remote end by the best
	 * identity either end knows (pod > workload > process > address):
	 * the peer's own process or pod beats an address, and a pod's workload
	 * beats a service without pods. */
	"UPDATE connections SET remote_workload = p.local_workload, remote_pod = coalesce(connections.remote_pod, p.local_pod)\n"
	"  FROM connections p WHERE p.id = connections.peer_conn_id AND p.local_workload IS NOT NULL\n"
	"  AND (connections.remote_workload IS NULL OR connections.remote_workload LIKE 'ip:%'\n"
	"    OR (connections.remote_workload LIKE 'svc:%' AND p.local_workload NOT LIKE 'proc:%'));\n"
	"";

/* Indexes for the reader of the database that nothing in the analysis
 * (peer links, views, dump) reads: built last (FLIGHTREC_TIMING shows
 * them as "indexes"). */
const char fr_late_index_sql[] =
	/* no view reads by time, but "what happened between T1 and T2" is the
	 * first question of a post-mortem */
	"CREATE INDEX requests_start ON request_rows (start_ns);\n"
	/* for the slowest view */
	"CREATE INDEX requests_latency ON request_rows (latency_ns);\n";

/* Views.  Each request counts once: when both ends are recorded, the
 * client's row stands for the pair.  Dimensions keep the dim_cap (setting)
 * most frequent values and fold the rest into '*'. */
const char fr_views_sql[] =
	/* each node's wall clock: monotonic ns + wall_offset_ns is UTC ns since
	 * the epoch (the *_at columns below: ISO 8601, UTC, milliseconds) */
	"CREATE VIEW node_clock AS SELECT node, min(wall_offset_ns) AS wall_offset_ns FROM segments GROUP BY node;\n"
	"CREATE VIEW requests AS SELECT r.id, r.conn_id, r.seq, r.protocol, r.side, r.start_ns, r.end_ns,\n"
	"  r.latency_ns, r.upload_ns, r.wait_ns, r.download_ns, r.network_ns, r.summary, r.endpoint,\n"
	"  r.status, r.error, r.reason, r.req_bytes, r.resp_bytes, r.peer_addr, r.peer_port,\n"
	"  CASE WHEN r.side = 'client' THEN c.local_workload ELSE coalesce(pw.workload, c.remote_workload) END AS client_workload,\n"
	"  CASE WHEN r.side = 'client' THEN coalesce(pw.workload, c.remote_workload) ELSE c.local_workload END AS server_workload,\n"
	"  r.peer_request_id, r.client_read_delay_ns, r.server_read_delay_ns\n"
	"  FROM request_rows r LEFT JOIN connections c ON c.id = r.conn_id LEFT JOIN peer_workloads pw ON pw.ip = r.peer_addr;\n"
	"CREATE VIEW requests_once AS SELECT * FROM requests\n"
	"  WHERE NOT (side = 'server' AND peer_request_id IS NOT NULL);\n"
	"CREATE VIEW top_server_workloads AS SELECT coalesce(server_workload, '?') AS w FROM requests_once\n"
	"  GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT (SELECT value FROM settings WHERE key = 'dim_cap');\n"
	"CREATE VIEW top_client_workloads AS SELECT coalesce(client_workload, '?') AS w FROM requests_once\n"
	"  GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT (SELECT value FROM settings WHERE key = 'dim_cap');\n"
	"CREATE VIEW top_endpoints AS SELECT coalesce(endpoint, '?') AS e FROM requests_once\n"
	"  GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT (SELECT value FROM settings WHERE key = 'dim_cap');\n"
	"CREATE VIEW requests_dims AS SELECT r.*,\n"
	"  CASE WHEN coalesce(server_workload, '?') IN (SELECT w FROM top_server_workloads) THEN coalesce(server_workload, '?') ELSE '*' END AS server_dim,\n"
	"  CASE WHEN coalesce(client_workload, '?') IN (SELECT w FROM top_client_workloads) THEN coalesce(client_workload, '?') ELSE '*' END AS client_dim,\n"
	"  CASE WHEN coalesce(endpoint, '?') IN (SELECT e FROM top_endpoints) THEN coalesce(endpoint, '?') ELSE '*' END AS endpoint_dim\n"
	"  FROM requests_once r;\n"
	/* minute: wall clock of the node that recorded the request */
	"CREATE VIEW golden_signals AS WITH d AS (SELECT r.server_dim, r.error, r.latency_ns,\n"
	"    (r.start_ns + coalesce((SELECT min(g.wall_offset_ns) FROM segments g JOIN connections c ON c.node = g.node\n"
	"      WHERE c.id = r.conn_id), 0)) / 60000000000 AS m FROM requests_dims r),\n"
	"  r AS (SELECT server_dim AS workload, m, error, latency_ns,\n"
	"    row_number() OVER (PARTITION BY server_dim, m, latency_ns IS NULL ORDER BY latency_ns) AS rn,\n"
	"    count(latency_ns) OVER (PARTITION BY server_dim, m) AS n FROM d)\n"
	"  SELECT workload, strftime('%Y-%m-%dT%H:%MZ', m * 60, 'unixepoch') AS minute, count(*) AS requests, sum(error) AS errors,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.50 * n THEN latency_ns END) AS p50_ns,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.90 * n THEN latency_ns END) AS p90_ns,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.99 * n THEN latency_ns END) AS p99_ns\n"
	"  FROM r GROUP BY workload, m;\n"
	"CREATE VIEW edges AS WITH r AS (SELECT client_dim, server_dim, protocol, error, latency_ns,\n"
	"    row_number() OVER (PARTITION BY client_dim, server_dim, protocol, latency_ns IS NULL ORDER BY latency_ns) AS rn,\n"
	"    count(latency_ns) OVER (PARTITION BY client_dim, server_dim, protocol) AS n FROM requests_dims)\n"
	"  SELECT client_dim AS client_workload, server_dim AS server_workload, protocol,\n"
	"    count(*) AS requests, sum(error) AS errors, round(1.0 * sum(error) / count(*), 4) AS error_rate,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.50 * n THEN latency_ns END) AS p50_ns,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.90 * n THEN latency_ns END) AS p90_ns,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.99 * n THEN latency_ns END) AS p99_ns\n"
	"  FROM r GROUP BY client_dim, server_dim, protocol;\n"
	"CREATE VIEW slowest AS SELECT id, protocol, summary, status, client_workload, server_workload,\n"
	"  latency_ns, upload_ns, wait_ns, download_ns, network_ns, start_ns,\n"
	"  strftime('%Y-%m-%dT%H:%M:%fZ', (start_ns + coalesce((SELECT k.wall_offset_ns FROM node_clock k\n"
	"    JOIN connections c ON c.node = k.node WHERE c.id = r.conn_id), 0)) / 1e9, 'unixepoch') AS start_at,\n"
	"  client_read_delay_ns\n"
	"  FROM requests_once r WHERE latency_ns IS NOT NULL ORDER BY latency_ns DESC, id;\n"
	"CREATE VIEW failures AS SELECT server_dim AS server_workload, protocol, endpoint_dim AS endpoint,\n"
	"  coalesce(status, '(no response)') AS status, coalesce(reason, '') AS reason, count(*) AS requests,\n"
	"  min(id) AS example_id, min(start_ns) AS first_ns, max(start_ns) AS last_ns,\n"
	"  strftime('%Y-%m-%dT%H:%M:%fZ', min(wall_ns) / 1e9, 'unixepoch') AS first_at,\n"
	"  strftime('%Y-%m-%dT%H:%M:%fZ', max(wall_ns) / 1e9, 'unixepoch') AS last_at\n"
	"  FROM (SELECT r.*, r.start_ns + coalesce((SELECT k.wall_offset_ns FROM node_clock k\n"
	"    JOIN connections c ON c.node = k.node WHERE c.id = r.conn_id), 0) AS wall_ns\n"
	"    FROM requests_dims r WHERE error = 1)\n"
	"  GROUP BY server_dim, protocol, endpoint_dim, status, reason;\n"
	/* the anomalies with the wall-clock time of each */
	"CREATE VIEW anomalies_at AS SELECT a.conn_id, a.ts, a.kind, a.detail,\n"
	"  CASE WHEN a.ts > 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', (a.ts + coalesce((SELECT k.wall_offset_ns\n"
	"    FROM node_clock k JOIN connections c ON c.node = k.node WHERE c.id = a.conn_id),\n"
	"    (SELECT min(wall_offset_ns) FROM node_clock), 0)) / 1e9, 'unixepoch') END AS at\n"
	"  FROM anomalies a;\n"
	/* issue 14: MySQL / PostgreSQL statements (their endpoints are the
	 * normalised statement texts) ranked by total time */
	"CREATE VIEW sql_statements AS WITH r AS (SELECT protocol, server_dim, endpoint_dim, error, latency_ns,\n"
	"    row_number() OVER (PARTITION BY protocol, server_dim, endpoint_dim, latency_ns IS NULL ORDER BY latency_ns) AS rn,\n"
	"    count(latency_ns) OVER (PARTITION BY protocol, server_dim, endpoint_dim) AS n\n"
	"    FROM requests_dims WHERE protocol IN ('mysql', 'pgsql'))\n"
	"  SELECT protocol, server_dim AS server_workload, endpoint_dim AS statement, count(*) AS executions,\n"
	"    sum(error) AS errors, sum(latency_ns) AS total_ns,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.50 * n THEN latency_ns END) AS p50_ns,\n"
	"    min(CASE WHEN latency_ns IS NOT NULL AND rn >= 0.99 * n THEN latency_ns END) AS p99_ns\n"
	"  FROM r GROUP BY protocol, server_dim, endpoint_dim ORDER BY total_ns DESC, executions DESC, statement;\n";
