"""Scale-out benchmark: the same crowd on one replica of every service, then on two, on a
three-node Kafka cluster.

    .venv/bin/python -m bench.scale_out                          # 20,000 items, 60 s per step
    .venv/bin/python -m bench.scale_out --items 4000 --seconds 20

Starts its own Kafka cluster (``labelops_cli.stack.cluster``: three KRaft nodes on ports
29092-29094, every topic with three copies) and its own service replicas
(``labelops_cli.replicas``, gRPC 29051-29065), with databases of their own on the stack's
FerretDB (``labelops_scalebench<N>_<service>``, dropped afterwards) and the stack's MinIO
buckets. The stack's broker and services are not used, started or stopped.

For each step (``--replicas``, default 1 then 2): start that many replicas of every service,
import ``--items`` text reviews, publish a ``label → check → accept`` job with packages of
``--package-size``, wait until every replica can claim (a replica learns of packages another
cut at its next board rebuild, every 10 s), then ``--labelers`` labelers (claim, read, answer
every item, submit), ``--checkers`` checkers and ``--accepters`` accepters (claim, read,
pass) work for ``--seconds``, each an asyncio gRPC client dealt out over the replicas (worker
n prefers replica n mod R, and fails over to the others). Reported per step: items per
second through each stage, p50/p99 of claim and save, errors, the CPU of every process (each
replica, each broker, FerretDB, this client) and of the whole machine; then why throughput
stops where it does. The run is appended to bench/results/scale_out.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    ms_pair,
    summary,
)
from bench.soak import Stage, work_the_job
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import connect
from labelops_cli.replicas import ReplicaSet, cluster_env
from labelops_cli.services import SERVICES, ServiceProcesses
from labelops_cli.stack import cluster, paths, servers
from labelops_shared import auth

SETTLE_SECONDS = 12.0  # one claim-board rebuild (10 s) and a margin
_SERVICES = ("dataset", "jobs", "assignment", "prelabel", "export")


class MachineCpu:
    """Busy time of the whole machine (every process, ours or not) between two points."""

    def __init__(self) -> None:
        self.start = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle and iowait
        return sum(fields) - idle, sum(fields)

    def busy_cores(self) -> float:
        busy, total = self._now()
        share = (busy - self.start[0]) / max(total - self.start[1], 1)
        return round(share * (os.cpu_count() or 1), 2)


def process_pids(replicas: ReplicaSet) -> dict[str, int | None]:
    """The processes whose CPU is reported: the replicas, the cluster's nodes, FerretDB and
    (not part of the bench, but sharing its cores and its FerretDB) the stack's own broker
    and services."""
    pids: dict[str, int | None] = dict(replicas.pids())
    pids.update({one.name: cluster.broker_pid(one.n) for one in cluster.nodes()})
    pids["ferretdb"] = servers.server_pid("ferretdb")
    stack = ServiceProcesses(paths.labelops_home())
    pids.update({f"stack {name}": stack.pid(name) for name in SERVICES})
    pids["stack kafka"] = servers.server_pid("kafka")
    return pids


async def crowd(env: dict[str, str], replicas: ReplicaSet, job: BenchJob,
                args: argparse.Namespace) -> dict[str, Any]:
    def workers(role: str, count: int) -> list[Worker]:
        return [Worker(env, f"scale-{role}-{n}", role,
                       replicas.target("assignment", prefer=n % replicas.replicas + 1))
                for n in range(count)]

    labelers = workers(auth.LABELER, args.labelers)
    checkers, accepters = workers(auth.CHECKER, args.checkers), workers(auth.ACCEPTER,
                                                                       args.accepters)
    labeling, checking, accepting = Timings(), Stage(), Stage()
    cpu, machine = Cpu(process_pids(replicas)), MachineCpu()
    started = time.perf_counter()
    deadline = started + args.seconds

    await work_the_job(job, labelers, checkers, accepters, deadline,
                       labeling, checking, accepting)
    wall = time.perf_counter() - started
    cores = cpu.cores()
    busy = machine.busy_cores()

    def stage(done: Stage) -> dict[str, Any]:
        return {"packages": done.packages, "items": done.items, "items_per_s": done.items / wall,
                "claim": summary(done.claims), "decide": summary(done.decisions),
                "idle_polls": done.idle_polls, "errors": dict(done.errors)}

    return {
        "seconds": wall,
        "label": {"packages": labeling.packages, "items": labeling.items,
                  "items_per_s": labeling.items / wall, "claim": summary(labeling.claim),
                  "get": summary(labeling.get), "save": summary(labeling.save),
                  "submit": summary(labeling.submit), "errors": dict(labeling.errors),
                  "error_samples": labeling.error_samples,
                  "out_of_packages": labeling.out_of_packages},
        "check": stage(checking),
        "accept": stage(accepting),
        "cpu_cores": cores,
        "machine_busy_cores": busy,
        "measured_cores": round(sum(cores.values()), 2),
        "other_cores": round(max(0.0, busy - sum(cores.values())), 2),
    }


def run_step(count: int, args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """One step: ``count`` replicas of every service, a fresh job, the crowd."""
    replicas = ReplicaSet(count, cluster_env(), db_prefix=f"labelops_scalebench{count}")
    env = replicas.infra_env
    replicas.stop()
    replicas.drop_databases()
    found: dict[str, Any] = {"replicas": count}
    admin = None
    dataset_id = job_id = None
    try:
        began = time.perf_counter()
        replicas.start()
        found["start_s"] = round(time.perf_counter() - began, 1)
        say(f"{count} replica(s) of each service serving after {found['start_s']:.0f}s")
        admin = connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject="scale-admin",
                                         workspace=WORKSPACE, ttl_seconds=TOKEN_TTL,
                                         roles=[auth.ANNOTATION_ADMIN, auth.WORKSPACE_ADMIN]),
                        replicas.targets())
        dataset_id, found["dataset_import_s"] = import_dataset(admin, env, args.items)
        say(f"imported {args.items:,} items in {found['dataset_import_s']:.1f}s; publishing")
        job_id, packaging = build_packages(admin, env, dataset_id, args.items,
                                           args.package_size, None,
                                           workflow=jpb.WORKFLOW_LABEL_CHECK_ACCEPT)
        found["packaging_s"] = packaging["all_packages_s"]
        job = BenchJob(job_id, packaging["packages"])
        time.sleep(args.settle)
        say(f"{job.packages:,} packages; {args.labelers} labelers, {args.checkers} checkers, "
            f"{args.accepters} accepters for {args.seconds:.0f}s")
        found.update(asyncio.run(crowd(env, replicas, job, args)))
        lab = found["label"]
        say(f"  labeled {lab['items_per_s']:.1f} items/s, checked "
            f"{found['check']['items_per_s']:.1f}, accepted {found['accept']['items_per_s']:.1f}"
            f"; claim p99 {lab['claim']['p99_ms']:.0f} ms; machine busy "
            f"{found['machine_busy_cores']:.2f} cores")
    finally:
        if admin is not None:
            if not args.keep:
                clean_up(admin, job_id, dataset_id)
            admin.close()
        replicas.stop()
        if not args.keep:
            replicas.drop_databases()
    return found


def ceiling(steps: list[dict[str, Any]], cpus: int) -> dict[str, Any]:
    """What limits the last step, from its figures: how busy the machine was, who used
    the CPU, and how the throughput changed from the first step."""
    first, last = steps[0], steps[-1]
    cores = last["cpu_cores"]
    services = sum(v for k, v in cores.items() if k.rsplit("-", 1)[0] in _SERVICES)
    brokers = sum(v for k, v in cores.items() if k.startswith("kafka-cluster"))
    stack = sum(v for k, v in cores.items() if k.startswith("stack "))
    busy = last["machine_busy_cores"]
    found = {
        "cpus": cpus, "machine_busy_cores": busy,
        "machine_busy_share": round(busy / cpus, 2),
        "ferretdb_cores": cores.get("ferretdb", 0.0), "services_cores": round(services, 2),
        "kafka_cores": round(brokers, 2), "client_cores": cores.get("bench client", 0.0),
        "stack_cores": round(stack, 2),
        "other_cores": round(max(0.0, busy - last["measured_cores"]), 2),
        "label_speedup": round(last["label"]["items_per_s"]
                               / max(first["label"]["items_per_s"], 1e-9), 2),
    }
    saturated = busy >= 0.85 * cpus
    share = found["ferretdb_cores"] / max(busy, 1e-9)
    lines = [
        f"{last['replicas']} replicas labeled {found['label_speedup']:.2f}× the items per "
        f"second of {first['replicas']}.",
        f"In that step the machine was busy {busy:.2f} of its {cpus} cores"
        + (" (saturated)" if saturated else "") + f": FerretDB {found['ferretdb_cores']:.2f} "
        f"({share:.0%}), the services {found['services_cores']:.2f}, the three brokers "
        f"{found['kafka_cores']:.2f}, this client {found['client_cores']:.2f}, the stack's own "
        f"broker and services {found['stack_cores']:.2f}, other processes "
        f"{found['other_cores']:.2f} (FerretDB also serves the stack's services: its figure "
        "holds their writes when they are busy).",
        "Every claim, save, submit and decision is a write to the one FerretDB process, "
        "whose SQLite backend keeps one file per database and takes one writer at a time "
        "per file (both assignment replicas write to the same one), and the three brokers "
        "replicate every event on the same cores. A second replica adds gRPC and handler "
        "capacity, not CPU or database capacity: "
        + ("with the cores already busy, it only shares them (and two claim boards, whose "
           "tickets collide more often)." if saturated else
           "where the cores are not saturated, the single SQLite writer (database time per "
           "write, not CPU) bounds the rate."),
        "Scaling out pays where replicas get cores of their own and the database scales "
        "with them (MongoDB replica set or sharded cluster, see docs/deployment.md).",
    ]
    # the bench's own processes and the stack's are measured; anything else was not asked
    noise = max(s.get("other_cores", 0.0) + sum(
        v for k, v in s["cpu_cores"].items() if k.startswith("stack ")) for s in steps)
    found["noise_cores"] = round(noise, 2)
    if noise > 0.2:
        lines.append(f"Caution: processes outside the bench used up to {noise:.2f} cores in a "
                     "step, so these figures are not those of a quiet machine.")
    found["explanation"] = " ".join(lines)
    return found


def print_tables(run: dict[str, Any]) -> None:
    steps = run["steps"]
    settings = run["settings"]
    table = Table(title=f"scale-out: {settings['labelers']} labelers, {settings['checkers']} "
                        f"checkers, {settings['accepters']} accepters for "
                        f"{settings['seconds']:.0f}s on {settings['items']:,} items "
                        f"(packages of {settings['package_size']}), 3 Kafka nodes")
    table.add_column("figure")
    for step in steps:
        table.add_column(f"{step['replicas']} replica{'s' if step['replicas'] > 1 else ''}",
                         justify="right")
    if len(steps) > 1:
        table.add_column("change", justify="right")

    def row(label: str, values: list[float], fmt: str = "{:,.1f}") -> None:
        change = []
        if len(values) > 1 and values[0]:
            change = [f"{values[-1] / values[0]:.2f}×"]
        table.add_row(label, *(fmt.format(v) for v in values), *change)

    for name in ("label", "check", "accept"):
        row(f"{name}: items/s", [s[name]["items_per_s"] for s in steps])
    row("claim (label) p99 ms", [s["label"]["claim"]["p99_ms"] for s in steps], "{:,.0f}")
    row("save p99 ms", [s["label"]["save"]["p99_ms"] for s in steps], "{:,.0f}")
    table.add_row("claim / save p50 / p99 ms",
                  *(f"{ms_pair(s['label']['claim'])}  {ms_pair(s['label']['save'])}"
                    for s in steps), *([""] if len(steps) > 1 else []))
    row("errors", [float(_errors(s)) for s in steps], "{:,.0f}")
    row("machine busy (cores)", [s["machine_busy_cores"] for s in steps], "{:.2f}")
    console.print(table)

    cpu = Table(title="CPU (cores, 1.0 = one core busy) of each process during the crowd")
    cpu.add_column("process")
    for step in steps:
        cpu.add_column(f"{step['replicas']} replica{'s' if step['replicas'] > 1 else ''}",
                       justify="right")
    names = sorted({n for s in steps for n in s["cpu_cores"]}, key=_process_order)
    for name in names:
        cpu.add_row(name, *(f"{s['cpu_cores'][name]:.2f}" if name in s["cpu_cores"] else "—"
                            for s in steps))
    cpu.add_row("all of the above", *(f"{s['measured_cores']:.2f}" for s in steps))
    cpu.add_row("whole machine", *(f"{s['machine_busy_cores']:.2f}" for s in steps))
    console.print(cpu)
    console.print(f"[bold]Ceiling:[/bold] {run['ceiling']['explanation']}")


def _errors(step: dict[str, Any]) -> int:
    return sum(int(n) for stage in ("label", "check", "accept")
               for n in step[stage]["errors"].values())


def _process_order(name: str) -> tuple[int, str]:
    kind = name.rsplit("-", 1)[0]
    order = [*_SERVICES, "kafka-cluster", "ferretdb", "bench client"]  # then the stack's
    return (order.index(kind) if kind in order else len(order), name)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="items per step's job")
    parser.add_argument("--package-size", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60, help="crowd time per step")
    parser.add_argument("--labelers", type=int, default=16)
    parser.add_argument("--checkers", type=int, default=4)
    parser.add_argument("--accepters", type=int, default=4)
    parser.add_argument("--replicas", default="1,2", help="replicas per step, comma-separated")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                        help="pause between the packages counted and the crowd")
    parser.add_argument("--keep", action="store_true",
                        help="keep the jobs, datasets, databases and the cluster")
    args = parser.parse_args()
    args.replicas = [int(x) for x in str(args.replicas).split(",") if x.strip()]
    return args


def main() -> None:
    args = parse_args()

    def say(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")

    env = servers.stack_env()
    if not servers.mongo_ready(env["LABELOPS_MONGO_URL"]) or not servers.minio_ready(
            env["LABELOPS_MINIO_ENDPOINT"]):
        raise SystemExit("the stack's database and MinIO do not answer: `labelops up` first "
                         "(this bench uses them, and starts its own Kafka cluster and services)")
    began = time.perf_counter()
    cpus = os.cpu_count() or 1
    run: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": cpus, "platform": platform.platform(),
                    "python": platform.python_version()},
        "settings": {**vars(args)},
        "steps": [],
    }
    say("starting a fresh three-node Kafka cluster")
    cluster.down(wipe=True)
    cluster.up()
    try:
        for count in args.replicas:
            run["steps"].append(run_step(count, args, say))
    finally:
        if not args.keep:
            cluster.down(wipe=True)
    run["ceiling"] = ceiling(run["steps"], cpus)
    run["total_s"] = round(time.perf_counter() - began, 1)
    print_tables(run)
    path = append_run("scale_out", run)
    console.print(f"total {run['total_s']:.0f}s; appended to {path}")


if __name__ == "__main__":
    main()
