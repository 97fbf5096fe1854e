"""Render one service's Prometheus registry as the text its /metrics serves, in a fresh
process: ``python -m tests.ops.metrics_text SERVICE``.

The service's bootstrap module is imported (so every metric the service defines is
registered, as when it starts); every labeled metric gets one example series so that
histogram and counter samples are rendered too, not only their HELP and TYPE lines.
"""

from __future__ import annotations

import importlib
import sys

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics import MetricWrapperBase


def _exercise(metric: MetricWrapperBase) -> None:
    names = getattr(metric, "_labelnames", ())
    child = metric.labels(*["example"] * len(names)) if names else metric
    for action in ("inc", "observe", "set"):
        if hasattr(child, action):
            getattr(child, action)(1)
            return


def render(service: str) -> bytes:
    importlib.import_module("labelops_shared.metrics")
    importlib.import_module(f"services.{service}.bootstrap")
    collectors = getattr(REGISTRY, "_collector_to_names", {})
    for collector in list(collectors):
        if isinstance(collector, MetricWrapperBase):
            _exercise(collector)
    return generate_latest(REGISTRY)


if __name__ == "__main__":
    sys.stdout.buffer.write(render(sys.argv[1]))
