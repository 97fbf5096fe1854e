"""Every benchmark of the project from one command, and one table of their figures.

    python -m bench                      # every benchmark, full sizes (hours: see bench/README.md)
    python -m bench prelabel jobs        # the named ones
    python -m bench --quick              # small sizes for each (a smoke run)
    python -m bench export -- --items 5000 --skip-label-studio   # options for one benchmark
    python -m bench --summary            # run nothing: the table of the results files
    python -m bench --list               # the benchmarks and what each needs

Each benchmark runs as its own process (``python -m bench.<name>``) with its output shown;
what it wrote to bench/results/<name>.json is then read, and one table prints the figures
of every named benchmark: value, raw-backend reference, ratio and the Label Studio figure
where there is one. Benchmarks that use the running platform are checked first: when
their servers or services do not answer they are skipped, with what is missing (this
command never starts or stops the platform).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.summary import Summary, summarise

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
console = Console(width=None if sys.stdout.isatty() else 140)

IN_PROCESS, SCRATCH, PLATFORM = "in process", "its own scratch stack", "the running platform"


@dataclass(frozen=True)
class Bench:
    name: str
    needs: str  # IN_PROCESS | SCRATCH | PLATFORM
    about: str
    services: tuple[str, ...] = ()  # of the running platform (PLATFORM benches)
    # the stack's servers it uses, as `labelops status` names them
    servers: tuple[str, ...] = ("kafka", "mongodb api", "minio")
    quick_args: tuple[str, ...] = ()
    quick_env: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return f"bench.{self.name}"


BENCHES = {b.name: b for b in (
    Bench("baseline", SCRATCH, "raw Kafka, Mongo API and MinIO limits; stack start times "
          "(~80 s)",
          quick_env={"BENCH_KAFKA_MESSAGES": "5000", "BENCH_MONGO_DOCS": "5000",
                     "BENCH_MONGO_UPDATES": "500", "BENCH_MINIO_OBJECTS": "300",
                     "BENCH_PHASE_SECONDS": "10", "BENCH_UPDATE_SECONDS": "5"}),
    Bench("jobs", IN_PROCESS, "job settings validation, progress projection (seconds)",
          quick_env={"BENCH_JOBS_SECONDS": "0.2"}),
    Bench("annotations", IN_PROCESS, "answer validation per preset (seconds)",
          quick_env={"BENCH_ANNOTATION_SECONDS": "0.1"}),
    Bench("export_formats", IN_PROCESS, "export writers per format, 100,000 items (minutes)",
          quick_env={"BENCH_EXPORT_ITEMS": "5000"}),
    Bench("prelabel", IN_PROCESS, "built-in models and the online path, 100,000 items "
          "(~10 min)", quick_args=("--quick",)),
    Bench("dataset_import", PLATFORM, "1,000,000-line import, GetItems, folder scan; "
          "restarts the dataset service (minutes)", services=("dataset",),
          quick_env={"LABELOPS_BENCH_LINES": "20000", "LABELOPS_BENCH_OBJECTS": "1000"}),
    Bench("assignment", PLATFORM, "packaging, claim/submit at 1/16/64 labelers, Label "
          "Studio side by side, 1,000,000 items (an hour or more)",
          services=("dataset", "jobs", "assignment"),
          quick_args=("--items", "20000", "--levels", "1,4,16", "--seconds", "10",
                      "--check-seconds", "10", "--check-labelers", "4", "--checkers", "2",
                      "--check-grace", "20", "--ls-tasks", "20000")),
    Bench("soak", PLATFORM, "64 workers label, check and accept for 10 minutes on "
          "100,000 items; errors, p99s, RSS growth (~15 min)",
          services=("dataset", "jobs", "assignment"),
          quick_args=("--items", "3000", "--seconds", "60")),
    Bench("scale_out", PLATFORM, "one replica of every service, then two, on its own "
          "3-node Kafka cluster (the stack's database and MinIO); throughput per stage, p99s, "
          "CPU of each process, the ceiling (~5 min)",
          servers=("mongodb api", "minio"), quick_args=("--items", "4000", "--seconds", "20")),
    Bench("export", PLATFORM, "labeled view fill, accept → visible, exports vs a raw read, "
          "Label Studio's export, 1,000,000 items (hours)", services=("export",),
          quick_args=("--items", "10000", "--probes", "20", "--probe-rate", "1",
                      "--ls-tasks", "3000", "--prelabel-wait", "60")),
)}


def platform_missing(services: Sequence[str],
                     servers: Sequence[str] = ("kafka", "mongodb api", "minio")) -> list[str]:
    """What of the running platform does not answer (the named servers and services);
    nothing is started."""
    try:
        from labelops_cli.services import SERVICES, healthy
        from labelops_cli.stack.servers import infra_status

        missing = [name for name, _, ok in infra_status() if not ok and name in servers]
        missing += [f"service {s}" for s in services if not healthy(SERVICES[s])]
    except Exception as exc:  # no stack installed, no credentials file, ...
        return [f"the stack ({exc})"]
    return missing


def load(name: str) -> Any:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        return f"{path.name} is not JSON: {exc}"  # shown in the table instead of figures


def run_one(bench: Bench, quick: bool, extra: Sequence[str],
            say: Callable[[str], None]) -> str:
    """Run a benchmark as its own process; returns its outcome ("ok", "failed (…)")."""
    args = [*(bench.quick_args if quick else ()), *extra]
    env = {**os.environ, **(bench.quick_env if quick else {})}
    shown = " ".join(f"{k}={v}" for k, v in bench.quick_env.items()) + " " if quick else ""
    say(f"[bold]{bench.name}[/bold]: {shown}python -m {bench.module} {' '.join(args)}".rstrip())
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", bench.module, *args], cwd=ROOT, env=env,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return f"failed (exit {done.returncode}, {seconds:.0f} s)"
    return f"ok ({seconds:.0f} s)"


def print_summary(summaries: Sequence[Summary], outcomes: dict[str, str]) -> None:
    table = Table(title="LabelOps benchmarks (the last run of each results file)")
    for column in ("bench", "figure", "value", "raw-backend reference", "ratio",
                   "Label Studio"):
        table.add_column(column, justify="right" if column in ("value", "ratio") else "left")
    for summary in summaries:
        name = summary.bench
        if summary.missing:
            table.add_row(name, f"[yellow]{summary.missing}[/yellow]", "", "", "", "")
        for n, row in enumerate(summary.rows):
            table.add_row(name if n == 0 else "", *row.cells())
        table.add_section()
    console.print(table)
    for summary in summaries:
        if summary.runs:
            console.print(f"  {summary.bench}: {'; '.join(summary.runs)}", style="dim",
                          markup=False)
    for name, outcome in outcomes.items():
        if not outcome.startswith("ok"):
            colour = "red" if outcome.startswith("failed") else "yellow"
            console.print(f"[{colour}]{name}: {outcome}[/{colour}]")


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").splitlines()[0],
        epilog=f"benchmarks: {', '.join(BENCHES)}")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes for each")
    parser.add_argument("--summary", action="store_true",
                        help="run nothing; print the table of the existing results")
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    if extra and len(args.names) != 1:
        parser.error("options after -- go to one benchmark: name exactly one")
    return args, extra


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    names = args.names or list(BENCHES)
    if args.list:
        table = Table("bench", "runs on", "measures", "quick preset")
        for b in BENCHES.values():
            needs = b.needs + (f" ({', '.join(b.services)})" if b.services else "")
            quick = " ".join([*(f"{k}={v}" for k, v in b.quick_env.items()), *b.quick_args])
            table.add_row(b.name, needs, b.about, quick)
        console.print(table)
        return 0

    def say(text: str) -> None:
        console.rule(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")

    outcomes: dict[str, str] = {}
    if not args.summary:
        for name in names:
            bench = BENCHES[name]
            if bench.needs == PLATFORM:
                missing = platform_missing(bench.services, bench.servers)
                if missing:
                    outcomes[name] = (f"skipped: it needs the running platform, and "
                                      f"{', '.join(missing)} did not answer (labelops up, "
                                      "then labelops status)")
                    console.print(f"[yellow]{name}: {outcomes[name]}[/yellow]")
                    continue
            outcomes[name] = run_one(bench, args.quick, extra, say)
    print_summary([summarise(name, load(name)) for name in names], outcomes)
    return 1 if any(o.startswith("failed") for o in outcomes.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
