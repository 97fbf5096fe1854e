"""The combined table of ``python -m bench``: each benchmark's results file (its last run)
mapped to rows of figure, value, raw-backend reference, ratio and the Label Studio figure.
Pure: decoded JSON in, rows out (the reading and printing are in ``bench.__main__``).

A results file holds either one run (a JSON object, rewritten by every run: baseline, jobs,
annotations) or a list of runs (appended: the others). For a list the last run is used;
for assignment and export, whose runs may measure LabelOps or Label Studio alone, the
latest run that has each side, and both runs are named.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Run = Mapping[str, Any]


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str

    def text(self) -> str:
        if math.isnan(self.value):
            return "—"
        v = self.value
        digits = 0 if abs(v) >= 100 or (not self.unit and v == int(v)) else (
            1 if abs(v) >= 10 else 2)
        number = f"{v:,.{digits}f}"
        return f"{number} {self.unit}" if self.unit else number


@dataclass(frozen=True)
class Row:
    bench: str
    figure: str
    value: Figure
    reference: Figure | None = None  # the raw backend (or library) doing the same work
    label_studio: Figure | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference is None or not self.reference.value:
            return None
        return self.value.value / self.reference.value

    def cells(self) -> tuple[str, str, str, str, str]:
        ratio = self.ratio
        ls = self.label_studio
        return (self.figure, self.value.text(),
                self.reference.text() if self.reference else "",
                f"{ratio:.0%}" if ratio is not None and not math.isnan(ratio) else "",
                ls.text() if ls else "")


@dataclass
class Summary:
    bench: str
    rows: list[Row] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # which runs the rows come from
    missing: str = ""  # why there are no rows


def latest(data: Any, key: str | None = None) -> Run | None:
    """The last run (of a list), or the one run (an object); with ``key``, the latest run
    that has it."""
    runs = data if isinstance(data, list) else [data] if isinstance(data, Mapping) else []
    for run in reversed(runs):
        if isinstance(run, Mapping) and (key is None or run.get(key)):
            return run
    return None


def describe(run: Run, what: str = "") -> str:
    settings = run.get("settings") or {}
    size = settings.get("items")
    parts = [what, str(run.get("when", "undated"))]
    if isinstance(size, int):
        parts.append(f"{size:,} items")
    if settings.get("quick"):
        parts.append("quick")
    return " ".join(p for p in parts if p)


def _get(run: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(run, Mapping):
            run = run.get(key)
        elif isinstance(run, list) and isinstance(key, int) and -len(run) <= key < len(run):
            run = run[key]
        else:
            return None
    return run


def _fig(value: Any, unit: str) -> Figure | None:
    return Figure(float(value), unit) if isinstance(value, int | float) else None


# -- one mapper per benchmark ----------------------------------------------------------------


def baseline(data: Any) -> Summary:
    found = Summary("baseline")
    run = latest(data)
    if run is None:
        return found
    found.runs.append(describe(run))
    for name, figure in (run.get("results") or {}).items():
        value = _fig(_get(figure, "value"), str(_get(figure, "unit") or ""))
        if value is not None:
            found.rows.append(Row("baseline", name, value))
    return found


def dataset_import(data: Any) -> Summary:
    found = Summary("dataset_import")
    run = latest(data)
    if run is None:
        return found
    found.runs.append(describe(run))
    rate = _fig(run.get("import_items_per_s"), "items/s")
    if rate:
        found.rows.append(Row("dataset_import", "manifest import", rate,
                              _fig(run.get("raw_insert_docs_per_s"), "docs/s")))
    for label, value in (
        ("dataset service peak RSS", _fig(run.get("dataset_peak_rss_mb"), "MB")),
        ("GetItems of 200 ids, p99", _fig(_get(run, "get_items_200", "p99_ms"), "ms")),
        ("folder scan of PNG objects", _fig(_get(run, "folder_scan", "objects_per_s"),
                                            "objects/s")),
    ):
        if value:
            found.rows.append(Row("dataset_import", label, value))
    return found


def jobs(data: Any) -> Summary:
    found = Summary("jobs")
    run = latest(data)
    if run is None:
        return found
    found.runs.append(describe(run))
    validated = run.get("validate_jobs_per_s") or {}
    if validated:
        slowest = min(validated, key=lambda k: validated[k])
        found.rows.append(Row("jobs", f"validate a job's settings (slowest: {slowest})",
                              Figure(validated[slowest], "jobs/s")))
    for label, value in (
        ("progress projection (pure)", _fig(run.get("progress_events_per_s"), "events/s")),
        ("task center: ListJobs page of 50", _fig(_get(run, "task_center", "list_page_ms"),
                                                  "ms")),
        ("task center: GetJob with progress", _fig(_get(run, "task_center", "get_job_ms"),
                                                   "ms")),
    ):
        if value:
            found.rows.append(Row("jobs", label, value))
    return found


def annotation_validation(data: Any) -> Summary:
    found = Summary("annotations")
    run = latest(data)
    if run is None:
        return found
    found.runs.append(describe(run))
    rows = [r for r in run.get("results") or () if isinstance(r, Mapping)
            and isinstance(r.get("compiled_per_s"), int | float)]
    if rows:
        slowest = min(rows, key=lambda r: r["compiled_per_s"])
        fastest = max(rows, key=lambda r: r["compiled_per_s"])
        for what, r in (("slowest", slowest), ("fastest", fastest)):
            found.rows.append(Row("annotations", f"validate an answer, compiled ({what}: "
                                  f"{r['preset']}, {r['answer']})",
                                  Figure(r["compiled_per_s"], "answers/s")))
    return found


def export_formats(data: Any) -> Summary:
    found = Summary("export_formats")
    run = latest(data)
    if run is None:
        return found
    found.runs.append(describe(run))
    for r in run.get("formats") or ():
        value = _fig(_get(r, "items_per_s"), "items/s")
        if value:
            found.rows.append(Row("export_formats", f"writer {r.get('format')} "
                                  f"({r.get('items_kind')})", value))
    return found


def assignment(data: Any) -> Summary:
    found = Summary("assignment")
    ours, ls = latest(data, "labelops"), latest(data, "label_studio")
    if ours is None and ls is None:
        return found
    if ours is not None:
        found.runs.append(describe(ours, "LabelOps"))
    if ls is not None and ls is not ours:
        found.runs.append(describe(ls, "Label Studio"))
    mine = (ours or {}).get("labelops") or {}
    theirs = (ls or {}).get("label_studio") or {}
    packaging = _fig(_get(mine, "packaging", "items_per_s"), "items/s")
    if packaging:
        found.rows.append(Row("assignment", "package building", packaging))
    checkable = _fig(_get(mine, "checkable", "submit_to_claim", "p99_ms"), "ms")
    if checkable:
        found.rows.append(Row("assignment", "submit → claimable by checkers, p99", checkable))
    our_levels = {_level_key(lv): lv for lv in mine.get("levels") or ()}
    ls_levels = {_level_key(lv): lv for lv in theirs.get("levels") or ()}
    for key in sorted(set(our_levels) | set(ls_levels), key=lambda k: (k[1], k[0])):
        c, think = key
        lv, other = our_levels.get(key, {}), ls_levels.get(key, {})
        who = f"{c} labeler{_s(c)}" + (f", {think:g} ms per item" if think else "")
        answered = _fig(lv.get("items_per_s"), "items/s")
        ls_answered = _fig(other.get("annotations_per_s"), "items/s")
        if answered or ls_answered:
            found.rows.append(Row("assignment", f"items answered, {who}",
                                  answered or Figure(math.nan, "items/s"),
                                  label_studio=ls_answered))
        claim = _fig(_get(lv, "claim", "p99_ms"), "ms")
        ls_next = _fig(_get(other, "next", "p99_ms"), "ms")
        if claim or ls_next:
            found.rows.append(Row("assignment", f"claim (LS: GET next) p99, {who}",
                                  claim or Figure(math.nan, "ms"), label_studio=ls_next))
    return found


def _level_key(level: dict[str, Any]) -> tuple[int, float]:
    """A labeler level by its concurrency and pace (ms per item; 0 for no pause)."""
    return int(level.get("concurrency") or 0), float(level.get("think_ms") or 0.0)


def export(data: Any) -> Summary:
    found = Summary("export")
    ours, ls = latest(data, "labelops"), latest(data, "label_studio")
    if ours is None and ls is None:
        return found
    if ours is not None:
        found.runs.append(describe(ours, "LabelOps"))
    if ls is not None and ls is not ours:
        found.runs.append(describe(ls, "Label Studio"))
    mine = (ours or {}).get("labelops") or {}
    theirs = (ls or {}).get("label_studio") or {}
    fill = _fig(_get(mine, "fill", "items_per_s"), "items/s")
    if fill:
        found.rows.append(Row("export", "fill of the labeled view (accepted events)", fill))
    visible = _get(mine, "probes", "visible", "p99_s")
    if isinstance(visible, int | float):
        found.rows.append(Row("export", "accept → visible, p99", Figure(visible * 1000, "ms")))
    raws = [_get(mine, key, "docs_per_s") for key in ("raw_before", "raw_after")]
    raws = [r for r in raws if isinstance(r, int | float)]
    raw = Figure(sum(raws) / len(raws), "docs/s") if raws else None
    ls_export = (_fig(_get(theirs, "export", "tasks_per_s"), "items/s")
                 if _get(theirs, "export", "finished") else None)
    exports = [e for e in mine.get("exports") or () if isinstance(e, Mapping)]
    for e in exports:
        value = _fig(e.get("items_per_s"), "items/s")
        if value:
            found.rows.append(Row("export", f"export {e.get('format')}", value, raw,
                                  ls_export if e.get("format") == "manifest" else None))
        rss = _fig(e.get("rss_peak_mb"), "MB")
        if rss:
            found.rows.append(Row("export", f"export {e.get('format')}: service peak RSS", rss,
                                  label_studio=_fig(theirs.get("rss_peak_mb"), "MB")
                                  if e.get("format") == "manifest" else None))
    if ls_export and not exports:
        found.rows.append(Row("export", "export JSON (LabelOps: manifest)",
                              Figure(math.nan, "items/s"), label_studio=ls_export))
    return found


def prelabel(data: Any) -> Summary:
    found = Summary("prelabel")
    run = latest(data)
    if run is None:
        return found
    found.runs.append(describe(run))
    items = _get(run, "settings", "items")
    for kind in ("text", "image"):
        r = run.get(kind)
        if not isinstance(r, Mapping):
            continue
        raw = _get(r, "raw_predict_proba_per_s")
        if kind == "image" and isinstance(raw, int | float) and raw and items:
            raw = items / (r["features_s"] + items / raw)  # the same features, bare model
        found.rows.append(Row("prelabel", f"built-in {kind} model, predictions",
                              Figure(r["predictions_per_s"], "items/s"), _fig(raw, "items/s")))
        found.rows.append(Row("prelabel", f"built-in {kind} model, held-out accuracy "
                              f"(majority {r['majority_baseline']:.0%})",
                              Figure(r["held_out_accuracy"] * 100, "%")))
    for name in ("http", "grpc"):
        r = _get(run, "online", name)
        if not isinstance(r, Mapping):
            continue
        transport = "HTTP/JSON" if name == "http" else "gRPC"
        found.rows.append(Row("prelabel", f"online {transport}, predictions",
                              Figure(r["predictions_per_s"], "items/s"),
                              _fig(_get(r, "raw", "items_per_s"), "items/s")))
        found.rows.append(Row("prelabel", f"online {transport}, batch round trip p99",
                              _fig(_get(r, "round_trip", "p99_ms"), "ms")
                              or Figure(math.nan, "ms")))
        found.rows.append(Row("prelabel", f"online {transport}, errors",
                              Figure(r.get("errors", math.nan), "")))
    return found


def soak(data: Any) -> Summary:
    found = Summary("soak")
    run = latest(data)
    if run is None or not isinstance(run.get("soak"), Mapping):
        return found
    found.runs.append(describe(run))
    soaked = run["soak"]
    for stage in ("label", "check", "accept"):
        r = soaked.get(stage)
        if not isinstance(r, Mapping):
            continue
        found.rows.append(Row("soak", f"{stage}: items/s", Figure(r["items_per_s"], "items/s")))
        claim = _fig(_get(r, "claim", "p99_ms"), "ms")
        if claim:
            found.rows.append(Row("soak", f"{stage}: claim p99", claim))
    found.rows.append(Row("soak", "errors (target 0)", Figure(soaked.get("errors_total",
                                                                           math.nan), "")))
    growth = soaked.get("rss_growth") or {}
    if growth:
        worst = max(growth, key=lambda name: growth[name])
        found.rows.append(Row("soak", f"largest RSS growth ({worst}; target ≤ 10%)",
                              Figure(growth[worst] * 100, "%")))
    return found


def scale_out(data: Any) -> Summary:
    """Each figure of the run's last step (most replicas), its first step (one replica)
    as the reference: the ratio is the change from scaling out."""
    found = Summary("scale_out")
    run = latest(data)
    steps = [s for s in (run or {}).get("steps") or () if isinstance(s, Mapping)]
    if run is None or not steps:
        return found
    found.runs.append(describe(run))
    first, last = steps[0], steps[-1]
    count = last.get("replicas")
    against = f"{count} replicas (reference: {first.get('replicas')})" if last is not first \
        else f"{count} replica{_s(count)}"
    for stage in ("label", "check", "accept"):
        value = _fig(_get(last, stage, "items_per_s"), "items/s")
        if value:
            found.rows.append(Row("scale_out", f"{stage}: items/s, {against}", value,
                                  _fig(_get(first, stage, "items_per_s"), "items/s")
                                  if last is not first else None))
    for figure, path in (("claim p99", ("label", "claim", "p99_ms")),
                         ("save p99", ("label", "save", "p99_ms"))):
        value = _fig(_get(last, *path), "ms")
        if value:
            found.rows.append(Row("scale_out", f"{figure}, {against}", value,
                                  _fig(_get(first, *path), "ms") if last is not first else None))
    busy = _fig(_get(run, "ceiling", "machine_busy_cores"), "cores")
    if busy:
        found.rows.append(Row("scale_out", f"machine busy, {count} replica{_s(count)} (of "
                              f"{_get(run, 'ceiling', 'cpus')} cores)", busy))
    ferretdb = _fig(_get(run, "ceiling", "ferretdb_cores"), "cores")
    if ferretdb:
        found.rows.append(Row("scale_out", f"FerretDB CPU, {count} replica{_s(count)}",
                              ferretdb))
    return found


MAPPERS: dict[str, Callable[[Any], Summary]] = {
    "baseline": baseline, "dataset_import": dataset_import, "jobs": jobs,
    "annotations": annotation_validation, "export_formats": export_formats,
    "assignment": assignment, "export": export, "prelabel": prelabel, "soak": soak,
    "scale_out": scale_out,
}


def summarise(name: str, data: Any) -> Summary:
    """The rows of one benchmark's results (decoded JSON; None: no results file; a string:
    why the file could not be read)."""
    if data is None:
        return Summary(name, missing=f"no results yet: python -m bench {name}")
    if isinstance(data, str):
        return Summary(name, missing=data)
    found = MAPPERS[name](data)
    if not found.rows and not found.missing:
        found.missing = "the results file holds no run with figures"
    return found


def rows_of(summaries: Sequence[Summary]) -> list[Row]:
    return [row for s in summaries for row in s.rows]


def _s(count: Any) -> str:
    return "" if count == 1 else "s"
