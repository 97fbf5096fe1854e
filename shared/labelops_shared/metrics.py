"""Prometheus metrics every service exports on /metrics.

Names follow Prometheus's rules: a ``labelops_`` prefix, base units in the name (``_seconds``,
``_bytes``), ``_total`` on counters and on nothing else, and low-cardinality labels only (a
topic, an event type, a gRPC method, an outcome; never an item, package or user id). Each
service adds its domain metrics in ``services/<name>/metrics.py``; the catalogue is
docs/metrics.md, and tests/ops runs ``promtool check metrics`` on every registry.
"""

from __future__ import annotations

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

# No `*_created` series beside every counter and histogram: Prometheus 2 stores them as
# separate gauges, doubling the series for a timestamp nobody queries.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Handler and gRPC latencies: 5 ms .. 60 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# -- events ----------------------------------------------------------------------------------

EVENTS_CONSUMED = Counter(
    "labelops_events_consumed_total",
    "Events taken from Kafka, by topic, type and outcome "
    "(handled, duplicate, ignored, unknown_type, dead_lettered)",
    ["topic", "type", "outcome"],
)
EVENTS_PUBLISHED = Counter(
    "labelops_events_published_total",
    "Events published by the outbox relay, by topic and event type",
    ["topic", "type"],
)
DEAD_LETTERS = Counter(
    "labelops_dead_letters_total",
    "Messages this service's consumer group sent to the dead-letter topic, by source topic",
    ["topic"],
)
HANDLER_SECONDS = Histogram(
    "labelops_event_handler_seconds",
    "Time to handle one event (successful handling, retries included)",
    ["type"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "labelops_kafka_consumer_lag",
    "Messages in a topic not yet committed by a consumer group (sum over partitions); "
    "every replica of a group reports the same value",
    ["topic", "group"],
)
CONSUMER_LAG_UPDATED = Gauge(
    "labelops_kafka_consumer_lag_updated_timestamp_seconds",
    "When this process last measured its consumer group's lag (Unix time)",
    ["group"],
)

# -- outbox ----------------------------------------------------------------------------------

OUTBOX_BACKLOG = Gauge(
    "labelops_outbox_backlog",
    "Outbox records committed but not yet published (this service's database)",
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "labelops_outbox_oldest_record_age_seconds",
    "Age of the oldest outbox record not yet published (0 when none)",
)
OUTBOX_RELAY_FAILURES = Counter(
    "labelops_outbox_relay_failures_total",
    "Relay rounds that failed (Kafka or the database unreachable); retried with back-off",
)

# -- gRPC --------------------------------------------------------------------------------------

GRPC_HANDLED = Counter(
    "labelops_grpc_server_handled_total",
    "gRPC calls completed, by service, method and status code",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_SECONDS = Histogram(
    "labelops_grpc_server_handling_seconds",
    "Time to answer a gRPC call (until the last response message), by service and method",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_WAITING = Gauge(
    "labelops_grpc_server_calls_waiting",
    "Unary calls waiting for a place (LABELOPS_GRPC_MAX_CONCURRENT_CALLS are running)",
)
GRPC_ADMISSION_SECONDS = Histogram(
    "labelops_grpc_server_admission_seconds",
    "Time a unary call waited for a place before running, by lane ('first': claims)",
    ["lane"],
    buckets=LATENCY_BUCKETS,
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    start_http_server(port, addr=host)
