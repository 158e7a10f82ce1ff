"""Stream health for operators: what Kafka and every service say, judged on a sliding window.

status   Burrow's rules, severity, histogram quantiles, rates (pure)
kafka    one snapshot of Kafka: groups, offsets, append times, brokers, KRaft quorum
scrape   a service's /metrics: latency histograms and freshness
monitor  the collection loop and the report (`GET /v1/health/streams`)
alerts   status changes and new dead letters, posted to the alert webhook
app      HTTP: the report, Prometheus /metrics, the operators' page
service  `vivres serve health`: the wiring
"""
