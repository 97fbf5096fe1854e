"""Jobs service throughput: settings validation per template preset, the progress
projection, and (with a database) the task center.

    .venv/bin/python -m bench.jobs
    BENCH_JOBS_MONGO_URL=mongodb://127.0.0.1:27017/ .venv/bin/python -m bench.jobs

- ``validate``: a whole job's settings checked and compiled (name, label set, template from
  the shared model, package rule, members, pre-labeling), jobs/s per preset, one core;
- ``progress``: package events applied to the per-package views and the job's counters
  (the pure part of the projection), events/s;
- ``task_center`` (only with ``BENCH_JOBS_MONGO_URL``): ``BENCH_JOBS_COUNT`` (default 500)
  jobs stored in a scratch database of that server, then the workspace listing with a
  filter, pages of 50 (ms per page), and a point read of one job with its progress (ms).
  The scratch database is dropped at the end.

Each loop runs for ``BENCH_JOBS_SECONDS`` (default 0.5). Prints a table and writes
bench/results/jobs.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from services.jobs.domain import model, progress
from services.jobs.domain.model import DatasetFacts, Draft, Members, PackageRule, Prelabel

RESULTS = Path(__file__).parent / "results"
SECONDS = float(os.environ.get("BENCH_JOBS_SECONDS", "0.5"))
MONGO_URL = os.environ.get("BENCH_JOBS_MONGO_URL", "")
JOB_COUNT = int(os.environ.get("BENCH_JOBS_COUNT", "500"))

console = Console(width=None if sys.stdout.isatty() else 120)

LABELS = [{"name": f"label-{i}", "color": f"#0000{i:02x}", "shortcut": str(i)}
          for i in range(10)]
ENTITIES = [{"name": n} for n in ("PER", "ORG", "LOC")] + [
    {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]}]
CASES: dict[str, tuple[str, list[dict[str, Any]], dict[str, Any]]] = {
    "text_classification": ("text", LABELS, {}),
    "image_multi_classification": ("image", LABELS, {}),
    "object_detection": ("image", LABELS, {"multi_label": True}),
    "named_entities": ("text", ENTITIES[:3], {}),
    "entity_relations": ("text", ENTITIES, {}),
    "video_frame_labeling": ("video", LABELS, {}),
    "audio_segmentation": ("audio", [{**lb, "class": "speaker"} for lb in LABELS[:4]], {}),
}


def rate(fn: Callable[[], Any], seconds: float = SECONDS) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            fn()
        count += 20
    return count / elapsed


def bench_validate() -> dict[str, float]:
    found = {}
    for preset, (kind, labels, options) in CASES.items():
        draft = Draft(
            name="bench-job", template=preset, labels=labels, workflow="label_check_accept",
            template_options=options, check_percent=30,
            package_rule=PackageRule("fixed", size=50),
            members=Members({"labelers": tuple(f"l{i}@x.io" for i in range(50)),
                             "checkers": ("c@x.io",)}),
            prelabel=(Prelabel("online", endpoint="https://model.example/predict")
                      if preset == "object_detection" else Prelabel()),
        )
        dataset = DatasetFacts(kind, 200_000, frozenset({"source"}))
        model.validate(draft, dataset)  # valid, or the bench is wrong
        found[preset] = rate(lambda d=draft, f=dataset: model.validate(d, f))
    return found


def bench_progress() -> float:
    views = [progress.created("j", f"p{i}", 100) for i in range(1000)]

    def cycle() -> None:
        counters = progress.Counters()
        for view in views[:50]:
            steps = [progress.claimed(view, "label", "lea")]
            steps.append(progress.submitted(steps[-1], "lea", 100))
            steps.append(progress.claimed(steps[-1], "check", "cid"))
            steps.append(progress.checked(steps[-1], True))
            steps.append(progress.accepted(steps[-1]))
            before = view
            for after in steps:
                counters = progress.apply(counters, before, after)
                before = after

    return rate(cycle) * 50 * 5


async def bench_task_center() -> dict[str, float]:
    from labelops_shared import mongo
    from services.jobs.adapters.repository import JOBS, PROGRESS, Repository, encode

    client = mongo.connect(MONGO_URL, app_name="bench-jobs")
    db = client[f"labelops_bench_jobs_{uuid.uuid4().hex[:8]}"]
    try:
        settings = model.validate(Draft(name="bench", template="text_classification",
                                        labels=LABELS, workflow="label_check"),
                                  DatasetFacts("text", 1000, None))
        from services.jobs import convert

        fields = convert.settings_fields(settings, {"labelers": ["lea"]})
        docs = [encode({"_id": uuid.uuid4().hex, "workspace": "bench", "dataset_id": "d",
                        "dataset_version": 1, "state": "draft" if i % 2 else "published",
                        "item_count": 1000, "created_at": datetime.now(UTC),
                        "created_seq": time.time_ns() + i, "created_by": "ada",
                        "version": 1, **fields}) for i in range(JOB_COUNT)]
        started = time.perf_counter()
        await db[JOBS].insert_many(docs)
        await db[PROGRESS].insert_many([{"_id": d["_id"], "labeled": 1} for d in docs])
        insert = time.perf_counter() - started
        repo = Repository(db)
        started = time.perf_counter()
        rounds = 0
        while time.perf_counter() - started < max(SECONDS, 2):
            light = await repo.jobs_of("bench")
            page = sorted((d for d in light if d["state"] == "published"),
                          key=lambda d: -d["created_seq"])[:50]
            for d in page:
                await repo.job(d["_id"])
                await repo.progress(d["_id"])
            rounds += 1
        listing = (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        reads = 0
        while time.perf_counter() - started < SECONDS:
            await repo.job(docs[reads % len(docs)]["_id"])
            await repo.progress(docs[reads % len(docs)]["_id"])
            reads += 1
        point = (time.perf_counter() - started) / reads
        return {"insert_jobs_per_s": JOB_COUNT / insert, "list_page_ms": listing * 1000,
                "get_job_ms": point * 1000}
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    results: dict[str, Any] = {"machine": {"python": platform.python_version(),
                                           "cpus": os.cpu_count()},
                               "seconds_per_loop": SECONDS}
    table = Table(title="jobs service")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    validated = bench_validate()
    results["validate_jobs_per_s"] = validated
    for preset, value in validated.items():
        table.add_row(f"validate {preset}", f"{value:,.0f}", "jobs/s")
    results["progress_events_per_s"] = bench_progress()
    table.add_row("progress projection (pure)", f"{results['progress_events_per_s']:,.0f}",
                  "events/s")
    if MONGO_URL:
        center = asyncio.run(bench_task_center())
        results["task_center"] = {**center, "jobs": JOB_COUNT}
        table.add_row(f"store {JOB_COUNT} jobs", f"{center['insert_jobs_per_s']:,.0f}",
                      "jobs/s")
        table.add_row("ListJobs page of 50 (scan + point reads)",
                      f"{center['list_page_ms']:,.1f}", "ms")
        table.add_row("GetJob with progress", f"{center['get_job_ms']:,.2f}", "ms")
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "jobs.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
