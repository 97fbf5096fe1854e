"""The alert rules and the Grafana dashboard: checked and unit-tested by promtool, every
expression parsed by Prometheus's own parser, every metric they use in docs/metrics.md."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.ops.conftest import ROOT

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "labelops.json"
CATALOGUE = ROOT / "docs" / "metrics.md"
HERE = Path(__file__).parent


def _promtool(promtool: Path, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run([str(promtool), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(labelops_[a-z0-9_]+)", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def _dashboard_exprs() -> list[tuple[str, str]]:
    def walk(panels: list[dict[str, Any]]) -> list[tuple[str, str]]:
        found = []
        for panel in panels:
            found += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
            found += walk(panel.get("panels", []))
        return found

    return walk(json.loads(DASHBOARD.read_text())["panels"])


def test_promtool_checks_the_alert_rules(promtool: Path) -> None:
    out = _promtool(promtool, "check", "rules", str(ALERTS))
    assert "SUCCESS" in out


def test_the_alerts_fire_as_their_unit_tests_expect(promtool: Path, tmp_path: Path) -> None:
    tests = (HERE / "alerts_test.yml").read_text().replace("ALERTS_FILE", str(ALERTS))
    (tmp_path / "alerts_test.yml").write_text(tests)
    out = _promtool(promtool, "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert "SUCCESS" in out


def test_the_required_alerts_exist() -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert {"LabelOpsStageStalled", "LabelOpsConsumerLagGrowing", "LabelOpsDeadLetters",
            "LabelOpsModelEndpointFailing", "LabelOpsModelCircuitOpen"} <= names


def test_every_dashboard_query_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    """Each query, its Grafana variables filled in, becomes a recording rule; promtool parses
    it with the Prometheus query parser."""
    exprs = _dashboard_exprs()
    assert len(exprs) >= 15
    rules = [{"record": f"dashboard:query_{i}",
              "expr": expr.replace("$__rate_interval", "5m").replace("$__range", "6h")
                          .replace("$job_id", ".*")}
             for i, (_, expr) in enumerate(exprs)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _promtool(promtool, "check", "rules", str(path))


def test_the_dashboard_covers_the_issue() -> None:
    used = set().union(*(_metric_names(e) for _, e in _dashboard_exprs()))
    for needed in ("labelops_dataset_items_imported_total", "labelops_assignment_packages",
                   "labelops_assignment_items_processed_total",
                   "labelops_assignment_stage_wait_seconds",
                   "labelops_grpc_server_handling_seconds",
                   "labelops_prelabel_reviewed_items_total",
                   "labelops_export_items_written_total", "labelops_kafka_consumer_lag",
                   "labelops_dead_letters_total", "labelops_outbox_backlog"):
        assert needed in used, f"the dashboard shows nothing of {needed}"
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["templating"]["list"][0]["type"] == "datasource"


def test_every_metric_in_rules_and_dashboard_is_catalogued() -> None:
    catalogue = CATALOGUE.read_text()
    rules = yaml.safe_load(ALERTS.read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    exprs += [e for _, e in _dashboard_exprs()]
    used = set().union(*(_metric_names(e) for e in exprs))
    missing = sorted(n for n in used if f"`{n}`" not in catalogue)
    assert not missing, f"metrics used but not in docs/metrics.md: {missing}"


def test_promtool_accepts_the_compose_prometheus_config(promtool: Path, tmp_path: Path) -> None:
    config = (ROOT / "deploy" / "compose" / "prometheus.yml").read_text()
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml")))
    _promtool(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
