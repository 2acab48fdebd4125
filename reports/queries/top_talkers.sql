-- Top 20 talkers: connections and bytes per client and server workload (each connection once)
SELECT local_workload, remote_workload, coalesce(protocol, '(undecoded)') AS protocol,
  count(*) AS connections, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
  sum(bytes_out) + sum(bytes_in) AS bytes
FROM connections
WHERE role = 'client' OR peer_conn_id IS NULL
GROUP BY local_workload, remote_workload, protocol
ORDER BY bytes DESC, connections DESC, local_workload, remote_workload, protocol
LIMIT 20
