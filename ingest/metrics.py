"""Prometheus metrics of the ingest service (one registry per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter("carewatch_ingest_received", "MQTT messages received", registry=r)
        self.stored = Counter("carewatch_ingest_stored", "messages stored (new)", registry=r)
        self.rows = Counter("carewatch_ingest_rows", "time-series rows stored", registry=r)
        self.duplicates = Counter("carewatch_ingest_duplicates", "messages seen before (stored once)", registry=r)
        self.dead = Counter("carewatch_ingest_dead_letters", "messages dead-lettered", ["reason"], registry=r)
        self.batch_size = Histogram(
            "carewatch_ingest_batch_messages",
            "messages per flushed batch",
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
        self.flush_seconds = Histogram(
            "carewatch_ingest_flush_seconds",
            "time to commit one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.queue_depth = Gauge("carewatch_ingest_queue_depth", "received, not yet committed", registry=r)
        self.lag = Histogram(
            "carewatch_ingest_lag_seconds",
            "message timestamp to commit",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.db_errors = Counter("carewatch_ingest_db_errors", "failed batch writes (retried)", registry=r)
        self.mqtt_connected = Gauge("carewatch_ingest_mqtt_connected", "1 when connected to the broker", registry=r)
        self.db_up = Gauge("carewatch_ingest_db_up", "1 when the last write succeeded", registry=r)
