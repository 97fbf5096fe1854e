"""``labelops check`` on canned reports: the exit code, the named violations, the cap."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from labelops_cli.check import runner, sources
from labelops_cli.check.rules import COVERAGE, VIEW, Violation
from labelops_cli.check.runner import KEPT_PER_CHECK, Report
from labelops_cli.main import app


def _run(monkeypatch: pytest.MonkeyPatch, report: Report, *args: str) -> Any:
    asked: list[list[str]] = []

    async def fake_run(settings: Any, job_ids: list[str]) -> Report:
        asked.append(list(job_ids))
        return report

    monkeypatch.setattr(runner, "run_checks", fake_run)
    monkeypatch.setattr(sources, "load_settings", lambda: None)
    result = CliRunner().invoke(app, ["check", *args])
    result.asked = asked
    return result


def test_a_clean_report_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    report = Report(["j1"])
    report.seen.update({"packages": 3, "events": 12})
    result = _run(monkeypatch, report, "--job", "j1")
    assert result.exit_code == 0, result.output
    assert result.asked == [["j1"]]
    assert "all invariants hold" in result.output and "3 packages" in result.output


def test_violations_are_listed_by_name_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    report = Report(["j1"])
    job = "8b29d356eab94f6fae3b47ad073c2339"  # ids as long as real ones stay whole
    report.add([Violation(COVERAGE, f"item also in package {job}-p000000", job,
                          f"{job}-p000001", "item-7"),
                Violation(VIEW, "accepted but not in the view", job, "", "item-9",
                          "57993cd9-1550-4833-b6d8-d82e86d2bc8d")])
    result = _run(monkeypatch, report)
    assert result.exit_code == 1
    for name in (f"{job}-p000001", "item-7", f"item also in package {job}-p000000",
                 "57993cd9-1550-4833-b6d8-d82e86d2bc8d"):
        assert name in result.output


def test_an_unreadable_deployment_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(settings: Any, job_ids: list[str]) -> Report:
        raise ConnectionError("kafka unreachable")

    monkeypatch.setattr(runner, "run_checks", failing)
    monkeypatch.setattr(sources, "load_settings", lambda: None)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 2 and "kafka unreachable" in result.output


def test_the_report_counts_all_but_keeps_a_bounded_list() -> None:
    report = Report([])
    report.add(Violation(VIEW, "missing", "j1", item_id=str(n))
               for n in range(KEPT_PER_CHECK + 5))
    report.add([None])
    assert report.found[VIEW] == KEPT_PER_CHECK + 5
    assert len(report.violations) == KEPT_PER_CHECK and not report.ok
