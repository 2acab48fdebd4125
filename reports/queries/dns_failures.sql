-- DNS queries that failed (error rcode or no answer), per name, type and answer code
SELECT d.qname, d.qtype, coalesce(d.rcode, '(no response)') AS rcode, count(*) AS queries,
  min(r.client_workload) AS client_workload, min(r.start_ns) AS first_ns, max(r.start_ns) AS last_ns
FROM requests_once r JOIN dns d ON d.request_id = r.id
WHERE r.error = 1 OR d.rcode IS NULL OR d.rcode <> 'NOERROR'
GROUP BY d.qname, d.qtype, d.rcode
ORDER BY queries DESC, d.qname, d.qtype, rcode
