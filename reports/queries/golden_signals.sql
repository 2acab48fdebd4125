-- Golden signals per server workload and minute (UTC): requests, errors, error rate, p50/p90/p99 latency
SELECT workload, minute, requests, errors,
  round(1.0 * errors / requests, 4) AS error_rate, p50_ns, p90_ns, p99_ns
FROM golden_signals
ORDER BY workload, minute
