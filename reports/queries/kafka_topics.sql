-- Kafka topics by API: requests, errors, records and bytes produced or fetched
SELECT coalesce(k.topic, '-') AS topic, k.api, count(*) AS requests, sum(r.error) AS errors,
  sum(k.records) AS records, sum(k.bytes) AS bytes, max(r.latency_ns) AS max_ns
FROM requests_once r JOIN kafka k ON k.request_id = r.id
GROUP BY k.topic, k.api
ORDER BY requests DESC, topic, k.api
