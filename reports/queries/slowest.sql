-- The 20 slowest requests with their timing breakdown (upload, server wait, download, network)
SELECT id, start_at, protocol, summary, status, client_workload, server_workload,
  latency_ns, upload_ns, wait_ns, download_ns, network_ns
FROM slowest
ORDER BY latency_ns DESC, id
LIMIT 20
