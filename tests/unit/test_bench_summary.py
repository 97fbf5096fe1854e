"""The combined benchmark table: results files (their last run) mapped to rows of figure,
value, raw-backend reference, ratio and the Label Studio figure."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as entry
from bench.summary import MAPPERS, Figure, Row, summarise

pytestmark = pytest.mark.unit


def prelabel_run(when: str, text_rate: float) -> dict[str, Any]:
    return {
        "when": when, "settings": {"items": 1000, "quick": False},
        "text": {"predictions_per_s": text_rate, "raw_predict_proba_per_s": 2 * text_rate,
                 "held_out_accuracy": 0.9, "majority_baseline": 0.4},
        "image": {"predictions_per_s": 400.0, "raw_predict_proba_per_s": 10_000.0,
                  "features_s": 2.0, "held_out_accuracy": 0.95, "majority_baseline": 0.4},
        "online": {"batch_size": 32, "concurrency": 4, "unit": 1000,
                   "grpc": {"predictions_per_s": 9000.0, "errors": 0,
                            "round_trip": {"p50_ms": 5.0, "p99_ms": 12.5},
                            "raw": {"items_per_s": 10_000.0}}},
    }


def by_figure(rows: list[Row]) -> dict[str, tuple[str, str, str, str, str]]:
    return {row.figure: row.cells() for row in rows}


def test_the_last_run_of_a_results_file_gives_the_rows(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prelabel.json"
    path.write_text(json.dumps([prelabel_run("2026-01-01T00:00:00Z", 100.0),
                                prelabel_run("2026-01-02T00:00:00Z", 5000.0)]))
    monkeypatch.setattr(entry, "RESULTS", tmp_path)
    found = summarise("prelabel", entry.load("prelabel"))

    assert found.runs == ["2026-01-02T00:00:00Z 1,000 items"] and not found.missing
    rows = by_figure(found.rows)
    assert rows["built-in text model, predictions"] == (
        "built-in text model, predictions", "5,000 items/s", "10,000 items/s", "50%", "")
    # the image reference is the same features plus the bare model: 1000 / (2 + 0.1) items/s
    image = next(r for r in found.rows if r.figure == "built-in image model, predictions")
    assert image.reference is not None
    assert image.reference.value == pytest.approx(1000 / 2.1)
    assert rows["built-in text model, held-out accuracy (majority 40%)"][1] == "90.0 %"
    assert rows["online gRPC, predictions"][2:4] == ("10,000 items/s", "90%")
    assert rows["online gRPC, batch round trip p99"][1:3] == ("12.5 ms", "")
    assert rows["online gRPC, errors"][1] == "0"
    assert not any("HTTP" in figure for figure in rows)  # a transport not run: no row


def test_label_studio_comes_from_the_latest_run_that_measured_it() -> None:
    ours = {"when": "t2", "settings": {"items": 10_000}, "labelops": {
        "fill": {"items_per_s": 200.0},
        "probes": {"visible": {"p99_s": 0.41}},
        "raw_before": {"docs_per_s": 6000.0}, "raw_after": {"docs_per_s": 8000.0},
        "exports": [{"format": "manifest", "items_per_s": 3500.0, "rss_peak_mb": 110.0},
                    {"format": "coco", "items_per_s": 2800.0, "rss_peak_mb": 120.0}]}}
    theirs = {"when": "t1", "settings": {"items": 20_000}, "label_studio": {
        "export": {"finished": True, "tasks_per_s": 640.0}, "rss_peak_mb": 760.0}}
    found = summarise("export", [theirs, ours])

    assert found.runs == ["LabelOps t2 10,000 items", "Label Studio t1 20,000 items"]
    rows = by_figure(found.rows)
    assert rows["export manifest"] == ("export manifest", "3,500 items/s", "7,000 docs/s",
                                       "50%", "640 items/s")
    assert rows["export coco"][4] == ""  # Label Studio has no COCO figure here
    assert rows["export manifest: service peak RSS"][4] == "760 MB"
    assert rows["accept → visible, p99"][1] == "410 ms"


def test_assignment_pairs_levels_with_label_studio() -> None:
    run = {"when": "t", "settings": {"items": 20_000},
           "labelops": {"levels": [{"concurrency": 1, "items_per_s": 10.0,
                                    "claim": {"p99_ms": 120.0}}]},
           "label_studio": {"levels": [{"concurrency": 1, "annotations_per_s": 3.5,
                                        "next": {"p99_ms": 170.0}},
                                       {"concurrency": 4, "annotations_per_s": 4.5,
                                        "next": {"p99_ms": 3000.0}}]}}
    rows = by_figure(summarise("assignment", [run]).rows)
    assert rows["items answered, 1 labeler"][1:] == ("10.0 items/s", "", "", "3.50 items/s")
    assert rows["claim (LS: GET next) p99, 1 labeler"][4] == "170 ms"
    assert rows["items answered, 4 labelers"][1:] == ("—", "", "", "4.50 items/s")


def test_assignment_levels_at_a_pace_are_rows_of_their_own() -> None:
    run = {"when": "t", "settings": {"items": 20_000},
           "labelops": {"levels": [
               {"concurrency": 64, "items_per_s": 400.0, "claim": {"p99_ms": 700.0}},
               {"concurrency": 64, "think_ms": 500.0, "items_per_s": 120.0,
                "claim": {"p99_ms": 40.0}}]},
           "label_studio": {"levels": [
               {"concurrency": 64, "think_ms": 500.0, "annotations_per_s": 30.0,
                "next": {"p99_ms": 900.0}}]}}
    rows = by_figure(summarise("assignment", [run]).rows)
    assert rows["claim (LS: GET next) p99, 64 labelers"][1:] == ("700 ms", "", "", "")
    paced = rows["claim (LS: GET next) p99, 64 labelers, 500 ms per item"]
    assert paced[1] == "40.0 ms" and paced[4] == "900 ms"
    assert list(rows).index("claim (LS: GET next) p99, 64 labelers") < list(rows).index(
        "items answered, 64 labelers, 500 ms per item")


def test_a_one_run_file_and_the_files_that_give_no_rows() -> None:
    baseline = {"when": "t", "results": {
        "kafka_produce": {"value": 9000.0, "unit": "msgs/s", "how": "aiokafka"},
        "stack_cold_start": {"value": 4.71, "unit": "s", "how": "up_infra()"}}}
    rows = by_figure(summarise("baseline", baseline).rows)
    assert rows == {"kafka_produce": ("kafka_produce", "9,000 msgs/s", "", "", ""),
                    "stack_cold_start": ("stack_cold_start", "4.71 s", "", "", "")}
    assert summarise("jobs", None).missing == "no results yet: python -m bench jobs"
    assert summarise("export", []).missing == "the results file holds no run with figures"
    assert summarise("prelabel", "prelabel.json is not JSON: …").missing.endswith("…")


def test_ratio_and_cells() -> None:
    assert Row("b", "f", Figure(50, "x/s"), Figure(200, "y/s")).cells()[3] == "25%"
    assert Row("b", "f", Figure(50, "x/s"), Figure(0, "y/s")).ratio is None
    assert Figure(math.nan, "ms").text() == "—"


def test_every_benchmark_has_a_mapper_and_every_mapper_a_benchmark() -> None:
    assert set(entry.BENCHES) == set(MAPPERS)
    assert all((Path(entry.__file__).parent / f"{name}.py").exists() for name in entry.BENCHES)


def test_a_benchmark_on_the_platform_is_skipped_when_the_platform_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(entry, "RESULTS", tmp_path)
    monkeypatch.setattr(entry, "platform_missing", lambda services, servers: [
        s for s in servers if s == "kafka"])  # the stack's broker is down
    monkeypatch.setattr(entry, "run_one", lambda bench, *args: ran.append(bench.name) or "ok")
    assert entry.main(["export", "jobs", "scale_out"]) == 0
    # export needs the broker: skipped, nothing started; scale_out brings its own cluster
    assert ran == ["jobs", "scale_out"]
    monkeypatch.setattr(entry, "run_one", lambda bench, *args: "failed (exit 1, 0 s)")
    assert entry.main(["jobs"]) == 1


def test_options_after_a_double_dash_go_to_one_benchmark() -> None:
    args, extra = entry.parse_args(["prelabel", "--quick", "--", "--items", "10"])
    assert (args.names, args.quick, extra) == (["prelabel"], True, ["--items", "10"])
    with pytest.raises(SystemExit):
        entry.parse_args(["prelabel", "jobs", "--", "--items", "10"])
    with pytest.raises(SystemExit):
        entry.parse_args(["no_such_bench"])


def test_a_soak_run_gives_stage_rates_errors_and_the_largest_rss_growth() -> None:
    stage = {"items_per_s": 12.5, "claim": {"count": 10, "p50_ms": 5.0, "p99_ms": 40.0}}
    run = {"when": "2026-01-03T00:00:00Z", "settings": {"items": 3000},
           "soak": {"label": stage, "check": {**stage, "items_per_s": 10.0},
                    "accept": {"items_per_s": 0.0, "claim": {"count": 0}},
                    "errors_total": 2,
                    "rss_growth": {"jobs": 0.02, "assignment": 0.25, "export": -0.1}}}
    rows = by_figure(summarise("soak", [run]).rows)
    assert rows["label: items/s"][1] == "12.5 items/s"
    assert rows["check: claim p99"][1] == "40.0 ms"
    assert "accept: claim p99" not in rows  # no claim answered: no latency row
    assert rows["errors (target 0)"][1] == "2"
    assert rows["largest RSS growth (assignment; target ≤ 10%)"][1] == "25.0 %"
