"""Prometheus metrics of one service process (``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LAT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.e2e = Histogram(
            "harflow_e2e_latency_seconds",
            "chunk completing a window received → its prediction sent (includes inference and commit)",
            registry=r,
            buckets=LAT_BUCKETS,
        )
        self.inference = Histogram(
            "harflow_inference_seconds", "one batched forward pass", registry=r, buckets=LAT_BUCKETS
        )
        self.commit = Histogram(
            "harflow_db_commit_seconds", "one batched database transaction", registry=r, buckets=LAT_BUCKETS
        )
        self.batch = Histogram(
            "harflow_batch_size",
            "windows per forward pass",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.queue = Gauge("harflow_queue_depth", "windows waiting for inference", registry=r)
        self.streams = Gauge("harflow_active_streams", "open device streams", registry=r)
        self.windows = Counter("harflow_windows", "windows predicted", ["source"], registry=r)
        self.events = Counter("harflow_events", "activity events emitted", ["type"], registry=r)
        self.errors = Counter("harflow_errors", "client-visible errors by kind", ["kind"], registry=r)
        self.deliveries = Counter(
            "harflow_alert_deliveries", "webhook delivery attempts by result", ["result"], registry=r
        )
        self.busy = Counter("harflow_busy", "requests refused with back-pressure", registry=r)
