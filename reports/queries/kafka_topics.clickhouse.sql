-- ClickHouse version of kafka_topics.sql (joins match load_id and incident too)
SELECT topic_ AS topic, api, requests, errors, records, bytes, max_ns FROM (
SELECT ifNull(k.topic, '-') AS topic_, k.api AS api, count() AS requests, sum(r.error) AS errors,
  sum(k.records) AS records, sum(k.bytes) AS bytes, max(r.latency_ns) AS max_ns
FROM requests_once r ALL INNER JOIN kafka k ON k.request_id = r.id AND k.load_id = r.load_id AND k.incident = r.incident
GROUP BY k.topic, k.api)
ORDER BY requests DESC, topic, api
