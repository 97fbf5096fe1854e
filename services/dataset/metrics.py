"""The dataset service's domain metrics (the shared ones are in labelops_shared.metrics).
Labels: the dataset kind and an outcome, never a dataset or item id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

IMPORTS = Counter(
    "labelops_dataset_imports_total",
    "Imports finished, by dataset kind and outcome (completed, failed)",
    ["kind", "outcome"],
)
ITEMS_IMPORTED = Counter(
    "labelops_dataset_items_imported_total",
    "Items made visible by completed imports, by dataset kind",
    ["kind"],
)
RECORDS_REJECTED = Counter(
    "labelops_dataset_records_rejected_total",
    "Invalid records of finished imports (skipped with skip_invalid, or failing the import)",
    ["kind"],
)
DUPLICATE_RECORDS = Counter(
    "labelops_dataset_duplicate_records_total",
    "Records repeating a source already in the dataset or the file, by dataset kind",
    ["kind"],
)
IMPORT_SECONDS = Histogram(
    "labelops_dataset_import_duration_seconds",
    "Time from the start of an import to its outcome, by dataset kind",
    ["kind"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 10800),
)
IMPORTS_RUNNING = Gauge(
    "labelops_dataset_imports_running",
    "Imports in progress in this process",
)
ITEMS_DELETED = Counter(
    "labelops_dataset_items_deleted_total",
    "Items deleted by id or filter (DeleteItems)",
)
