-- MySQL and PostgreSQL statements (normalised) by total time: executions, errors, p50/p99 latency
SELECT protocol, server_workload, statement, executions, errors, total_ns, p50_ns, p99_ns
FROM sql_statements
ORDER BY total_ns DESC, executions DESC, statement
