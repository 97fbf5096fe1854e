"""Assignment service benchmark: package building, claim/save/submit under 1, 16 and 64
simulated labelers, submit → claimable by checkers, and Label Studio side by side.

    .venv/bin/python -m bench.assignment                     # 1,000,000 items
    .venv/bin/python -m bench.assignment --items 20000 --levels 1,4 --seconds 10

Runs against the local stack (``labelops up``; nothing is started, stopped or restarted):

1. a text dataset of ``--items`` reviews is imported; a ``label_check`` text-classification
   job with packages of ``--package-size`` items is created and published; **package
   building** is the time from PublishJob until GetJobProgress counts every package
   (polled every 0.5 s; the assignment service's RSS is sampled at each poll);
2. **submit → claimable by checkers** (on the fresh job, before any backlog exists):
   ``--check-labelers`` labelers work while ``--checkers`` checkers call
   ClaimPackage(check) in a tight loop; for each package, the time from the labeler's
   SubmitPackage returning to a checker's ClaimPackage returning it (an upper bound: the
   checker's poll period is in it, and reported);
3. **labeler levels**: for each of ``--levels`` that many labelers (asyncio gRPC clients,
   one channel and one worker token each, connected before the clock starts) loop
   ClaimPackage(label) → GetPackage → SaveAnnotation for every item → SubmitPackage for
   ``--seconds``; a labeler busy at the end finishes its package (the drain is in the wall
   time). With ``--think-ms`` each item takes the labeler that long on average before its
   save, and every level runs at each pace (0: no pause, which saturates the machine and
   gives the most it serves); with ``--ramp-s`` paced labelers join one after another over
   that many seconds, as a floor fills, instead of all at the same moment. Latency of
   each RPC kind separately, items and packages per second, errors by code, CPU of the
   client, the assignment service and FerretDB;
4. **Label Studio** (``bench/label_studio_runner.py``): the same pattern, ``GET next`` +
   ``POST annotation`` (the think time between them), at the same levels and paces on
   ``--ls-tasks`` tasks.

The dataset and job are deleted at the end (``--keep`` keeps them). Prints tables with the
issue's targets beside the figures and appends the run to bench/results/assignment.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from minio import Minio
from rich.console import Console
from rich.table import Table

from bench import append_run, label_studio_runner
from bench.label_studio_side import task_text
from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.assignment.v1 import assignment_pb2_grpc as apb_grpc
from labelops.dataset.v1 import dataset_pb2 as dpb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import Clients, connect
from labelops_cli.services import SERVICES, ServiceProcesses, healthy
from labelops_cli.stack import servers
from labelops_cli.stack.paths import labelops_home
from labelops_shared import auth, storage, topics
from labelops_shared.contracts import PackageCreated

RESULTS = Path(__file__).parent / "results"
LABELS = ("positive", "negative", "neutral")
QUIET_CORES = 0.2  # the platform's processes together (idle, they use about 0.13)
SETTLE_WINDOW_S = 5.0
WORKSPACE = "bench-assignment"
TOKEN_TTL = 12 * 3600
CLAIM_TARGET_MS = 50.0  # issue 5: claim p99 ≤ 50 ms at 64 labelers
CHECKABLE_TARGET_S = 1.0  # issue 5: submit → claimable by checkers p99 ≤ 1 s
RPC_TIMEOUT = 120.0
CLAIM_RETRIES = 100  # UNAVAILABLE/ABORTED claims retried (a service that is gone: stop)
NOT_FOUND_PATIENCE = 120.0  # how long a labeler asks again while the job has open packages

console = Console(width=None if sys.stdout.isatty() else 140)


# -- figures --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(values_ms: list[float]) -> dict[str, Any]:
    return {"count": len(values_ms), "p50_ms": percentile(values_ms, 50),
            "p99_ms": percentile(values_ms, 99),
            "max_ms": max(values_ms) if values_ms else math.nan}


def ms_pair(s: dict[str, Any] | None) -> str:
    if not s or not s["count"]:
        return "—"
    return f"{s['p50_ms']:,.1f} / {s['p99_ms']:,.1f}"


@dataclass
class Timings:
    claim: list[float] = field(default_factory=list)
    first_claim: list[float] = field(default_factory=list)  # each labeler's first
    later_claim: list[float] = field(default_factory=list)
    get: list[float] = field(default_factory=list)
    save: list[float] = field(default_factory=list)
    submit: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    packages: int = 0
    items: int = 0
    submitted_at: dict[str, float] = field(default_factory=dict)  # package → submit returned
    out_of_packages: bool = False
    error_samples: dict[str, str] = field(default_factory=dict)  # first message of each kind

    def error(self, kind: str, exc: grpc.aio.AioRpcError) -> None:
        self.errors[kind] += 1
        self.error_samples.setdefault(kind, (exc.details() or "")[:200])


@dataclass
class BenchJob:
    """The bench's job; only the bench claims its packages, so those not yet claimed for
    labeling are the open ones."""

    job_id: str
    packages: int
    claimed: int = 0

    @property
    def open_left(self) -> int:
        return self.packages - self.claimed


class Cpu:
    """CPU seconds of this process and of the named server processes between two points."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.tick = os.sysconf("SC_CLK_TCK")
        self.began = time.perf_counter()
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        seen = {"bench client": usage.ru_utime + usage.ru_stime}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                seen[name] = (int(fields[11]) + int(fields[12])) / self.tick
            except (OSError, IndexError, ValueError):
                pass
        return seen

    def cores(self) -> dict[str, float]:
        """Cores used on average by each since the start (1.0 = one core busy)."""
        wall = time.perf_counter() - self.began
        now = self._now()
        return {name: round((now[name] - self.start[name]) / wall, 2)
                for name in now if name in self.start}


def rss_mb(pid: int | None) -> float:
    if not pid:
        return math.nan
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


# -- workers over gRPC ------------------------------------------------------------------------


class Worker:
    """One simulated person: their own token and their own channel (connection). With
    ``think_ms``, they take that long on average (uniformly 0.5-1.5 times, drawn from a
    generator seeded by their name, so runs repeat) to answer each item before saving it."""

    def __init__(self, env: dict[str, str], subject: str, role: str,
                 addr: str | None = None, think_ms: float = 0.0) -> None:
        self.subject = subject
        self.think_s = think_ms / 1000
        self._rng = random.Random(subject)
        token = auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=subject,
                                 workspace=WORKSPACE, roles=[role], ttl_seconds=TOKEN_TTL)
        self.metadata = (("authorization", f"Bearer {token}"),)
        # addr: another assignment service than the stack's (a gRPC target, e.g. replicas)
        self.channel = grpc.aio.insecure_channel(addr or SERVICES["assignment"].addr)
        self.stub = apb_grpc.AssignmentServiceStub(self.channel)

    async def ready(self) -> None:
        """Connected: a person's client is connected before they ask for work, so the
        connection set-up is not in the first claim's latency."""
        await asyncio.wait_for(self.channel.channel_ready(), RPC_TIMEOUT)

    async def think(self) -> None:
        if self.think_s:
            await asyncio.sleep(self.think_s * self._rng.uniform(0.5, 1.5))

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self.stub, method)(request, metadata=self.metadata,
                                                timeout=RPC_TIMEOUT)

    async def close(self) -> None:
        await self.channel.close()


def _code(exc: grpc.aio.AioRpcError) -> str:
    return exc.code().name if exc.code() else "UNKNOWN"


async def label_package(worker: Worker, job: BenchJob, timings: Timings,
                        first: bool = False) -> bool:
    """One loop of a labeler: claim, read, answer every item, submit. False when there was
    no open package left to claim. ``first``: the labeler's first claim (all labelers of a
    level make theirs at the same moment)."""
    clock = time.perf_counter
    t = clock()  # a claim's latency includes the retries
    attempt = 0
    while True:
        try:
            package = await worker.call("ClaimPackage", apb.ClaimPackageRequest(
                job_id=job.job_id, stage=apb.STAGE_LABEL))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                if job.open_left <= 0:
                    timings.out_of_packages = True
                    return False
                # "none left" while packages are open: counted, and asked again (as a
                # person would) until NOT_FOUND_PATIENCE runs out
                timings.error("ClaimPackage NOT_FOUND while packages are open", exc)
                if clock() - t > NOT_FOUND_PATIENCE:
                    timings.out_of_packages = True
                    return False
                await asyncio.sleep(0.2)
                continue
            timings.error(f"ClaimPackage {_code(exc)}", exc)
            retry = exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED)
            attempt += 1
            if not retry or attempt > CLAIM_RETRIES:
                raise
            await asyncio.sleep(0.01 * min(attempt, 20))  # the service asks for a retry
            continue
        timings.claim.append((clock() - t) * 1000)
        (timings.first_claim if first else timings.later_claim).append(timings.claim[-1])
        job.claimed += 1
        break
    method = "GetPackage"
    try:
        t = clock()
        detail = await worker.call(method, apb.GetPackageRequest(package_id=package.id))
        timings.get.append((clock() - t) * 1000)
        method = "SaveAnnotation"
        for n, item in enumerate(detail.items):
            answer = json.dumps({"label": LABELS[(package.index + n) % len(LABELS)]})
            await worker.think()
            t = clock()
            await worker.call(method, apb.SaveAnnotationRequest(
                package_id=package.id, item_id=item.item_id, answer_json=answer))
            timings.save.append((clock() - t) * 1000)
        method = "SubmitPackage"
        t = clock()
        await worker.call(method, apb.SubmitPackageRequest(package_id=package.id))
        done = clock()
        timings.submit.append((done - t) * 1000)
    except grpc.aio.AioRpcError as exc:
        # the package is left to its lease; counted, and the labeler goes on
        timings.error(f"{method} {_code(exc)}", exc)
        return True
    timings.submitted_at[package.id] = done
    timings.packages += 1
    timings.items += len(detail.items)
    return True


async def labelers(workers: list[Worker], job: BenchJob, seconds: float,
                   timings: Timings, ramp_s: float = 0.0) -> float:
    """Every worker labels packages until the time is up (finishing the package it holds);
    the wall time, drain included. ``ramp_s``: the workers start one after another, evenly
    over that many seconds (0: all at the same moment)."""
    started = time.perf_counter()
    deadline = started + seconds
    step = ramp_s / len(workers) if workers else 0.0

    async def loop(n: int, worker: Worker) -> None:
        await asyncio.sleep(n * step)
        first = True
        while time.perf_counter() < deadline and not timings.out_of_packages:
            if not await label_package(worker, job, timings, first):
                return
            first = False

    await asyncio.gather(*(loop(n, w) for n, w in enumerate(workers)))
    return time.perf_counter() - started


async def level(env: dict[str, str], job: BenchJob, concurrency: int, seconds: float,
                pids: dict[str, int | None], think_ms: float = 0.0,
                ramp_s: float = 0.0) -> dict[str, Any]:
    workers = [Worker(env, f"bench-labeler-{concurrency}-{think_ms:g}-{n}", auth.LABELER,
                      think_ms=think_ms) for n in range(concurrency)]
    timings = Timings()
    try:
        await asyncio.gather(*(w.ready() for w in workers))
        cpu = Cpu(pids)
        wall = await labelers(workers, job, seconds, timings, ramp_s)
    finally:
        await asyncio.gather(*(w.close() for w in workers))
    return {"concurrency": concurrency, "think_ms": think_ms, "ramp_s": ramp_s,
            "seconds": wall, "packages": timings.packages, "items": timings.items,
            "items_per_s": timings.items / wall, "packages_per_s": timings.packages / wall,
            "claim": summary(timings.claim), "first_claim": summary(timings.first_claim),
            "later_claim": summary(timings.later_claim),
            "get": summary(timings.get),
            "save": summary(timings.save), "submit": summary(timings.submit),
            "errors": dict(timings.errors), "error_samples": timings.error_samples,
            "out_of_packages": timings.out_of_packages,
            "cpu_cores": cpu.cores()}


async def checkable(env: dict[str, str], job: BenchJob, labeler_count: int, checker_count: int,
                    seconds: float, grace: float, poll_pause: float,
                    pids: dict[str, int | None]) -> dict[str, Any]:
    """Labelers submit while checkers poll ClaimPackage(check) without pause; per package,
    SubmitPackage returned → a checker's ClaimPackage returned it."""
    labeler_workers = [Worker(env, f"bench-check-labeler-{n}", auth.LABELER)
                       for n in range(labeler_count)]
    checker_workers = [Worker(env, f"bench-checker-{n}", auth.CHECKER)
                       for n in range(checker_count)]
    timings = Timings()
    claimed_at: dict[str, float] = {}
    empty_polls: list[float] = []
    check_errors: Counter[str] = Counter()
    labeling_over = asyncio.Event()
    give_up = [math.inf]

    def all_picked() -> bool:
        return labeling_over.is_set() and all(p in claimed_at for p in timings.submitted_at)

    async def checker(worker: Worker) -> None:
        request = apb.ClaimPackageRequest(job_id=job.job_id, stage=apb.STAGE_CHECK)
        while not all_picked() and time.perf_counter() < give_up[0]:
            t = time.perf_counter()
            try:
                package = await worker.call("ClaimPackage", request)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    empty_polls.append((time.perf_counter() - t) * 1000)
                    if poll_pause:
                        await asyncio.sleep(poll_pause)
                else:
                    check_errors[f"ClaimPackage(check) {_code(exc)}"] += 1
                    await asyncio.sleep(0.05)
                continue
            claimed_at[package.id] = time.perf_counter()

    async def labeling() -> float:
        try:
            return await labelers(labeler_workers, job, seconds, timings)
        finally:
            labeling_over.set()
            give_up[0] = time.perf_counter() + grace

    try:
        await asyncio.gather(*(w.ready() for w in labeler_workers + checker_workers))
        cpu = Cpu(pids)
        wall, *_ = await asyncio.gather(labeling(), *(checker(w) for w in checker_workers))
    finally:
        await asyncio.gather(*(w.close() for w in labeler_workers + checker_workers))
    delays = [(claimed_at[p] - t) * 1000 for p, t in timings.submitted_at.items()
              if p in claimed_at]
    return {"labelers": labeler_count, "checkers": checker_count, "seconds": wall,
            "grace_s": grace, "poll_pause_s": poll_pause,
            "submitted": len(timings.submitted_at), "claimed_by_checkers": len(delays),
            "not_claimed": len(timings.submitted_at) - len(delays),
            "submit_to_claim": summary(delays), "empty_poll": summary(empty_polls),
            "labeler_claim": summary(timings.claim), "labeler_save": summary(timings.save),
            "labeler_submit": summary(timings.submit),
            "errors": dict(timings.errors + check_errors),
            "error_samples": timings.error_samples, "cpu_cores": cpu.cores()}


# -- the dataset and the job ----------------------------------------------------------------


def write_manifest(path: Path, items: int) -> int:
    with path.open("w") as out:
        for n in range(items):
            out.write(json.dumps({"data": {"source": task_text(n)}}) + "\n")
    return path.stat().st_size


def import_dataset(admin: Clients, env: dict[str, str], items: int) -> tuple[str, float]:
    minio = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                  secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    key = storage.upload_key(WORKSPACE, "bench", uuid.uuid4().hex, "assignment.manifest")
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "assignment.manifest"
        write_manifest(manifest, items)
        minio.fput_object(storage.UPLOADS_BUCKET, key, str(manifest))
    dataset = admin.dataset.CreateDataset(dpb.CreateDatasetRequest(
        name=f"bench-assignment-{uuid.uuid4().hex[:8]}", kind=dpb.DATASET_KIND_TEXT))
    started = time.perf_counter()
    admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{key}"))
    while True:
        version = admin.dataset.GetVersion(dpb.GetVersionRequest(dataset_id=dataset.id,
                                                                 version=1))
        if version.state != dpb.VERSION_STATE_IMPORTING:
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    minio.remove_object(storage.UPLOADS_BUCKET, key)
    if version.state != dpb.VERSION_STATE_READY:
        raise SystemExit(f"import failed: {version.error}")
    if version.item_count != items:
        raise SystemExit(f"imported {version.item_count} items, not {items}")
    return dataset.id, elapsed


async def _topic_ends(bootstrap: str, topic: str) -> dict[Any, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(topics.PARTITIONS)]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def _package_event_times(bootstrap: str, start: dict[Any, int], job_id: str,
                               expected: int, seconds: float = 300) -> list[float]:
    """The ``time`` (epoch seconds) of the job's PackageCreated events published since
    ``start``: each is stamped when its package is cut, before its batch is committed."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    found: list[float] = []
    try:
        consumer.assign(list(start))
        for part, offset in start.items():
            consumer.seek(part, offset)
        deadline = time.monotonic() + seconds
        while len(found) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500,
                                                   max_records=5000)).values():
                for record in records:
                    event = json.loads(record.value)
                    if (event.get("type") == PackageCreated.TYPE
                            and event["data"].get("job_id") == job_id):
                        found.append(datetime.fromisoformat(event["time"]).timestamp())
    finally:
        await consumer.stop()
    return found


def build_packages(admin: Clients, env: dict[str, str], dataset_id: str, items: int,
                   package_size: int, assignment_pid: int | None,
                   workflow: int = jpb.WORKFLOW_LABEL_CHECK) -> tuple[str, dict[str, Any]]:
    """Create and publish the job; publish → every package counted by GetJobProgress."""
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"bench-assignment-{uuid.uuid4().hex[:6]}", dataset_id=dataset_id,
        template="text_classification", labels=[jpb.Label(name=n) for n in LABELS],
        workflow=workflow, package_size=package_size))
    expected = -(-items // package_size)
    rss_before = rss_mb(assignment_pid)
    rss_peak, first, progress_ms = rss_before, math.nan, []
    bootstrap = env["LABELOPS_KAFKA_BOOTSTRAP"]
    offsets = asyncio.run(_topic_ends(bootstrap, topics.ASSIGNMENT_EVENTS))
    published_at = time.time()
    started = time.perf_counter()
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    deadline = started + 600 + items / 500
    while True:
        t = time.perf_counter()
        try:
            progress = admin.assignment.GetJobProgress(
                apb.GetJobProgressRequest(job_id=job.id), timeout=RPC_TIMEOUT)
            count = progress.package_count
            progress_ms.append((time.perf_counter() - t) * 1000)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: the job event is on its way
                raise
            count = 0
        now = time.perf_counter()
        rss_peak = max(rss_peak, rss_mb(assignment_pid))
        if count and math.isnan(first):
            first = now - started
        if count >= expected:
            break
        if now > deadline:
            raise SystemExit(f"packaging: {count} of {expected} packages after "
                             f"{now - started:.0f}s")
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    stamped = asyncio.run(_package_event_times(bootstrap, offsets, job.id, expected))
    return job.id, {"items": items, "package_size": package_size, "packages": expected,
                    "first_packages_s": first, "all_packages_s": elapsed,
                    "events_seen": len(stamped),
                    "first_event_s": min(stamped) - published_at if stamped else math.nan,
                    "last_event_s": max(stamped) - published_at if stamped else math.nan,
                    "items_per_s": items / elapsed, "packages_per_s": expected / elapsed,
                    "assignment_rss_before_mb": rss_before,
                    "assignment_rss_peak_mb": rss_peak,
                    "get_job_progress": summary(progress_ms)}


def clean_up(admin: Clients, job_id: str | None, dataset_id: str | None) -> None:
    if job_id:
        try:
            admin.jobs.DeleteJob(jpb.DeleteJobRequest(job_id=job_id, force=True), timeout=120)
        except grpc.RpcError as exc:
            console.print(f"[yellow]job {job_id} not deleted:[/yellow] {exc.details()}")
    if dataset_id:
        # The dataset service learns of the job's deletion from its event: until then it
        # refuses (FAILED_PRECONDITION), so that is retried for a while.
        deadline = time.monotonic() + 120
        while True:
            try:
                admin.dataset.DeleteDataset(dpb.DeleteDatasetRequest(dataset_id=dataset_id),
                                            timeout=900)
                return
            except grpc.RpcError as exc:
                if (exc.code() != grpc.StatusCode.FAILED_PRECONDITION
                        or time.monotonic() > deadline):
                    console.print(f"[yellow]dataset {dataset_id} not deleted:[/yellow] "
                                  f"{exc.details()}")
                    return
            time.sleep(1)


# -- the run --------------------------------------------------------------------------------


def assignment_db_size(env: dict[str, str]) -> dict[str, int]:
    """Documents in the assignment service's collections that its scans read (on FerretDB
    a filtered read scans its whole collection, so these sizes move the figures)."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(env["LABELOPS_MONGO_URL"])
    try:
        db, answers = client["labelops_assignment"], client["labelops_assignment_answers"]
        return {"annotations": answers["annotations"].estimated_document_count(),
                **{name: db[name].estimated_document_count()
                   for name in ("packages", "prelabels", "tickets")}}
    finally:
        client.close()


def stack_pids() -> dict[str, int | None]:
    processes = ServiceProcesses(Path(labelops_home()))
    return {"assignment": processes.pid("assignment"),
            "ferretdb": servers.server_pid("ferretdb")}


def platform_pids() -> dict[str, int | None]:
    """Every process of the platform: the five services and the three servers."""
    processes = ServiceProcesses(Path(labelops_home()))
    return {**{name: processes.pid(name) for name in SERVICES},
            **{name: servers.server_pid(name) for name in servers.SERVERS}}


def settle(limit_s: float, say: Callable[[str], None]) -> dict[str, Any]:
    """Wait (at most ``limit_s``) until the platform is quiet: its processes together use
    at most QUIET_CORES over a window of SETTLE_WINDOW_S. Publishing a job sets the other
    services to work on its events (the jobs service's progress, the pre-label service's
    items, the export service), and a previous run's deletion may still be under way;
    without this the levels measure that backlog too."""
    began = time.monotonic()
    pids = platform_pids()
    while True:
        cpu = Cpu(pids)
        time.sleep(SETTLE_WINDOW_S)
        used = round(sum(v for k, v in cpu.cores().items() if k != "bench client"), 2)
        waited = time.monotonic() - began
        if used <= QUIET_CORES or waited >= limit_s:
            quiet = used <= QUIET_CORES
            say(f"platform {'quiet' if quiet else 'still busy'} after {waited:.0f}s "
                f"({used} cores)")
            return {"waited_s": round(waited, 1), "cores": used, "quiet": quiet}


def level_plan(args: argparse.Namespace) -> list[tuple[float, int]]:
    """(think ms, labelers) of each level, in the order run: every concurrency at each pace."""
    return [(think, c) for think in args.think_ms for c in args.levels]


def labelops_side(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    missing = [n for n in ("dataset", "jobs", "assignment") if not healthy(SERVICES[n])]
    if missing:
        raise SystemExit(f"not serving: {', '.join(missing)}. Start the stack with "
                         "`.venv/bin/labelops up` (this bench does not start or stop it).")
    env = servers.stack_env()
    pids = stack_pids()
    admin = connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject="bench-admin",
                                     workspace=WORKSPACE, ttl_seconds=TOKEN_TTL,
                                     roles=[auth.ANNOTATION_ADMIN, auth.WORKSPACE_ADMIN]))
    found: dict[str, Any] = {"assignment_db_before": assignment_db_size(env)}
    dataset_id = job_id = None
    try:
        say(f"importing {args.items:,} items")
        dataset_id, import_s = import_dataset(admin, env, args.items)
        found["dataset_import_s"] = import_s
        say(f"imported in {import_s:.1f}s; publishing the job "
            f"(packages of {args.package_size})")
        job_id, found["packaging"] = build_packages(admin, env, dataset_id, args.items,
                                                    args.package_size, pids["assignment"])
        job = BenchJob(job_id, found["packaging"]["packages"])
        say(f"{found['packaging']['packages']:,} packages in "
            f"{found['packaging']['all_packages_s']:.1f}s")
        if args.settle:
            found["settled"] = settle(args.settle, say)
        if args.checkers:
            say(f"submit → check claim: {args.check_labelers} labelers, {args.checkers} "
                f"checkers polling, {args.check_seconds:.0f}s")
            found["checkable"] = asyncio.run(checkable(
                env, job, args.check_labelers, args.checkers, args.check_seconds,
                args.check_grace, args.check_poll_ms / 1000, pids))
        found["levels"] = []
        for think_ms, concurrency in level_plan(args):
            pace = f", {think_ms:g} ms per item" if think_ms else ""
            say(f"{concurrency} labelers{pace}, {args.seconds:.0f}s")
            # The ramp is for paced labelers: at full speed it would only delay the load.
            ramp = args.ramp_s if think_ms else 0.0
            result = asyncio.run(level(env, job, concurrency, args.seconds, pids, think_ms,
                                       ramp))
            found["levels"].append(result)
            say(f"  {result['packages']} packages, {result['items_per_s']:,.0f} items/s, "
                f"claim p99 {result['claim']['p99_ms']:,.1f} ms, errors {result['errors']}")
            if result["out_of_packages"]:
                say("[yellow]no open package left: use more --items or fewer --seconds")
                break
    finally:
        if not args.keep:
            say("deleting the bench's job and dataset")
            clean_up(admin, job_id, dataset_id)
        admin.close()
    return found


def _think(level: dict[str, Any]) -> float:
    return float(level.get("think_ms") or 0.0)


def print_level_table(think: float, levels: list[dict[str, Any]],
                      ls_all: list[dict[str, Any]], ls: dict[str, Any] | None) -> None:
    ls_levels = {lv["concurrency"]: lv for lv in ls_all}
    concurrencies = sorted({lv["concurrency"] for lv in levels} | set(ls_levels))
    by_c = {lv["concurrency"]: lv for lv in levels}
    ramp = max((lv.get("ramp_s") or 0.0 for lv in levels), default=0.0)
    pace = (f"each item takes {think:g} ms (0.5-1.5×) to answer" if think else
            "every item answered at once (the most the machine serves)")
    if ramp:
        pace += f", labelers starting over {ramp:g} s"
    title = f"Labelers, {pace}: LabelOps (gRPC) vs Label Studio (HTTP), p50 / p99 in ms"
    if ls:
        title += f"; Label Studio {ls['version']} on {ls['tasks']:,} tasks"
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("system")
    for c in concurrencies:
        table.add_column(f"{c} labeler{'s' if c > 1 else ''}", justify="right")
    table.add_column("target")

    def row(measure: str, system: str, cell: Callable[[dict[str, Any]], str],
            source: dict[int, dict[str, Any]], target: str = "") -> None:
        table.add_row(measure, system, *(cell(source[c]) if c in source else "—"
                                         for c in concurrencies), target)

    top = max(by_c) if by_c else 0
    claim_p99 = by_c[top]["claim"]["p99_ms"] if by_c else math.nan
    verdict = "" if math.isnan(claim_p99) or top < 64 else (
        " ✓" if claim_p99 <= CLAIM_TARGET_MS else " ✗")
    row("next work", "LabelOps ClaimPackage", lambda lv: ms_pair(lv["claim"]), by_c,
        f"p99 ≤ {CLAIM_TARGET_MS:.0f} ms at 64{verdict}")
    row("", "  the first claims (every labeler at once)" if not ramp else
        "  the first claims (one labeler after another)",
        lambda lv: ms_pair(lv.get("first_claim")), by_c)
    row("", "  the later claims", lambda lv: ms_pair(lv.get("later_claim")), by_c)
    row("", "Label Studio GET next", lambda lv: ms_pair(lv["next"]), ls_levels)
    row("read the work", "LabelOps GetPackage", lambda lv: ms_pair(lv["get"]), by_c)
    row("save one answer", "LabelOps SaveAnnotation", lambda lv: ms_pair(lv["save"]), by_c)
    row("", "Label Studio POST annotation", lambda lv: ms_pair(lv["annotation"]), ls_levels)
    row("submit", "LabelOps SubmitPackage", lambda lv: ms_pair(lv["submit"]), by_c)
    row("items answered / s", "LabelOps", lambda lv: f"{lv['items_per_s']:,.1f}", by_c)
    row("", "Label Studio", lambda lv: f"{lv['annotations_per_s']:,.1f}", ls_levels)
    row("packages / s", "LabelOps", lambda lv: f"{lv['packages_per_s']:,.2f}", by_c)
    row("claims / s (claims measured)", "LabelOps",
        lambda lv: f"{lv['claim']['count'] / lv['seconds']:,.2f} ({lv['claim']['count']})",
        by_c)
    row("", "Label Studio (next)",
        lambda lv: f"{lv['next']['count'] / lv['seconds']:,.1f} ({lv['next']['count']})",
        ls_levels)
    row("errors", "LabelOps", lambda lv: str(sum(lv["errors"].values())), by_c)
    row("", "Label Studio", lambda lv: str(sum(lv["errors"].values())), ls_levels)
    row("CPU cores", "LabelOps", lambda lv: " · ".join(
        f"{k.split()[-1]} {v}" for k, v in lv["cpu_cores"].items()), by_c)
    console.print(table)


def print_tables(run: dict[str, Any]) -> None:
    ours, ls = run.get("labelops", {}), run.get("label_studio")
    packaging = ours.get("packaging")
    if packaging:
        table = Table(title=f"Package building: {packaging['items']:,} items → "
                            f"{packaging['packages']:,} packages of {packaging['package_size']}")
        for column in ("figure", "value"):
            table.add_column(column)
        table.add_row("assignment database before the run (all jobs)", ", ".join(
            f"{n:,} {name}" for name, n in ours["assignment_db_before"].items()))
        table.add_row("dataset import (before the job)", f"{ours['dataset_import_s']:.1f} s")
        table.add_row("PublishJob → first packages counted",
                      f"{packaging['first_packages_s']:.1f} s")
        table.add_row("PublishJob → all packages counted",
                      f"{packaging['all_packages_s']:.1f} s")
        table.add_row("PublishJob → first / last PackageCreated event stamped "
                      f"({packaging['events_seen']:,} events)",
                      f"{packaging['first_event_s']:.1f} / {packaging['last_event_s']:.1f} s")
        table.add_row("rate (to all packages counted)",
                      f"{packaging['items_per_s']:,.0f} items/s, "
                              f"{packaging['packages_per_s']:,.0f} packages/s")
        table.add_row("assignment service RSS before → peak while packaging",
                      f"{packaging['assignment_rss_before_mb']:.0f} → "
                      f"{packaging['assignment_rss_peak_mb']:.0f} MB")
        table.add_row("GetJobProgress p50 / p99 while packaging",
                      f"{ms_pair(packaging['get_job_progress'])} ms")
        console.print(table)

    check = ours.get("checkable")
    if check:
        s = check["submit_to_claim"]
        pause = check.get("poll_pause_s", 0) * 1000
        table = Table(title=f"Submit → claimable by checkers ({check['labelers']} labelers, "
                            f"{check['checkers']} checkers polling"
                            f"{f' with {pause:.0f} ms pauses' if pause else ' back to back'}, "
                            f"{check['seconds']:.0f}s)")
        for column in ("figure", "value", "target"):
            table.add_column(column)
        p99_s = s["p99_ms"] / 1000
        verdict = "" if math.isnan(p99_s) else (" ✓" if p99_s <= CHECKABLE_TARGET_S else " ✗")
        table.add_row("SubmitPackage returned → ClaimPackage(check) returned, p50 / p99",
                      f"{ms_pair(s)} ms", f"p99 ≤ {CHECKABLE_TARGET_S:.0f} s{verdict}")
        table.add_row("max", f"{s['max_ms']:,.1f} ms", "")
        table.add_row("packages submitted / claimed by a checker",
                      f"{check['submitted']} / {check['claimed_by_checkers']}",
                      f"not claimed {check['grace_s']:.0f} s after the labelers stopped: "
                      f"{check['not_claimed']}")
        table.add_row("checker poll finding nothing, p50 / p99 (the resolution)",
                      f"{ms_pair(check['empty_poll'])} ms (max "
                      f"{check['empty_poll']['max_ms']:,.0f}, n {check['empty_poll']['count']})",
                      "")
        table.add_row("labelers meanwhile: claim / save / submit p50 / p99 (ms)",
                      f"{ms_pair(check['labeler_claim'])} · {ms_pair(check['labeler_save'])} · "
                      f"{ms_pair(check['labeler_submit'])}", "")
        table.add_row("errors", json.dumps(check["errors"]) if check["errors"] else "none", "")
        table.add_row("CPU cores used", ", ".join(f"{k} {v}" for k, v in
                                                  check["cpu_cores"].items()), "")
        console.print(table)

    levels = ours.get("levels", [])
    ls_all = (ls or {}).get("levels", [])
    for think in sorted({_think(lv) for lv in levels + ls_all}):
        print_level_table(think, [lv for lv in levels if _think(lv) == think],
                          [lv for lv in ls_all if _think(lv) == think], ls)
    phases = [(f"{lv['concurrency']} labelers"
               f"{f' at {_think(lv):g} ms per item' if _think(lv) else ''}", lv)
              for lv in levels]
    if check:
        phases.insert(0, ("the check phase", check))
    for name, phase in phases:
        if phase["errors"]:
            console.print(f"LabelOps errors in {name}: {phase['errors']}", markup=False)
            for kind, message in phase.get("error_samples", {}).items():
                console.print(f"  {kind}: {message}", markup=False)
    for lv in ls_all:
        if lv["errors"]:
            console.print(f"Label Studio errors at {lv['concurrency']}"
                          f"{f' ({_think(lv):g} ms per item)' if _think(lv) else ''}: "
                          f"{lv['errors']}")
    for line in (ls or {}).get("server_log_errors", [])[-10:]:
        console.print(f"  label-studio log: {line[:200]}", markup=False)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--package-size", type=int, default=50,
                        help="items per package (1,000,000 items allow 50-200)")
    parser.add_argument("--levels", default="1,16,64",
                        help="labeler concurrencies, comma-separated")
    parser.add_argument("--seconds", type=float, default=60, help="per level")
    parser.add_argument("--think-ms", default="0",
                        help="labelers' time per item before its save, on average, "
                             "comma-separated: each concurrency runs at each (0: no pause, "
                             "the most the machine serves)")
    parser.add_argument("--ramp-s", type=float, default=0,
                        help="with a pace (--think-ms above 0), the labelers of a level start "
                             "one after another over this many seconds, as a floor fills up, "
                             "instead of all at once (0)")
    parser.add_argument("--settle", type=float, default=600,
                        help="after packaging, wait at most this many seconds for the "
                             "platform to be quiet before measuring (0: start at once)")
    parser.add_argument("--check-labelers", type=int, default=16)
    parser.add_argument("--checkers", type=int, default=4, help="0 skips the check phase")
    parser.add_argument("--check-seconds", type=float, default=60)
    parser.add_argument("--check-grace", type=float, default=30,
                        help="how long checkers go on after the labelers stop")
    parser.add_argument("--check-poll-ms", type=float, default=0,
                        help="checkers' pause after a claim that found nothing (0: none)")
    parser.add_argument("--ls-tasks", type=int, default=None,
                        help="Label Studio tasks (default: --items)")
    parser.add_argument("--skip-label-studio", action="store_true")
    parser.add_argument("--only-label-studio", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep the bench's dataset and job")
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    args.think_ms = [float(x) for x in args.think_ms.split(",") if x.strip()]
    if args.ls_tasks is None:
        args.ls_tasks = args.items
    return args


def main() -> None:
    args = parse_args()

    def say(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")

    began = time.perf_counter()
    run: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "settings": dict(vars(args)),
    }
    if not args.only_label_studio:
        run["labelops"] = labelops_side(args, say)
    if not args.skip_label_studio:
        say(f"Label Studio: {args.ls_tasks:,} tasks, levels {args.levels}")
        try:
            run["label_studio"] = label_studio_runner.run(args.ls_tasks, args.levels,
                                                          args.seconds, say, args.think_ms)
        except Exception as exc:  # LabelOps' figures are kept: they took the longest
            run["label_studio_failed"] = str(exc)[-2000:]
            console.print(f"[red]Label Studio's side failed:[/red] {str(exc)[-500:]}")
    run["total_s"] = round(time.perf_counter() - began, 1)
    print_tables(run)
    console.print(f"total {run['total_s']:.0f}s")
    path = append_run("assignment", run)
    console.print(f"appended to {path}")


if __name__ == "__main__":
    main()
