"""The export service's domain metrics (the shared ones are in labelops_shared.metrics).
Labels: the export format and an outcome, never a job or export id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EXPORTS = Counter(
    "labelops_exports_total",
    "Exports finished, by format and outcome (completed, failed)",
    ["format", "outcome"],
)
EXPORTS_RUNNING = Gauge(
    "labelops_exports_running",
    "Exports being written by this process",
)
EXPORT_ITEMS = Counter(
    "labelops_export_items_written_total",
    "Items written into export files, counted as the writing goes (export progress)",
    ["format"],
)
EXPORT_BYTES = Counter(
    "labelops_export_written_bytes_total",
    "Size of the export files completed, by format",
    ["format"],
)
EXPORT_SECONDS = Histogram(
    "labelops_export_duration_seconds",
    "Time to write and upload one export, by format",
    ["format"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
ACCEPTED_ITEMS = Counter(
    "labelops_export_accepted_items_total",
    "Accepted item revisions taken into the export view (from package.accepted events)",
)
