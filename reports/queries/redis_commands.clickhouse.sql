-- ClickHouse version of redis_commands.sql (joins match load_id and incident; integer mean)
SELECT sw AS server_workload, command, calls, errors, mean_ns, max_ns FROM (
SELECT r.server_workload AS sw, x.command AS command, count() AS calls, sum(r.error) AS errors,
  if(count(r.latency_ns) = 0, NULL, intDiv(sum(r.latency_ns), greatest(count(r.latency_ns), 1))) AS mean_ns,
  max(r.latency_ns) AS max_ns
FROM requests_once r ALL INNER JOIN redis x ON x.request_id = r.id AND x.load_id = r.load_id AND x.incident = r.incident
GROUP BY r.server_workload, x.command)
ORDER BY calls DESC, server_workload, command
