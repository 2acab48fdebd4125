-- Workload-to-workload edges (the topology): requests, errors, error rate, p50/p99 latency per protocol
SELECT client_workload, server_workload, protocol, requests, errors, error_rate, p50_ns, p99_ns
FROM edges
ORDER BY requests DESC, client_workload, server_workload, protocol
