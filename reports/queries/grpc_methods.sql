-- gRPC methods by status: calls, mean and max latency per service, method and grpc-status
SELECT r.server_workload, g.service, g.method, g.grpc_status, count(*) AS calls,
  sum(r.latency_ns) / count(r.latency_ns) AS mean_ns, max(r.latency_ns) AS max_ns
FROM requests_once r JOIN grpc g ON g.request_id = r.id
GROUP BY r.server_workload, g.service, g.method, g.grpc_status
ORDER BY calls DESC, r.server_workload, g.service, g.method, g.grpc_status
