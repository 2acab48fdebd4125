-- Endpoints with failed requests: requests, errors, error rate, first and last failure
SELECT server_dim AS server_workload, protocol, endpoint_dim AS endpoint, count(*) AS requests,
  sum(error) AS errors, round(1.0 * sum(error) / count(*), 4) AS error_rate,
  min(CASE WHEN error = 1 THEN start_ns END) AS first_error_ns,
  max(CASE WHEN error = 1 THEN start_ns END) AS last_error_ns
FROM requests_dims
GROUP BY server_dim, protocol, endpoint_dim
HAVING sum(error) > 0
ORDER BY errors DESC, server_workload, protocol, endpoint
