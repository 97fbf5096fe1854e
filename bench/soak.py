"""Soak benchmark: the whole workflow under a steady crowd for a long time.

    .venv/bin/python -m bench.soak                        # 64 workers, 10 minutes, 100,000 items
    .venv/bin/python -m bench.soak --items 5000 --seconds 60   # a short run

Runs against the local stack (``labelops up``; nothing is started, stopped or restarted). A
text dataset of ``--items`` reviews is imported and a ``label → check → accept`` job with
packages of ``--package-size`` is published. Then ``--labelers`` labelers (claim, read, answer
every item, submit), ``--checkers`` checkers (claim a submitted package, read it, pass it with
rating A) and ``--accepters`` accepters (claim a checked package, accept it) work side by side
for ``--seconds``; each is an asyncio gRPC client with its own channel and worker token. A
checker or accepter finding nothing to claim waits 0.2 s and asks again (an idle poll, not an
error). Reported: packages and items per second through each stage, p50/p99 of every RPC,
every error by RPC and code (the target is none), the CPU of the bench client and the servers,
and each service's RSS at the start, every ``--sample-seconds`` and at the end (the target:
no growth beyond 10%, judged from the first sample after ``--warmup-seconds``, when the 64
connections are open and first allocations made, to the end; the growth from the very
start is shown beside it). The job
and dataset are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from rich.table import Table

from bench import append_run
from bench.assignment import (
    TOKEN_TTL,
    WORKSPACE,
    BenchJob,
    Cpu,
    Timings,
    Worker,
    build_packages,
    clean_up,
    console,
    import_dataset,
    label_package,
    rss_mb,
    summary,
)
from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import connect
from labelops_cli.services import SERVICES, ServiceProcesses, healthy
from labelops_cli.stack import servers
from labelops_cli.stack.paths import labelops_home
from labelops_shared import auth

IDLE_PAUSE = 0.2
RSS_GROWTH_LIMIT = 0.10  # issue 8: no growth beyond 10%


@dataclass
class Stage:
    """What one kind of reviewer (checkers or accepters) did."""

    claims: list[float] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)
    decisions: list[float] = field(default_factory=list)
    packages: int = 0
    items: int = 0
    idle_polls: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def _timed(samples: list[float], call: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await call
    samples.append((time.perf_counter() - started) * 1000)
    return result


async def review_loop(worker: Worker, job_id: str, stage: int, deadline: float,
                      done: Stage, decide: Callable[[Any], Any]) -> None:
    """Claim the next package of the stage, read it and decide (``decide`` is given what
    was read), until the time is up."""
    while time.perf_counter() < deadline:
        method = "ClaimPackage"
        try:
            package = await _timed(done.claims, worker.call(
                method, apb.ClaimPackageRequest(job_id=job_id, stage=stage)))
            method = "GetPackage"
            detail = await _timed(done.reads, worker.call(
                method, apb.GetPackageRequest(package_id=package.id)))
            request = decide(detail)
            method = type(request).__name__.removesuffix("Request")
            await _timed(done.decisions, worker.call(method, request))
        except grpc.aio.AioRpcError as exc:
            if method == "ClaimPackage" and exc.code() == grpc.StatusCode.NOT_FOUND:
                done.idle_polls += 1
                await asyncio.sleep(IDLE_PAUSE)
                continue
            done.errors[f"{method} {exc.code().name}"] += 1
            await asyncio.sleep(IDLE_PAUSE)
            continue
        done.packages += 1
        done.items += package.item_count


def service_rss() -> dict[str, float]:
    processes = ServiceProcesses(Path(labelops_home()))
    found = {name: rss_mb(processes.pid(name)) for name in SERVICES}
    found["ferretdb"] = rss_mb(servers.server_pid("ferretdb"))
    return found


async def work_the_job(job: BenchJob, labelers: list[Worker], checkers: list[Worker],
                       accepters: list[Worker], deadline: float, labeling: Timings,
                       checking: Stage, accepting: Stage) -> None:
    """Every worker at their stage until the deadline (labelers: until no package is left
    either): checkers approve the sample and pass with rating A, accepters accept. The
    workers are closed after."""
    async def label_loop(worker: Worker) -> None:
        while time.perf_counter() < deadline and not labeling.out_of_packages:
            if not await label_package(worker, job, labeling):
                return

    def passed(detail: Any) -> Any:  # every sampled item approved
        return apb.ReviewPackageRequest(
            package_id=detail.package.id, passed=True, rating=apb.RATING_A,
            approved=[i.item_id for i in detail.items if i.to_inspect])

    def accepted(detail: Any) -> Any:
        return apb.AcceptPackageRequest(package_id=detail.package.id, accepted=True)

    try:
        await asyncio.gather(
            *(label_loop(w) for w in labelers),
            *(review_loop(w, job.job_id, apb.STAGE_CHECK, deadline, checking, passed)
              for w in checkers),
            *(review_loop(w, job.job_id, apb.STAGE_ACCEPT, deadline, accepting, accepted)
              for w in accepters))
    finally:
        await asyncio.gather(*(w.close() for w in labelers + checkers + accepters))


async def soak(env: dict[str, str], job: BenchJob, args: argparse.Namespace,
               pids: dict[str, int | None]) -> dict[str, Any]:
    def crowd(role: str, count: int) -> list[Worker]:
        return [Worker(env, f"soak-{role}-{n}", role) for n in range(count)]

    labelers, checkers = crowd(auth.LABELER, args.labelers), crowd(auth.CHECKER, args.checkers)
    accepters = crowd(auth.ACCEPTER, args.accepters)
    labeling, checking, accepting = Timings(), Stage(), Stage()
    rss_start = service_rss()
    cpu = Cpu(pids)
    started = time.perf_counter()
    deadline = started + args.seconds
    samples: list[dict[str, Any]] = []

    async def sample_rss() -> None:
        """RSS over time; the first sample after the warm-up is the baseline judged
        (64 connections' buffers and the first allocations are not growth)."""
        while time.perf_counter() < deadline:
            await asyncio.sleep(min(args.sample_seconds, max(0.0, deadline - time.perf_counter())))
            samples.append({"at_s": round(time.perf_counter() - started), **service_rss()})

    sampler = asyncio.create_task(sample_rss())
    await work_the_job(job, labelers, checkers, accepters, deadline,
                       labeling, checking, accepting)
    sampler.cancel()
    wall = time.perf_counter() - started
    rss_end = service_rss()
    warm = next((s for s in samples if s["at_s"] >= args.warmup_seconds), rss_start)

    def growth_from(base: dict[str, Any]) -> dict[str, float]:
        return {name: (rss_end[name] - base[name]) / base[name]
                for name in SERVICES if base.get(name) and rss_end.get(name)}

    growth, growth_from_start = growth_from(warm), growth_from(rss_start)
    label_errors = dict(labeling.errors)

    def stage_figures(done: Stage) -> dict[str, Any]:
        return {"packages": done.packages, "items": done.items,
                "packages_per_s": done.packages / wall, "items_per_s": done.items / wall,
                "claim": summary(done.claims), "get": summary(done.reads),
                "decide": summary(done.decisions), "idle_polls": done.idle_polls,
                "errors": dict(done.errors)}

    return {
        "seconds": wall,
        "workers": {"labelers": args.labelers, "checkers": args.checkers,
                    "accepters": args.accepters},
        "label": {"packages": labeling.packages, "items": labeling.items,
                  "packages_per_s": labeling.packages / wall,
                  "items_per_s": labeling.items / wall,
                  "claim": summary(labeling.claim), "get": summary(labeling.get),
                  "save": summary(labeling.save), "submit": summary(labeling.submit),
                  "errors": label_errors, "error_samples": labeling.error_samples,
                  "out_of_packages": labeling.out_of_packages},
        "check": stage_figures(checking),
        "accept": stage_figures(accepting),
        "errors_total": sum(label_errors.values()) + sum(checking.errors.values())
        + sum(accepting.errors.values()),
        "rss_start_mb": rss_start, "rss_end_mb": rss_end, "rss_growth": growth,
        "rss_warm_mb": {k: v for k, v in warm.items() if k != "at_s"},
        "rss_warm_at_s": warm.get("at_s", 0), "rss_growth_from_start": growth_from_start,
        "rss_samples": samples,
        "cpu_cores": cpu.cores(),
    }


def print_tables(run: dict[str, Any]) -> None:
    soaked = run["soak"]
    table = Table(title=f"soak: {sum(soaked['workers'].values())} workers for "
                        f"{soaked['seconds']:.0f}s on {run['settings']['items']:,} items "
                        f"(packages of {run['settings']['package_size']})")
    for column in ("stage", "workers", "packages/s", "items/s", "claim p50/p99 ms",
                   "read p50/p99 ms", "write p50/p99 ms", "errors", "idle polls"):
        table.add_column(column, justify="left" if column == "stage" else "right")

    def pair(s: dict[str, Any]) -> str:
        return f"{s['p50_ms']:,.0f} / {s['p99_ms']:,.0f}" if s and s["count"] else "—"

    lab = soaked["label"]
    table.add_row("label", str(soaked["workers"]["labelers"]), f"{lab['packages_per_s']:.2f}",
                  f"{lab['items_per_s']:.1f}", pair(lab["claim"]), pair(lab["get"]),
                  f"save {pair(lab['save'])}; submit {pair(lab['submit'])}",
                  str(sum(lab["errors"].values())), "—")
    for name, workers in (("check", "checkers"), ("accept", "accepters")):
        s = soaked[name]
        table.add_row(name, str(soaked["workers"][workers]), f"{s['packages_per_s']:.2f}",
                      f"{s['items_per_s']:.1f}", pair(s["claim"]), pair(s["get"]),
                      pair(s["decide"]), str(sum(s["errors"].values())), str(s["idle_polls"]))
    console.print(table)
    warm_at = soaked.get("rss_warm_at_s", 0)
    rss = Table(title=f"RSS (MB) at the start, after the warm-up ({warm_at} s) and at the end; "
                      "target: growth ≤ 10% from the warm-up to the end")
    for column in ("process", "start", "warm", "end", "growth from warm", "from start"):
        rss.add_column(column, justify="left" if column == "process" else "right")
    warm_mb = soaked.get("rss_warm_mb") or soaked["rss_start_mb"]
    for name, start in soaked["rss_start_mb"].items():
        end = soaked["rss_end_mb"].get(name)
        growth = soaked["rss_growth"].get(name)
        since_start = (soaked.get("rss_growth_from_start") or {}).get(name)
        # The target is the services'; the database's page cache grows with its data.
        judged = name in SERVICES
        mark = "" if growth is None or growth <= RSS_GROWTH_LIMIT else " ✗"
        label = name if judged else f"{name} (database, not judged)"
        rss.add_row(label, f"{start:.0f}", f"{warm_mb.get(name) or 0:.0f}",
                    f"{end:.0f}" if end else "—",
                    f"{growth:+.1%}{mark}" if growth is not None else "—",
                    f"{since_start:+.1%}" if since_start is not None else "—")
    console.print(rss)
    errors = {**soaked["label"]["errors"], **{f"check {k}": v for k, v in
                                               soaked["check"]["errors"].items()},
              **{f"accept {k}": v for k, v in soaked["accept"]["errors"].items()}}
    console.print(f"errors: {soaked['errors_total']} (target 0) {errors or ''}")
    console.print(f"CPU (cores): {soaked['cpu_cores']}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--package-size", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--labelers", type=int, default=40)
    parser.add_argument("--checkers", type=int, default=16)
    parser.add_argument("--accepters", type=int, default=8)
    parser.add_argument("--sample-seconds", type=float, default=30,
                        help="how often the services' RSS is sampled")
    parser.add_argument("--warmup-seconds", type=float, default=60,
                        help="RSS growth is judged from the first sample after this")
    parser.add_argument("--keep", action="store_true", help="keep the dataset and job")
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    def say(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")

    missing = [n for n in SERVICES if not healthy(SERVICES[n])]
    if missing:
        raise SystemExit(f"not serving: {', '.join(missing)}. Start the stack with "
                         "`.venv/bin/labelops up` (this bench does not start or stop it).")
    env = servers.stack_env()
    processes = ServiceProcesses(Path(labelops_home()))
    pids = {name: processes.pid(name) for name in SERVICES}
    pids["ferretdb"] = servers.server_pid("ferretdb")
    admin = connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject="soak-admin",
                                     workspace=WORKSPACE, ttl_seconds=TOKEN_TTL,
                                     roles=[auth.ANNOTATION_ADMIN, auth.WORKSPACE_ADMIN]))
    run: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "settings": dict(vars(args)),
    }
    dataset_id = job_id = None
    try:
        say(f"importing {args.items:,} items")
        dataset_id, run["dataset_import_s"] = import_dataset(admin, env, args.items)
        say("publishing a label → check → accept job")
        job_id, run["packaging"] = build_packages(
            admin, env, dataset_id, args.items, args.package_size, pids["assignment"],
            workflow=jpb.WORKFLOW_LABEL_CHECK_ACCEPT)
        job = BenchJob(job_id, run["packaging"]["packages"])
        say(f"{job.packages:,} packages; {args.labelers} labelers, {args.checkers} checkers, "
            f"{args.accepters} accepters for {args.seconds:.0f}s")
        run["soak"] = asyncio.run(soak(env, job, args, pids))
    finally:
        if not args.keep:
            say("deleting the soak's job and dataset")
            clean_up(admin, job_id, dataset_id)
        admin.close()
    print_tables(run)
    path = append_run("soak", run)
    console.print(f"appended to {path}")


if __name__ == "__main__":
    main()
