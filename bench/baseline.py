"""The raw limits of this machine's stack: the baseline later benchmarks are ratios to.

    .venv/bin/python -m bench.baseline        (or ./dev bench)

Brings up a fresh stack with the stack module (a temporary LABELOPS_HOME on free loopback
ports, the installed binaries reused; the default stack is left alone) and measures:

- cold start: ``up_infra()`` with nothing running and empty data directories;
- Kafka produce msgs/s (aiokafka, acks=all, idempotent, 1 KiB values) and consume msgs/s;
- Mongo-API bulk inserts docs/s (insert_many, batches of 1000) and point updates/s
  (update_one by a secondary indexed field and by _id, concurrent writers);
- MinIO 4 KiB object puts/s (8 threads);
- warm start: ``up_infra()`` again while running; restart: ``down_infra()`` then ``up_infra()``
  with the data present.

Every loop is bounded in count and in time; everything is on 127.0.0.1 (MONGO_URL, when set,
is measured instead of FerretDB). Prints a table and writes bench/results/baseline.json.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import platform
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def _setting(name: str, default: int) -> int:
    return int(os.environ.get(f"BENCH_{name}", default))


KAFKA_MESSAGES = _setting("KAFKA_MESSAGES", 50_000)
KAFKA_MESSAGE_BYTES = 1024
MONGO_DOCS = _setting("MONGO_DOCS", 100_000)
MONGO_BATCH = 1000
MONGO_UPDATES = _setting("MONGO_UPDATES", 5_000)
MONGO_WRITERS = 8
MINIO_OBJECTS = _setting("MINIO_OBJECTS", 3_000)
MINIO_OBJECT_BYTES = 4096
MINIO_THREADS = 8
SMALL_COLLECTION_DOCS = 1000
PHASE_SECONDS = _setting("PHASE_SECONDS", 25)  # time bound of every measuring loop
UPDATE_SECONDS = _setting("UPDATE_SECONDS", 15)  # … and of each point-update loop

console = Console(width=None if sys.stdout.isatty() else 120)


# -- a throw-away stack ------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


@contextmanager
def scratch_stack() -> Iterator[Path]:
    """LABELOPS_HOME and the server ports pointed at a temporary home and free ports for the
    duration; the servers started there are stopped and the home removed afterwards."""
    from labelops_cli.stack import servers

    home = Path(tempfile.mkdtemp(prefix="labelops-bench-"))
    names = ["KAFKA", "KAFKA_CONTROLLER", "FERRETDB", "MINIO", "MINIO_CONSOLE"]
    overrides = {"LABELOPS_HOME": str(home), "LABELOPS_INFRA": "native",
                 **{f"LABELOPS_{n}_PORT": str(p) for n, p in zip(names, _free_ports(5),
                                                                 strict=True)}}
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield home
    finally:
        try:
            servers.down_infra()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            shutil.rmtree(home, ignore_errors=True)


# -- Kafka ---------------------------------------------------------------------------------


async def kafka(bootstrap: str) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    payload = os.urandom(KAFKA_MESSAGE_BYTES // 2).hex().encode()
    sent, started = 0, time.perf_counter()
    deadline = started + PHASE_SECONDS
    try:
        while sent < KAFKA_MESSAGES and time.perf_counter() < deadline:
            await producer.send(topic, payload, key=f"job-{sent % 64}".encode())
            sent += 1
        await producer.flush()
        produce_s = time.perf_counter() - started
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 << 20, fetch_max_bytes=16 << 20)
    await consumer.start()
    seen, started = 0, time.perf_counter()
    deadline = started + PHASE_SECONDS
    try:
        while seen < sent and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen += sum(len(records) for records in batch.values())
        consume_s = time.perf_counter() - started
    finally:
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return {
        "kafka_produce": (sent / produce_s, "msgs/s",
                          f"{sent:,} × 1 KiB, acks=all, idempotent, linger 5 ms, 3 partitions"),
        "kafka_consume": (seen / consume_s, "msgs/s", f"{seen:,} of {sent:,} read back, one "
                          "consumer, no group"),
    }


# -- Mongo API -----------------------------------------------------------------------------


async def mongo(url: str) -> dict[str, Any]:
    from pymongo import AsyncMongoClient
    from pymongo.errors import OperationFailure

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url, maxPoolSize=MONGO_WRITERS * 2, retryWrites=False)
    info = await client.admin.command("buildInfo")
    backend = "FerretDB" if "ferretdbVersion" in info else f"MongoDB {info.get('version')}"
    coll = client["labelops_bench"][f"items_{uuid.uuid4().hex[:8]}"]
    await coll.create_index("seq", unique=True)
    try:
        inserted, started = 0, time.perf_counter()
        deadline = started + PHASE_SECONDS
        while inserted < MONGO_DOCS and time.perf_counter() < deadline:
            count = min(MONGO_BATCH, MONGO_DOCS - inserted)
            await coll.insert_many([{"seq": n, "job": "j1", "state": "open", "text": "y" * 100}
                                    for n in range(inserted, inserted + count)], ordered=False)
            inserted += count
        insert_rate = inserted / (time.perf_counter() - started)

        async def updates(filters: list[dict[str, Any]],
                          coll: Any = coll) -> tuple[float, int]:
            queue = iter(filters)
            done = 0
            end = time.perf_counter() + UPDATE_SECONDS

            async def writer() -> None:
                nonlocal done
                for flt in queue:
                    if time.perf_counter() > end:
                        return
                    for attempt in range(8):  # SQLITE_BUSY under contention is transient
                        try:
                            await coll.update_one(flt, {"$set": {"state": "done"}})
                            break
                        except OperationFailure as exc:
                            if "SQLITE_BUSY" not in str(exc) or attempt == 7:
                                raise
                            await asyncio.sleep(0.01 * 2**attempt)
                    done += 1

            began = time.perf_counter()
            await asyncio.gather(*(writer() for _ in range(MONGO_WRITERS)))
            return done / (time.perf_counter() - began), done

        step = max(1, inserted // max(1, MONGO_UPDATES))
        by_field, n_field = await updates([{"seq": (n * step) % inserted}
                                           for n in range(MONGO_UPDATES)])
        ids = [doc["_id"] async for doc in coll.find({}, {"_id": 1}).limit(MONGO_UPDATES)]
        by_id, n_id = await updates([{"_id": i} for i in ids])

        # The same on a small collection: FerretDB v1 on SQLite scans the whole table on
        # every update (its _id index does not match the query's expression), so point
        # updates cost in proportion to the collection's size.
        small = client["labelops_bench"][f"small_{uuid.uuid4().hex[:8]}"]
        await small.insert_many([{"seq": n, "state": "open", "text": "y" * 100}
                                 for n in range(SMALL_COLLECTION_DOCS)])
        small_ids = [doc["_id"] async for doc in small.find({}, {"_id": 1})]
        by_id_small, n_small = await updates(
            [{"_id": small_ids[n % len(small_ids)]} for n in range(MONGO_UPDATES)], small)
        await small.drop()
    finally:
        await coll.drop()
        await client.close()
    return {
        "mongo_bulk_insert": (insert_rate, "docs/s", f"{inserted:,} docs, insert_many × "
                              f"{MONGO_BATCH}, {backend}"),
        "mongo_point_update_indexed_field": (by_field, "updates/s", f"{n_field:,} update_one "
                                             f"by a unique indexed field, {MONGO_WRITERS} "
                                             f"concurrent, {inserted:,} docs"),
        "mongo_point_update_by_id": (by_id, "updates/s", f"{n_id:,} update_one by _id, "
                                     f"{MONGO_WRITERS} concurrent, {inserted:,} docs"),
        "mongo_point_update_by_id_small": (by_id_small, "updates/s", f"{n_small:,} update_one "
                                           f"by _id, {MONGO_WRITERS} concurrent, "
                                           f"{SMALL_COLLECTION_DOCS:,} docs"),
    }


# -- MinIO ---------------------------------------------------------------------------------


def minio(env: dict[str, str]) -> dict[str, Any]:
    from minio import Minio

    client = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                   secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    bucket, prefix = "labelops-uploads", f"bench/{uuid.uuid4().hex[:8]}"
    body = os.urandom(MINIO_OBJECT_BYTES)
    deadline = time.perf_counter() + PHASE_SECONDS

    def put(n: int) -> bool:
        if time.perf_counter() > deadline:
            return False
        client.put_object(bucket, f"{prefix}/{n:06d}", io.BytesIO(body), len(body))
        return True

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=MINIO_THREADS) as pool:
        done = sum(pool.map(put, range(MINIO_OBJECTS)))
    rate = done / (time.perf_counter() - started)
    return {"minio_put_4kib": (rate, "puts/s", f"{done:,} objects of 4 KiB, "
                               f"{MINIO_THREADS} threads")}


# -- the run -------------------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so the scratch stack is stopped on the way out


def main() -> None:
    from labelops_cli.stack import servers

    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    figures: dict[str, tuple[float, str, str]] = {}
    began = time.perf_counter()
    with scratch_stack():
        console.rule("cold start: fresh LABELOPS_HOME, binaries cached, nothing running")
        t = time.perf_counter()
        env = servers.up_infra()
        figures["stack_cold_start"] = (time.perf_counter() - t, "s",
                                       "up_infra(): empty data, format Kafka, start 3, buckets")
        if not os.environ.get("MONGO_URL"):
            assert all(env[key].split("//")[-1].startswith("127.0.0.1:") for key in (
                "LABELOPS_KAFKA_BOOTSTRAP", "LABELOPS_MINIO_ENDPOINT", "LABELOPS_MONGO_URL"))

        console.rule(f"Kafka: {KAFKA_MESSAGES:,} messages of 1 KiB")
        figures.update(asyncio.run(kafka(env["LABELOPS_KAFKA_BOOTSTRAP"])))
        console.rule(f"Mongo API: {MONGO_DOCS:,} inserts, point updates (≤ {UPDATE_SECONDS}s "
                     "each)")
        figures.update(asyncio.run(mongo(env["LABELOPS_MONGO_URL"])))
        console.rule(f"MinIO: {MINIO_OBJECTS:,} puts of 4 KiB")
        figures.update(minio(env))

        console.rule("warm start: up_infra() while running")
        t = time.perf_counter()
        servers.up_infra()
        figures["stack_warm_start"] = (time.perf_counter() - t, "s",
                                       "second up_infra(): every server reused")
        console.rule("restart: down_infra(), then up_infra() with the data present")
        t = time.perf_counter()
        servers.down_infra()
        stopped = time.perf_counter() - t
        t = time.perf_counter()
        servers.up_infra()
        figures["stack_restart_with_data"] = (time.perf_counter() - t, "s",
                                              f"after a clean stop (which took {stopped:.1f}s)")
    total = time.perf_counter() - began

    table = Table("measure", "value", "unit", "how", title="LabelOps stack baseline")
    for name, (value, unit, how) in figures.items():
        table.add_row(name, f"{value:,.2f}" if unit == "s" else f"{value:,.0f}", unit, how)
    console.print(table)
    console.print(f"total {total:.0f}s")

    from labelops_cli.stack import versions

    RESULTS.mkdir(exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "versions": {"kafka": versions.KAFKA_VERSION, "ferretdb": versions.FERRETDB_VERSION,
                     "minio": versions.MINIO_RELEASE},
        "mongo": "MONGO_URL" if os.environ.get("MONGO_URL") else "FerretDB (SQLite)",
        "results": {name: {"value": round(value, 3), "unit": unit, "how": how}
                    for name, (value, unit, how) in figures.items()},
        "total_s": round(total, 1),
    }
    (RESULTS / "baseline.json").write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"written {RESULTS / 'baseline.json'}")


if __name__ == "__main__":
    main()
