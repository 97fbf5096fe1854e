"""Export service benchmark: the labeled view filled with accepted items, accept → visible in
the view, and exports as JSON lines (manifest) and COCO against the raw read rate of the
same collection, with the export service's peak RSS; Label Studio's JSON export of the same
tasks side by side.

    .venv/bin/python -m bench.export                     # 1,000,000 items
    .venv/bin/python -m bench.export --items 20000       # a small run

Runs against the local stack (``labelops up``; nothing is started, stopped or restarted):

1. a detection job (``object_detection``: rectangles and polygons, six classes) is announced
   with a JobCreated event, as the jobs service would; the bench waits for the export
   service to know it;
2. **fill**: ``--items`` accepted items (1920×1080 images with five boxes and a polygon),
   minus the probes' share, are published as PackageAccepted events of ``--chunk`` items
   to the assignment topic (acks=all, idempotent producer, key = the job), as fast as the
   producer goes; the fill ends when the last event's last item can be read from the view
   (one job's events are handled in order); every item's ``stored_at - accepted_at`` is
   the delay each saw behind the backlog;
3. **accept → visible**: ``--probes`` packages of ``--probe-size`` items published at
   ``--probe-rate`` packages/s; for each, the time from just before its event was sent to
   its last item read back from the view (point reads every 10 ms); target p99 ≤ 2 s;
4. **raw read**: a plain pymongo cursor over the view collection, same filter, sort and
   batch size as the export's read, documents decoded and dropped; before and after the
   exports (their mean is the reference);
5. **exports**: StartExport as ``manifest`` then ``coco`` (GetExport polled every 0.25 s
   until completed); items/s over the wall time, and the export service's RSS sampled from
   /proc every 50 ms (peak, and the baseline before); targets ≥ 50 % of the raw rate,
   peak RSS ≤ 300 MB;
6. **Label Studio** (``bench/label_studio_runner.py`` installs and starts it; the requests
   run in ``bench/label_studio_export_side.py`` with its Python): a detection project,
   ``--ls-tasks`` tasks imported with their annotations (the same boxes) in batches of
   1,000 until all are in or ``--ls-import-cap`` seconds have passed, then
   ``GET /api/projects/{id}/export?exportType=JSON`` timed, ended after
   ``--ls-export-cap`` seconds; Label Studio's RSS sampled the same way.

The bench's own data goes at the end (``--keep`` keeps it): its documents in the export
service's view and records, its export files, and the rows the prelabel service made of its
accepted events. Prints tables and appends the run to bench/results/export.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from aiokafka import AIOKafkaProducer
from pymongo import ASCENDING, MongoClient
from rich.console import Console
from rich.table import Table

from bench import append_run, label_studio_runner
from labelops.export.v1 import export_pb2 as epb
from labelops.export.v1 import export_pb2_grpc
from labelops_cli.services import SERVICES, ServiceProcesses, healthy
from labelops_cli.stack import servers
from labelops_cli.stack.paths import labelops_home
from labelops_shared import auth, storage
from labelops_shared.annotations import build_template
from labelops_shared.contracts import (
    AcceptedItem,
    JobCreated,
    JobMembers,
    JobSpec,
    LabelDef,
    PackageAccepted,
)
from labelops_shared.events import CONTENT_TYPE, EventData, new_event

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
LS_SIDE = Path(__file__).with_name("label_studio_export_side.py")
WORKSPACE = "bench-export"
CLASSES = ("cat", "dog", "bird", "car", "person", "bike")
VISIBLE_TARGET_S = 2.0
RATIO_TARGET = 0.5
RSS_TARGET_MB = 300.0
SOURCE = "/labelops/bench-export"
EXPORT_DB, VIEW, RECORDS = "labelops_export", "labeled_items", "exports"
PRELABEL_DB, PRELABEL_ITEMS = "labelops_prelabel", "items"
console = Console(width=None if sys.stdout.isatty() else 150)


# -- figures --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(values_s: list[float]) -> dict[str, Any]:
    return {"count": len(values_s), "p50_s": percentile(values_s, 50),
            "p99_s": percentile(values_s, 99), "max_s": max(values_s) if values_s else math.nan}


def _status_kb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


class RssSampler:
    """The summed VmRSS (MB) of some processes every ``every`` seconds in a thread; the
    peak and the first sample."""

    def __init__(self, pids: Callable[[], list[int]], every: float = 0.05) -> None:
        self.pids, self.every = pids, every
        self.first = math.nan
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        return sum(v for v in (_status_kb(p, "VmRSS") for p in self.pids()) if v == v)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self._sample()
            if self.first != self.first:
                self.first = value
            self.peak = max(self.peak, value)
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(pid: int | None) -> float:
    if not pid:
        return math.nan
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def process_started(pid: int) -> float:
    """The process's start, in seconds since the epoch."""
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def code_newer_than(started: float) -> list[str]:
    """Files of the export service and the shared package changed after the process
    started: it runs older code than the checkout's."""
    changed = []
    for folder in (ROOT / "services" / "export", ROOT / "shared" / "labelops_shared"):
        for path in folder.rglob("*.py"):
            if "tests" not in path.parts and path.stat().st_mtime > started:
                changed.append(str(path.relative_to(ROOT)))
    return sorted(changed)


# -- the items ------------------------------------------------------------------------------


def detection_template() -> dict[str, Any]:
    return build_template("object_detection", [{"name": c} for c in CLASSES]).to_dict()


def item(job_tag: str, n: int, revision: int = 1) -> AcceptedItem:
    """Image n: five boxes and a polygon, as bench/export_formats.py makes them."""
    shapes: list[dict[str, Any]] = [
        {"type": "rectangle", "label": CLASSES[(n + i) % 6], "x": 10.5 + i * 150,
         "y": 20.25 + i * 90, "width": 120.0, "height": 80.5} for i in range(5)]
    shapes.append({"type": "polygon", "label": "person",
                   "points": [[900, 500], [1000, 520], [980, 700], [880, 650]]})
    return AcceptedItem(item_id=f"{job_tag}:1:{n:09d}",
                        data={"source": f"s3://bench/images/{n:09d}.jpg", "width": 1920,
                              "height": 1080},
                        answer={"objects": shapes}, labeler=f"labeler{n % 20}",
                        revision=revision, hard=n % 50 == 0)


class Publisher:
    """Events to Kafka as a service's outbox relay sends them: the CloudEvents envelope,
    key = the job, acks=all, idempotent."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                         enable_idempotence=True, linger_ms=5,
                                         max_request_size=8 * 1024 * 1024,
                                         max_batch_size=1024 * 1024)

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, data: EventData, wait: bool = False) -> float:
        """Send (stamped now); returns the event's time as a perf_counter reading."""
        stamped = time.perf_counter()
        event = new_event(data, source=SOURCE,
                          subject=f"packages/{getattr(data, 'package_id', '')}")
        sent = await self.producer.send(data.TOPIC, event.to_bytes(),
                                        key=event.partitionkey.encode(),
                                        headers=[("content-type", CONTENT_TYPE.encode())])
        if wait:
            await sent
        return stamped


# -- the LabelOps side ----------------------------------------------------------------------


class Bench:
    def __init__(self, env: dict[str, str], args: argparse.Namespace,
                 say: Callable[[str], None]) -> None:
        self.env, self.args, self.say = env, args, say
        self.tag = uuid.uuid4().hex[:8]
        self.job_id = f"bench-export-{self.tag}"
        token = auth.issue_token(env["LABELOPS_JWT_SECRET"], subject="bench-admin",
                                 workspace=WORKSPACE, roles=[auth.ANNOTATION_ADMIN],
                                 ttl_seconds=12 * 3600)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.channel = grpc.insecure_channel(SERVICES["export"].addr)
        self.stub = export_pb2_grpc.ExportServiceStub(self.channel)
        self.mongo: MongoClient[dict[str, Any]] = MongoClient(env["LABELOPS_MONGO_URL"],
                                                              tz_aware=True)
        self.view = self.mongo[EXPORT_DB][VIEW]
        self.pid = ServiceProcesses(Path(labelops_home())).pid("export")
        self.fill_began = time.perf_counter()

    def close(self) -> None:
        self.channel.close()
        self.mongo.close()

    def visible(self, n: int, revision: int = 1) -> bool:
        doc = self.view.find_one({"_id": f"{self.job_id}:{self.tag}:1:{n:09d}"},
                                 {"revision": 1})
        return doc is not None and doc["revision"] >= revision

    async def announce_job(self) -> None:
        template = detection_template()
        spec = JobSpec(job_id=self.job_id, workspace=WORKSPACE, name="bench export detection",
                       dataset_id=f"bench-{self.tag}", dataset_version=1, template="custom",
                       topics=template["topics"], content=template["content"],
                       labels=[LabelDef(name=c) for c in CLASSES], workflow="label",
                       package_size=self.args.chunk, check_ratio=1.0, members=JobMembers())
        async with Publisher(self.env["LABELOPS_KAFKA_BOOTSTRAP"]) as publisher:
            await publisher.send(JobCreated(job_id=self.job_id, job=spec), wait=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.stub.GetLabeledView(epb.GetLabeledViewRequest(job_id=self.job_id),
                                         metadata=self.metadata, timeout=30)
                return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)

    async def fill(self, count: int) -> dict[str, Any]:
        """``count`` items published in chunks as fast as the producer goes; done when the
        last one is in the view."""
        chunk = self.args.chunk
        exp_before, cpu_before = time.perf_counter(), {
            name: cpu_seconds(pid) for name, pid in self.pids().items()}
        started = self.fill_began = time.perf_counter()
        async with Publisher(self.env["LABELOPS_KAFKA_BOOTSTRAP"]) as publisher:
            pending = []
            for first in range(0, count, chunk):
                items = [item(self.tag, n) for n in range(first, min(count, first + chunk))]
                pending.append(await publisher.producer.send(
                    *self._record(PackageAccepted(job_id=self.job_id,
                                                  package_id=f"pkg-{first // chunk:07d}",
                                                  accepter="bench", items=items))))
                if len(pending) >= 200:
                    await asyncio.gather(*pending)
                    pending.clear()
                if first // chunk % 500 == 0 and first:
                    self.say(f"  published {first:,}")
            await asyncio.gather(*pending)
        published_s = time.perf_counter() - started
        self.say(f"  {count:,} items published in {published_s:.1f}s; waiting for the view")
        while True:  # one job's events are handled in order: the last one seen, all are
            if await asyncio.to_thread(self.visible, count - 1):
                break
            await asyncio.sleep(0.2)
        fill_s = time.perf_counter() - started
        wall = time.perf_counter() - exp_before
        cpu = {name: round((cpu_seconds(pid) - cpu_before[name]) / wall, 2)
               for name, pid in self.pids().items()}
        return {"items": count, "chunk": chunk, "published_s": published_s, "fill_s": fill_s,
                "items_per_s": count / fill_s, "cpu_cores": cpu,
                "backlog_delay": self.backlog_delays(count)}

    def _record(self, data: EventData) -> tuple[str, bytes, bytes, None, None,
                                                list[tuple[str, bytes]]]:
        event = new_event(data, source=SOURCE, subject=f"packages/{data.package_id}")  # type: ignore[attr-defined]
        return (data.TOPIC, event.to_bytes(), event.partitionkey.encode(), None, None,
                [("content-type", CONTENT_TYPE.encode())])

    def backlog_delays(self, count: int, sample: int = 2000) -> dict[str, Any]:
        """stored_at - accepted_at of a spread sample of the filled items (point reads)."""
        step = max(1, count // sample)
        delays = []
        for n in range(0, count, step):
            doc = self.view.find_one({"_id": f"{self.job_id}:{self.tag}:1:{n:09d}"},
                                     {"stored_at": 1, "accepted_at": 1})
            if doc:
                delays.append((doc["stored_at"] - doc["accepted_at"]).total_seconds())
        return summary(delays)

    async def probes(self, first: int) -> dict[str, Any]:
        """Packages published one by one at the probe rate; each one's publish → its last
        item read back from the view."""
        size, rate = self.args.probe_size, self.args.probe_rate
        latencies: list[float] = []
        stamped_delays: list[float] = []

        async def watch(sent_at: float, last: int) -> None:
            while not await asyncio.to_thread(self.visible, last):
                await asyncio.sleep(0.01)
                if time.perf_counter() - sent_at > 120:
                    return
            latencies.append(time.perf_counter() - sent_at)

        watchers = []
        async with Publisher(self.env["LABELOPS_KAFKA_BOOTSTRAP"]) as publisher:
            began = time.perf_counter()
            for p in range(self.args.probes):
                start = first + p * size
                items = [item(self.tag, n) for n in range(start, start + size)]
                sent_at = await publisher.send(PackageAccepted(
                    job_id=self.job_id, package_id=f"probe-{p:05d}", accepter="bench",
                    items=items), wait=True)
                watchers.append(asyncio.create_task(watch(sent_at, start + size - 1)))
                await asyncio.sleep(max(0.0, began + (p + 1) / rate - time.perf_counter()))
            await asyncio.gather(*watchers)
        for p in range(self.args.probes):
            last = first + p * size + size - 1
            doc = self.view.find_one({"_id": f"{self.job_id}:{self.tag}:1:{last:09d}"},
                                     {"stored_at": 1, "accepted_at": 1})
            if doc:
                stamped_delays.append((doc["stored_at"] - doc["accepted_at"]).total_seconds())
        return {"packages": self.args.probes, "package_items": size, "rate": rate,
                "visible": summary(latencies), "lost": self.args.probes - len(latencies),
                "stored_minus_accepted": summary(stamped_delays)}

    def raw_read(self) -> dict[str, Any]:
        """The export's read without the export: same filter, sort and batch size."""
        started = time.perf_counter()
        count = 0
        size = 0
        cursor = self.view.find({"job_id": self.job_id}).sort("item_id", ASCENDING)
        for doc in cursor.batch_size(1000):
            count += 1
            size += len(doc.get("answer_json", ""))
        seconds = time.perf_counter() - started
        return {"docs": count, "seconds": seconds, "docs_per_s": count / seconds}

    def export(self, fmt: str) -> dict[str, Any]:
        pid = self.pid
        with RssSampler(lambda: [pid] if pid else []) as rss:
            time.sleep(0.2)  # a baseline sample or two
            baseline = rss.peak
            started = time.perf_counter()
            record = self.stub.StartExport(epb.StartExportRequest(job_id=self.job_id,
                                                                  format=fmt),
                                           metadata=self.metadata, timeout=60)
            while record.state == epb.EXPORT_STATE_RUNNING:
                time.sleep(0.25)
                record = self.stub.GetExport(epb.GetExportRequest(export_id=record.id),
                                             metadata=self.metadata, timeout=60)
            seconds = time.perf_counter() - started
        if record.state != epb.EXPORT_STATE_COMPLETED:
            raise SystemExit(f"{fmt} export failed: {record.error}")
        return {"format": fmt, "export_id": record.id, "items": record.items_written,
                "objects": record.objects_written, "seconds": seconds,
                "items_per_s": record.items_written / seconds, "bytes": record.size_bytes,
                "rss_before_mb": baseline, "rss_peak_mb": rss.peak,
                "vm_hwm_mb": _status_kb(pid, "VmHWM") if pid else math.nan}

    def pids(self) -> dict[str, int | None]:
        processes = ServiceProcesses(Path(labelops_home()))
        return {"export": self.pid, "prelabel": processes.pid("prelabel"),
                "ferretdb": servers.server_pid("ferretdb")}

    def prelabel_caught_up(self, total: int, wait: float) -> dict[str, Any]:
        """The prelabel service takes in the same accepted events (a row per item): wait
        (up to ``wait`` seconds) until it has all of the bench job's, so the clean-up
        finds them; how far it came."""
        rows = self.mongo[PRELABEL_DB][PRELABEL_ITEMS]
        deadline = time.monotonic() + wait
        seen = 0
        while True:
            seen = rows.count_documents({"job_id": self.job_id})
            if seen >= total or time.monotonic() > deadline:
                break
            time.sleep(5)
        return {"items": seen, "of": total, "at_s": time.perf_counter() - self.fill_began}

    def clean_up(self) -> None:
        remove_bench_data(self.env, {"job_id": self.job_id}, self.say)


def remove_bench_data(env: dict[str, str], which: dict[str, Any],
                      say: Callable[[str], None]) -> None:
    """The bench's documents, records and files (no API removes accepted results, so
    straight from the databases, and only bench jobs'): the export service's view, export
    records and job, the export files, the prelabel service's rows of the accepted items."""
    from minio import Minio

    mongo: MongoClient[dict[str, Any]] = MongoClient(env["LABELOPS_MONGO_URL"])
    try:
        export_db = mongo[EXPORT_DB]
        view = export_db[VIEW].delete_many(which).deleted_count
        records = list(export_db[RECORDS].find(which))
        export_db[RECORDS].delete_many(which)
        jobs = export_db["jobs"].delete_many({"_id": which["job_id"]}).deleted_count
        export_db["view_counts"].delete_many({"_id": which["job_id"]})
        prelabel = mongo[PRELABEL_DB][PRELABEL_ITEMS].delete_many(which).deleted_count
    finally:
        mongo.close()
    minio = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                  secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    for record in records:
        minio.remove_object(record.get("bucket", storage.EXPORTS_BUCKET), record["object_key"])
    say(f"removed {view:,} view documents, {len(records)} export records and files, "
        f"{jobs} jobs, {prelabel:,} prelabel rows")


def labelops_side(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    if not healthy(SERVICES["export"]):
        raise SystemExit("the export service is not serving. Start the stack with "
                         "`.venv/bin/labelops up` (this bench does not start or stop it).")
    env = servers.stack_env()
    bench = Bench(env, args, say)
    found: dict[str, Any] = {"job_id": bench.job_id, "export_pid": bench.pid}
    if bench.pid:
        started = process_started(bench.pid)
        found["export_started"] = datetime.fromtimestamp(started, UTC).isoformat()
        found["code_newer_than_process"] = code_newer_than(started)
        if found["code_newer_than_process"]:
            say(f"[yellow]the export service (pid {bench.pid}) started before these files "
                f"changed, so it runs older code: "
                f"{', '.join(found['code_newer_than_process'])}[/yellow]")
    probe_items = args.probes * args.probe_size
    bulk = max(0, args.items - probe_items)
    try:
        asyncio.run(bench.announce_job())
        say(f"job {bench.job_id} known to the export service; filling {bulk:,} items "
            f"in events of {args.chunk}")
        found["fill"] = asyncio.run(bench.fill(bulk))
        say(f"  filled in {found['fill']['fill_s']:.1f}s "
            f"({found['fill']['items_per_s']:,.0f} items/s)")
        if args.prelabel_wait > 0:  # the next phases measured on a quieter database
            say(f"waiting up to {args.prelabel_wait:.0f}s for the prelabel service to take in "
                "the same events")
            found["prelabel"] = bench.prelabel_caught_up(bulk, args.prelabel_wait)
            say(f"  prelabel has {found['prelabel']['items']:,} of {bulk:,} "
                f"({found['prelabel']['at_s']:.0f}s after the fill began)")
        say(f"probes: {args.probes} packages of {args.probe_size} at {args.probe_rate}/s")
        found["probes"] = asyncio.run(bench.probes(bulk))
        say("raw read")
        found["raw_before"] = bench.raw_read()
        say(f"  {found['raw_before']['docs']:,} docs at "
            f"{found['raw_before']['docs_per_s']:,.0f}/s")
        found["exports"] = []
        for fmt in ("manifest", "coco"):
            say(f"{fmt} export")
            result = bench.export(fmt)
            found["exports"].append(result)
            say(f"  {result['items']:,} items in {result['seconds']:.1f}s "
                f"({result['items_per_s']:,.0f}/s), RSS peak {result['rss_peak_mb']:.0f} MB")
        found["raw_after"] = bench.raw_read()
        say(f"raw read again: {found['raw_after']['docs_per_s']:,.0f}/s")
    finally:
        if not args.keep:
            bench.clean_up()
        bench.close()
    return found


# -- Label Studio ---------------------------------------------------------------------------


def _ls_side(server: label_studio_runner.Server, *args: str, timeout: float) -> Any:
    done = subprocess.run([str(label_studio_runner.python()), str(LS_SIDE), *args],
                          env=server.env, timeout=timeout, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"label_studio_export_side {args[0]} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ls_pids(port: str) -> list[int]:
    """Label Studio's server processes (the command line names its port)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"label-studio" in part for part in cmdline) and port.encode() in cmdline:
            found.append(int(entry.name))
    return found


def label_studio_side(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    version = label_studio_runner.ensure_installed(say)
    with label_studio_runner.running(say) as server:
        say(f"label-studio: importing up to {args.ls_tasks:,} tasks with annotations "
            f"(cap {args.ls_import_cap:.0f}s)")
        project = _ls_side(server, "setup", "--url", server.url, "--token", server.token,
                           "--tasks", str(args.ls_tasks), "--cap-s", str(args.ls_import_cap),
                           timeout=args.ls_import_cap + 3600)
        say(f"label-studio: {project['tasks']:,} tasks imported in {project['import_s']:.1f}s"
            f"{' (capped)' if project['import_capped'] else ''}; exporting JSON "
            f"(cap {args.ls_export_cap:.0f}s)")
        port = server.url.rsplit(":", 1)[1]
        out = server.data_dir / "export.json"
        with RssSampler(lambda: _ls_pids(port), every=0.2) as rss:
            time.sleep(0.5)
            baseline = rss.peak
            exported = _ls_side(server, "export", "--url", server.url, "--token", server.token,
                                "--project", str(project["project"]), "--out", str(out),
                                "--timeout-s", str(args.ls_export_cap),
                                timeout=args.ls_export_cap + 3600)
    result = {"version": version, "server": "label-studio start (Django, SQLite)",
              **project, "import_tasks_per_s": project["tasks"] / project["import_s"],
              "export": exported, "rss_before_mb": baseline, "rss_peak_mb": rss.peak}
    if exported.get("finished"):
        exported["tasks_per_s"] = exported["tasks"] / exported["seconds"]
    return result


# -- report ---------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return " ✓" if ok else " ✗"


def print_tables(run: dict[str, Any]) -> None:
    ours, ls = run.get("labelops"), run.get("label_studio")
    if ours:
        fill, probes = ours["fill"], ours["probes"]
        total = fill["items"] + probes["packages"] * probes["package_items"]
        table = Table(title=f"Labeled view: {total:,} accepted detection items (5 boxes + 1 "
                            "polygon each)")
        for column in ("figure", "value", "target"):
            table.add_column(column)
        table.add_row(f"fill: {fill['items']:,} items in events of {fill['chunk']}, published "
                      "at once", f"{fill['fill_s']:.1f} s ({fill['items_per_s']:,.0f} items/s;"
                      f" published in {fill['published_s']:.1f} s)", "")
        table.add_row("fill: stored_at − accepted_at (behind the backlog), p50 / p99",
                      f"{fill['backlog_delay']['p50_s']:.1f} / "
                      f"{fill['backlog_delay']['p99_s']:.1f} s", "")
        table.add_row("CPU cores during the fill", ", ".join(
            f"{k} {v}" for k, v in fill["cpu_cores"].items()), "")
        if ours.get("prelabel"):
            pre = ours["prelabel"]
            table.add_row("prelabel service: rows of the same events (before the probes)",
                          f"{pre['items']:,} of {pre['of']:,}, {pre['at_s']:.0f} s after the "
                          "fill began", "")
        visible = probes["visible"]
        table.add_row(f"accept → visible: {probes['packages']} packages of "
                      f"{probes['package_items']} at {probes['rate']:g}/s, p50 / p99 (max)",
                      f"{visible['p50_s'] * 1000:,.0f} / {visible['p99_s'] * 1000:,.0f} ms "
                      f"({visible['max_s'] * 1000:,.0f})",
                      f"p99 ≤ {VISIBLE_TARGET_S:.0f} s"
                      + _verdict(visible["p99_s"] <= VISIBLE_TARGET_S))
        stamped = probes["stored_minus_accepted"]
        table.add_row("  the same, stamped (stored_at − event time), p50 / p99",
                      f"{stamped['p50_s'] * 1000:,.0f} / {stamped['p99_s'] * 1000:,.0f} ms", "")
        if probes["lost"]:
            table.add_row("  probes never seen (120 s)", str(probes["lost"]), "")
        console.print(table)

        raw = (ours["raw_before"]["docs_per_s"] + ours["raw_after"]["docs_per_s"]) / 2
        table = Table(title="Exports of the job vs a raw pymongo read of the same documents")
        for column in ("", "items", "seconds", "items/s", "vs raw", "MB", "RSS before → peak",
                       "targets"):
            table.add_column(column, justify="left" if not column else "right")
        for key in ("raw_before", "raw_after"):
            r = ours[key]
            table.add_row(f"raw read ({key.split('_')[1]})", f"{r['docs']:,}",
                          f"{r['seconds']:.1f}", f"{r['docs_per_s']:,.0f}", "", "", "", "")
        for e in ours["exports"]:
            ratio = e["items_per_s"] / raw
            table.add_row(
                f"export {e['format']}", f"{e['items']:,}", f"{e['seconds']:.1f}",
                f"{e['items_per_s']:,.0f}", f"{ratio:.0%}", f"{e['bytes'] / 1e6:,.1f}",
                f"{e['rss_before_mb']:.0f} → {e['rss_peak_mb']:.0f} MB",
                f"≥ 50%{_verdict(ratio >= RATIO_TARGET)} · ≤ {RSS_TARGET_MB:.0f} MB"
                f"{_verdict(e['rss_peak_mb'] <= RSS_TARGET_MB)}")
        console.print(table)
        if ours.get("code_newer_than_process"):
            console.print(f"[yellow]note: the export service ran code older than the checkout "
                          f"(changed since it started: "
                          f"{', '.join(ours['code_newer_than_process'])})[/yellow]")
    if ls:
        table = Table(title="JSON export side by side: LabelOps (manifest) vs Label Studio "
                            f"{ls['version']} (exportType=JSON)")
        for column in ("system", "tasks / items", "import", "export", "items/s", "MB",
                       "server RSS before → peak"):
            table.add_column(column)
        if ours:
            e = ours["exports"][0]
            table.add_row("LabelOps manifest", f"{e['items']:,}", "(events, above)",
                          f"{e['seconds']:.1f} s", f"{e['items_per_s']:,.0f}",
                          f"{e['bytes'] / 1e6:,.1f}",
                          f"{e['rss_before_mb']:.0f} → {e['rss_peak_mb']:.0f} MB")
        x = ls["export"]
        table.add_row(
            "Label Studio JSON", f"{ls['tasks']:,}",
            f"{ls['import_s']:.0f} s ({ls['import_tasks_per_s']:,.0f}/s"
            f"{', capped' if ls['import_capped'] else ''})",
            f"{x['seconds']:.1f} s" if x.get("finished") else f"— ({x.get('error')})",
            f"{x['tasks_per_s']:,.0f}" if x.get("finished") else "—",
            f"{x.get('bytes', 0) / 1e6:,.1f}",
            f"{ls['rss_before_mb']:.0f} → {ls['rss_peak_mb']:.0f} MB")
        console.print(table)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100,
                        help="items per PackageAccepted event in the fill")
    parser.add_argument("--probes", type=int, default=200,
                        help="packages published one by one for accept → visible")
    parser.add_argument("--probe-size", type=int, default=50)
    parser.add_argument("--probe-rate", type=float, default=5.0, help="probe packages per s")
    parser.add_argument("--ls-tasks", type=int, default=None, help="default: --items")
    parser.add_argument("--ls-import-cap", type=float, default=1800,
                        help="seconds of Label Studio import at most")
    parser.add_argument("--ls-export-cap", type=float, default=3600,
                        help="seconds of Label Studio export at most")
    parser.add_argument("--skip-label-studio", action="store_true")
    parser.add_argument("--only-label-studio", action="store_true")
    parser.add_argument("--prelabel-wait", type=float, default=300,
                        help="seconds to wait for the prelabel service to take in the bench's "
                             "events before the clean-up (0: do not wait)")
    parser.add_argument("--keep", action="store_true", help="keep the bench's job data")
    parser.add_argument("--clean-up", action="store_true",
                        help="only remove what earlier runs left (every bench-export-* job)")
    args = parser.parse_args()
    if args.ls_tasks is None:
        args.ls_tasks = args.items
    return args


def main() -> None:
    args = parse_args()

    def say(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")

    if args.clean_up:
        remove_bench_data(servers.stack_env(), {"job_id": {"$regex": "^bench-export-"}}, say)
        return
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
        run["label_studio"] = label_studio_side(args, say)
    run["total_s"] = round(time.perf_counter() - began, 1)
    print_tables(run)
    console.print(f"total {run['total_s']:.0f}s")
    path = append_run("export", run)
    console.print(f"appended to {path}")


if __name__ == "__main__":
    main()
