-- Redis commands per server workload: calls, errors, mean and max latency
SELECT r.server_workload, x.command, count(*) AS calls, sum(r.error) AS errors,
  sum(r.latency_ns) / count(r.latency_ns) AS mean_ns, max(r.latency_ns) AS max_ns
FROM requests_once r JOIN redis x ON x.request_id = r.id
GROUP BY r.server_workload, x.command
ORDER BY calls DESC, r.server_workload, x.command
