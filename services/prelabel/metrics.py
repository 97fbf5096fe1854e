"""The prelabel service's metrics (Prometheus rules: base units, ``_total`` counters, labels
of low cardinality: never a job, item or endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter(
    "labelops_prelabel_predictions_total",
    "Pre-labels put on items, by source (offline, online, auto)", ["source"])
INVALID_VALUES = Counter(
    "labelops_prelabel_invalid_values_total",
    "Pre-label values refused by their topic's answer schema, by source", ["source"])
FAILED_ITEMS = Counter(
    "labelops_prelabel_failed_items_total",
    "Items left without a pre-label because the model failed, by source and reason "
    "(timeout, unavailable, circuit_open, malformed, refused, item_error, no_result, unreadable)",
    ["source", "reason"])
MODEL_REQUESTS = Counter(
    "labelops_prelabel_model_requests_total",
    "Calls to online model services (each retry counted), by transport and outcome "
    "(ok, timeout, unavailable, malformed, refused, circuit_open)",
    ["transport", "outcome"])
MODEL_SECONDS = Histogram(
    "labelops_prelabel_model_request_seconds",
    "Time of one call to a model service, by transport", ["transport"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
CIRCUITS_OPEN = Gauge(
    "labelops_prelabel_model_circuits_open",
    "Model endpoints whose circuit breaker is open now (calls refused at once)")
REVIEWED_ITEMS = Counter(
    "labelops_prelabel_reviewed_items_total",
    "Pre-labeled items reviewed, by outcome: accepted unchanged (labor saved), accepted "
    "changed (corrected), or rejected by a checker or accepter while still pre-labeled",
    ["outcome"])
AUTO_LABEL_RUNS = Counter(
    "labelops_prelabel_auto_label_runs_total",
    "Auto-labeling runs, by how they ended (done, failed) or refused at the start", ["state"])
AUTO_LABEL_SECONDS = Histogram(
    "labelops_prelabel_auto_label_run_seconds",
    "Duration of an auto-labeling run (reading, training, predicting)",
    buckets=(1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0))
