-- ClickHouse version of dns_failures.sql (joins match load_id and incident too)
SELECT qname, qtype, rcode_ AS rcode, queries, client_workload, first_ns, last_ns FROM (
SELECT d.qname AS qname, d.qtype AS qtype, ifNull(d.rcode, '(no response)') AS rcode_, count() AS queries,
  min(r.client_workload) AS client_workload, min(r.start_ns) AS first_ns, max(r.start_ns) AS last_ns
FROM requests_once r ALL INNER JOIN dns d ON d.request_id = r.id AND d.load_id = r.load_id AND d.incident = r.incident
WHERE r.error = 1 OR isNull(d.rcode) OR d.rcode != 'NOERROR'
GROUP BY d.qname, d.qtype, d.rcode)
ORDER BY queries DESC, qname, qtype, rcode
