"""Export format writers in process: items/s, output size and peak memory per format.

    .venv/bin/python -m bench.export_formats

For every format a realistic labeled view is generated lazily (images of 1920x1080 with six
shapes, 300-character texts with six entities and two relations, audio files with ten timed
segments, classified texts), so what is measured is the writer, not the input: each item is
built, written and dropped. Two runs per format over ``BENCH_EXPORT_ITEMS`` items (default
100,000), output bytes counted and discarded:

- ``items/s`` and ``MB/s``: without tracing (one core, no I/O except COCO's and YOLO's spools
  rolling to a temporary file beyond 8 MB, which is what the service does too);
- ``peak``: tracemalloc's peak of Python allocations during a second run, and the same at a
  tenth of the items (``peak@10%``): equal figures mean memory does not grow with the items.

Pure and in process: no servers. Prints a table and appends the run to
bench/results/export_formats.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from labelops_shared.annotations import build_template
from services.export.domain.formats import AcceptedItem, ExportJob, ExportStats, write_export

ITEMS = int(os.environ.get("BENCH_EXPORT_ITEMS", "100000"))
RESULTS = Path(__file__).parent / "results"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
console = Console(width=None if sys.stdout.isatty() else 120)

CLASSES = ["cat", "dog", "bird", "car", "person", "bike"]
ENTITIES = [{"name": n} for n in ("PER", "ORG", "LOC")] + [
    {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]},
    {"name": "located_in", "kind": "relation", "source": ["ORG"], "target": ["LOC"]}]


def _job(preset: str, labels: list[dict[str, Any]], options: dict[str, Any] | None = None,
         ) -> ExportJob:
    template = build_template(preset, labels, options).to_dict()
    return ExportJob(template["topics"], template["content"], preset)


def _accepted(n: int, data: dict[str, Any], answer: dict[str, Any]) -> AcceptedItem:
    return AcceptedItem(f"ds1:1:{n:09d}", data, answer, f"labeler{n % 20}", 1,
                        T0 + timedelta(seconds=n))


def images(count: int) -> Iterator[AcceptedItem]:
    for n in range(count):
        shapes: list[dict[str, Any]] = [
            {"type": "rectangle", "label": CLASSES[(n + i) % 6], "x": 10.5 + i * 150,
             "y": 20.25 + i * 90, "width": 120.0, "height": 80.5} for i in range(5)]
        shapes.append({"type": "polygon", "label": "person",
                       "points": [[900, 500], [1000, 520], [980, 700], [880, 650]]})
        yield _accepted(n, {"source": f"s3://bench/images/{n:09d}.jpg", "width": 1920,
                            "height": 1080}, {"objects": shapes})


TEXT = ("Alice Smith works for Acme Corporation in Paris since 2019, and Bob Jones, her "
        "colleague at Globex, lives in Berlin. ") * 3


def texts(count: int) -> Iterator[AcceptedItem]:
    for n in range(count):
        yield _accepted(n, {"source": TEXT}, {
            "entities": [{"id": "e1", "label": "PER", "start": 0, "end": 11},
                         {"id": "e2", "label": "ORG", "start": 22, "end": 38},
                         {"id": "e3", "label": "LOC", "start": 42, "end": 47},
                         {"id": "e4", "label": "PER", "start": 64, "end": 73},
                         {"id": "e5", "label": "ORG", "start": 94, "end": 100},
                         {"id": "e6", "label": "LOC", "start": 111, "end": 117}],
            "relations": [{"label": "works_for", "from": "e1", "to": "e2"},
                          {"label": "located_in", "from": "e2", "to": "e3"}]})


def classified(count: int) -> Iterator[AcceptedItem]:
    for n in range(count):
        yield _accepted(n, {"source": TEXT[: 80 + n % 100]}, {"label": ["pos", "neg"][n % 2]})


def audio(count: int) -> Iterator[AcceptedItem]:
    for n in range(count):
        yield _accepted(n, {"source": f"s3://bench/audio/{n:09d}.wav"}, {"segments": [
            {"start": i * 3.0, "end": i * 3.0 + 2.5, "label": ["speech", "noise"][i % 2],
             "text": f"segment {i} of item {n}", "speaker": "AB"[i % 2]} for i in range(10)]})


DETECTION = _job("object_detection", [{"name": c} for c in CLASSES])
NER = _job("entity_relations", ENTITIES)
CLASSIFY = _job("text_classification", [{"name": "pos"}, {"name": "neg"}])
AUDIO = _job("audio_transcription", [{"name": "speech"}, {"name": "noise"}],
             {"segmented": True})

CASES: list[tuple[str, str, ExportJob, Callable[[int], Iterator[AcceptedItem]]]] = [
    ("manifest", "images", DETECTION, images),
    ("coco", "images", DETECTION, images),
    ("yolo", "images", DETECTION, images),
    ("voc", "images", DETECTION, images),
    ("label_studio", "images", DETECTION, images),
    ("conll", "texts", NER, texts),
    ("triplets", "texts", NER, texts),
    ("label_studio", "texts", NER, texts),
    ("classification_csv", "texts", CLASSIFY, classified),
    ("audio_segments", "audio", AUDIO, audio),
    ("audio_segments_csv", "audio", AUDIO, audio),
    ("transcripts", "audio", AUDIO, audio),
]


def _drain(fmt: str, job: ExportJob, items: Iterator[AcceptedItem]) -> tuple[int, ExportStats]:
    stats = ExportStats()
    size = 0
    for piece in write_export(fmt, items, job, stats):
        size += len(piece)
    return size, stats


def _peak(fmt: str, job: ExportJob, make: Callable[[int], Iterator[AcceptedItem]],
          count: int) -> int:
    tracemalloc.start()
    try:
        _drain(fmt, job, make(count))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    table = Table(title=f"export writers, {ITEMS:,} items each (in process, one core)")
    for column in ("format", "items", "items/s", "MB", "MB/s", "objects", "peak MiB",
                   "peak@10% MiB"):
        table.add_column(column, justify="left" if column in ("format", "items") else "right")
    rows = []
    for fmt, kind, job, make in CASES:
        started = time.perf_counter()
        size, stats = _drain(fmt, job, make(ITEMS))
        seconds = time.perf_counter() - started
        assert stats.items == ITEMS, (fmt, stats)
        peak = _peak(fmt, job, make, ITEMS)
        small = _peak(fmt, job, make, max(ITEMS // 10, 1))
        table.add_row(fmt, kind, f"{ITEMS / seconds:,.0f}", f"{size / 1e6:,.1f}",
                      f"{size / 1e6 / seconds:,.1f}", f"{stats.objects:,}",
                      f"{peak / 2**20:.2f}", f"{small / 2**20:.2f}")
        console.print(f"{fmt} ({kind}): {seconds:.1f} s", style="dim")
        rows.append({"format": fmt, "items_kind": kind, "items_per_s": ITEMS / seconds,
                     "bytes": size, "mb_per_s": size / 1e6 / seconds,
                     "objects": stats.objects, "peak_mib": peak / 2**20,
                     "peak_at_10pct_mib": small / 2**20})
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "export_formats.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()},
                 "settings": {"items": ITEMS}, "formats": rows})
    path.write_text(json.dumps(runs, indent=2) + "\n")
    console.print(f"appended to {path}")


if __name__ == "__main__":
    main()
