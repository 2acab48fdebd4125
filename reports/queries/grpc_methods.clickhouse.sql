-- ClickHouse version of grpc_methods.sql (joins match load_id and incident; integer mean)
SELECT sw AS server_workload, service, method, grpc_status, calls, mean_ns, max_ns FROM (
SELECT r.server_workload AS sw, g.service AS service, g.method AS method, g.grpc_status AS grpc_status,
  count() AS calls, if(count(r.latency_ns) = 0, NULL, intDiv(sum(r.latency_ns), greatest(count(r.latency_ns), 1))) AS mean_ns,
  max(r.latency_ns) AS max_ns
FROM requests_once r ALL INNER JOIN grpc g ON g.request_id = r.id AND g.load_id = r.load_id AND g.incident = r.incident
GROUP BY r.server_workload, g.service, g.method, g.grpc_status)
ORDER BY calls DESC, server_workload, service, method, grpc_status
