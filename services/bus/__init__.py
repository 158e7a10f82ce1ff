"""The shared platform every Vivres service stands on.

settings   settings read once at start
logging    structlog JSON logs, with topic/partition/offset bound per record
schemas    the .avsc files: loading, history, backward-compatibility check
compat     Avro schema-resolution rules (pure)
registry   a client for any Confluent-compatible schema registry
codec      the Confluent wire format (magic byte, schema id, Avro body)
headers    CloudEvents Kafka binary-binding headers
catalog    every topic in one place
provision  create what is missing, report drift
publisher  the idempotent producer side
runtime    the consumer side: commit after effect, error policy, graceful drain
ownership  per-partition state a consumer loads on assignment, saves before commit, forgets
deadletter what goes to <topic>.dlq (the one way to dead-letter), how to read and replay it
metrics    Prometheus counters, latency and freshness, and the /metrics endpoint
admin      small questions to the cluster, through one admin client per process
client     the one place a Kafka consumer is built (group-less reader or group member)
partitions the one group-less reader (bounds, from a time, ranges)
table      a compacted topic held in memory and followed (reference tables)
watch      which keys of a table changed, for a slow watcher, in bounded memory
transactional  exactly-once consume-transform-produce, one transactional producer per partition
platform   one service process: settings, logs, registry, producer, admin, metrics, signals
pages      the self-contained pages people open in a browser (CSP by hash, ETag)
signature  Standard Webhooks: signing what Vivres POSTs, and verifying it (receivers)
openapi    what an HTTP API documents besides its routes: bearer, error answers, webhooks
access     each service's Kafka principal and its least-privilege ACLs
security   applying them: SCRAM users and ACLs on a secured cluster
"""
