-- Connections with gaps (bytes the recording missed), the most missing first
SELECT id, node, comm, local_workload, remote_workload, protocol, remote_addr, remote_port,
  gap_bytes, bytes_out + bytes_in AS bytes, requests
FROM connections
WHERE gap_bytes > 0
ORDER BY gap_bytes DESC, id
