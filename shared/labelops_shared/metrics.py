"""Prometheus metrics every service exports on /metrics (names follow Prometheus rules:
base units, ``_total`` counters, low-cardinality labels: never item or user ids)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

EVENTS_CONSUMED = Counter(
    "labelops_events_consumed_total",
    "Events taken from Kafka, by topic, type and outcome",
    ["topic", "type", "outcome"],
)
EVENTS_PUBLISHED = Counter(
    "labelops_events_published_total", "Events published by the outbox relay", ["topic"]
)
DEAD_LETTERS = Counter(
    "labelops_dead_letters_total", "Messages sent to the dead-letter topic", ["topic"]
)
HANDLER_SECONDS = Histogram(
    "labelops_event_handler_seconds", "Time to handle one event", ["type"]
)
OUTBOX_BACKLOG = Gauge(
    "labelops_outbox_backlog", "Outbox records committed but not yet published"
)



def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    start_http_server(port, addr=host)
