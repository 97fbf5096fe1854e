"""Every service's metrics follow Prometheus's rules (promtool check metrics on the text its
registry renders), use no id-like labels, and are all in the catalogue docs/metrics.md."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.ops.conftest import ROOT

SERVICES = ("dataset", "jobs", "assignment", "prelabel", "export")
# Label names that would carry an item, package, user or event id (unbounded cardinality).
# `job_id` is allowed: the issue asks for packages by state per job (live jobs only).
ID_LABELS = re.compile(r"^(item|items|package|user|labeler|checker|accepter|holder|email|"
                       r"event|export|dataset|version|subject|worker|member|annotation)(_?id)?$"
                       r"|^.*_(item|user|package|event)_?id$")
CATALOGUE = ROOT / "docs" / "metrics.md"


@cache
def exposition(service: str) -> str:
    """The service's /metrics text, rendered in a fresh process from its registry."""
    done = subprocess.run([sys.executable, "-m", "tests.ops.metrics_text", service], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{service}: rendering its metrics failed:\n{done.stderr}"
    return done.stdout


def families(text: str) -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names) of every family in an exposition text."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    labels: dict[str, set[str]] = {name: set() for name in types}
    for sample, body in re.findall(r"^([a-zA-Z_:][\w:]*)\{([^}]*)\}", text, re.MULTILINE):
        family = next((n for n in types if sample == n or sample.startswith(n + "_")), None)
        if family:
            labels[family] |= {k for k in re.findall(r'(\w+)="', body) if k != "le"}
    return {name: (kind, labels[name]) for name, kind in types.items()}


@pytest.mark.parametrize("service", SERVICES)
def test_promtool_accepts_the_metrics_of(service: str, promtool: Path) -> None:
    text = exposition(service)
    assert "labelops_events_consumed_total" in text
    done = subprocess.run([str(promtool), "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"promtool check metrics ({service}):\n{done.stdout}{done.stderr}"


def test_promtool_would_catch_a_badly_named_metric(promtool: Path) -> None:
    bad = "# HELP jobs_done Jobs done\n# TYPE jobs_done counter\njobs_done 3\n"
    done = subprocess.run([str(promtool), "check", "metrics"], input=bad, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "_total" in done.stdout + done.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_no_metric_is_labeled_with_an_id(service: str) -> None:
    for name, (_, labels) in families(exposition(service)).items():
        if not name.startswith("labelops_"):
            continue  # the client library's own (python_info has a version label)
        bad = sorted(label for label in labels if ID_LABELS.match(label))
        assert not bad, f"{service}: {name} has id-like labels {bad}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_exported_metric_is_in_the_catalogue(service: str) -> None:
    catalogue = CATALOGUE.read_text()
    missing = sorted(name for name in families(exposition(service))
                     if name.startswith("labelops_") and f"`{name}" not in catalogue)
    assert not missing, f"{service}: add these to docs/metrics.md: {missing}"


def test_seconds_and_totals_are_used_as_the_rules_say() -> None:
    for service in SERVICES:
        for name, (kind, _) in families(exposition(service)).items():
            if not name.startswith("labelops_"):
                continue
            if kind == "histogram":
                assert name.endswith(("_seconds", "_bytes")), f"{name}: a histogram of what unit?"
            if kind != "counter":
                assert not name.endswith("_total"), f"{name}: only counters end in _total"
