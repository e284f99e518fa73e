"""Prometheus metrics of one server (its own registry): queue depth, batch sizes, latency, audio produced."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self):
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)  # process_resident_memory_bytes and friends
        self.queue_depth = Gauge("ttsx_queue_depth", "Text pieces waiting for a batch", ["model"], registry=r)
        self.batch_size = Histogram("ttsx_batch_size", "Text pieces per batch run", ["model"],
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32), registry=r)
        self.batch_seconds = Histogram("ttsx_batch_seconds", "Seconds per batch run", ["model"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("ttsx_requests", "Speech requests by HTTP status", ["model", "status"], registry=r)
        self.latency = Histogram("ttsx_request_seconds", "Seconds from request to its last audio byte", ["model"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.first_audio = Histogram("ttsx_first_audio_seconds", "Seconds from request to first audio (streamed)",
                                     ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.audio_seconds = Counter("ttsx_audio_seconds", "Seconds of audio produced", ["model"], registry=r)

    def batch(self, model: str, report) -> None:
        """One batch run (a Batcher's on_batch)."""
        self.batch_size.labels(model).observe(report.size)
        self.batch_seconds.labels(model).observe(report.seconds)

    def done(self, model: str, seconds: float, first_audio: float | None, audio_seconds: float) -> None:
        """A request answered in full."""
        self.requests.labels(model, "200").inc()
        self.latency.labels(model).observe(seconds)
        if first_audio is not None:
            self.first_audio.labels(model).observe(first_audio)
        self.audio_seconds.labels(model).inc(audio_seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
