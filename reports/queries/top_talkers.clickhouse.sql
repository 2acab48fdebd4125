-- ClickHouse version of top_talkers.sql (a server connection linked across nodes counts once, by its client)
SELECT local_workload, remote_workload, protocol_ AS protocol, connections, bo AS bytes_out, bi AS bytes_in, bytes FROM (
SELECT local_workload, remote_workload, ifNull(protocol, '(undecoded)') AS protocol_, count() AS connections,
  sum(bytes_out) AS bo, sum(bytes_in) AS bi, sum(bytes_out) + sum(bytes_in) AS bytes
FROM connections
WHERE (role = 'client' OR isNull(peer_conn_id))
  AND NOT (role = 'server' AND (incident, load_id, id) GLOBAL IN (SELECT incident, s_load, s_id FROM conn_links))
GROUP BY local_workload, remote_workload, protocol)
ORDER BY bytes DESC, connections DESC, local_workload, remote_workload, protocol
LIMIT 20
