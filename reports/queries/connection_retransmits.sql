-- TCP connections with retransmits or resets, with smoothed RTT (recordings with connections.retransmits)
SELECT id, node, comm, local_workload, remote_workload, protocol, remote_addr, remote_port,
  retransmits, resets, srtt_us, bytes_out + bytes_in AS bytes, requests
FROM connections
WHERE retransmits > 0 OR resets > 0
ORDER BY retransmits DESC, resets DESC, id
