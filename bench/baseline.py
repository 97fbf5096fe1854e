"""Raw limits of this machine's stack, the baseline every later benchmark is a ratio to.

    ./dev bench            (or: .venv/bin/python -m bench.baseline)

Measures Kafka produce/consume messages/s, Mongo-API bulk inserts and indexed point
updates/s, MinIO small-object puts/s, and the stack's cold and warm start times. Loopback
only; every loop is bounded in count. Prints a table and writes bench/results/baseline.json.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
KAFKA_MESSAGES = int(os.environ.get("BENCH_KAFKA_MESSAGES", 50_000))
MONGO_DOCS = int(os.environ.get("BENCH_MONGO_DOCS", 100_000))
MONGO_UPDATES = int(os.environ.get("BENCH_MONGO_UPDATES", 5_000))
MONGO_SECONDARY_UPDATES = int(os.environ.get("BENCH_MONGO_SECONDARY_UPDATES", 200))
MINIO_OBJECTS = int(os.environ.get("BENCH_MINIO_OBJECTS", 2_000))

console = Console()


async def kafka(bootstrap: str) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"bench.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    payload = b"x" * 1024
    started = time.perf_counter()
    for n in range(KAFKA_MESSAGES):
        await producer.send(topic, payload, key=str(n % 64).encode())
    await producer.flush()
    produce = KAFKA_MESSAGES / (time.perf_counter() - started)
    await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", max_poll_records=2000)
    await consumer.start()
    seen, started = 0, time.perf_counter()
    deadline = started + 120
    while seen < KAFKA_MESSAGES and time.perf_counter() < deadline:
        batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
        seen += sum(len(records) for records in batch.values())
    consume = seen / (time.perf_counter() - started)
    await consumer.stop()
    await admin.delete_topics([topic])
    await admin.close()
    return {"kafka_produce_msgs_per_s": produce, "kafka_consume_msgs_per_s": consume}


async def mongo(url: str) -> dict[str, float]:
    from pymongo import AsyncMongoClient

    from labelops_shared.mongo import retry_busy

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url, maxPoolSize=16)
    coll = client["labelops_bench"][f"docs_{uuid.uuid4().hex[:8]}"]
    await coll.create_index("k")
    started = time.perf_counter()
    for start in range(0, MONGO_DOCS, 1000):
        await coll.insert_many([{"k": n, "job": "j1", "state": "open", "payload": "y" * 100}
                                for n in range(start, min(start + 1000, MONGO_DOCS))])
    inserts = MONGO_DOCS / (time.perf_counter() - started)

    ids = [doc["_id"] async for doc in coll.find({}, {"_id": 1}).limit(MONGO_UPDATES)]

    async def timed(ops: list[dict[str, object]], workers: int) -> float:
        queue = list(ops)

        async def worker() -> None:
            while queue:
                op = queue.pop()
                await retry_busy(lambda op=op: coll.update_one(op, {"$set": {"state": "done"}}))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return len(ops) / (time.perf_counter() - started)

    # By _id: the path every LabelOps write takes. By a secondary index: FerretDB v1 on
    # SQLite does not push such filters down, so this shows what a scan costs.
    by_id = await timed([{"_id": i} for i in ids], workers=8)
    by_field = await timed([{"k": n * 7 % MONGO_DOCS} for n in range(MONGO_SECONDARY_UPDATES)],
                           workers=4)
    await coll.drop()
    await client.close()
    return {"mongo_bulk_insert_docs_per_s": inserts,
            "mongo_point_updates_by_id_per_s": by_id,
            "mongo_point_updates_by_secondary_index_per_s": by_field}


def minio(env: dict[str, str]) -> dict[str, float]:
    from minio import Minio

    client = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                   secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    bucket = "labelops-uploads"
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    body = b"z" * 4096

    def put(n: int) -> None:
        client.put_object(bucket, f"{prefix}/{n:06d}", io.BytesIO(body), len(body))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(MINIO_OBJECTS)))
    puts = MINIO_OBJECTS / (time.perf_counter() - started)
    for obj in client.list_objects(bucket, prefix=prefix + "/", recursive=True):
        client.remove_object(bucket, obj.object_name)
    return {"minio_put_4kib_objects_per_s": puts}


_START_PROBE = """
import json, sys, time
from labelops_cli.stack import servers
t = time.perf_counter(); servers.up_infra(); cold = time.perf_counter() - t
t = time.perf_counter(); servers.up_infra(); warm = time.perf_counter() - t
servers.down_infra()
t = time.perf_counter(); servers.up_infra(); restart = time.perf_counter() - t
servers.down_infra()
print(json.dumps({"stack_cold_start_s": cold, "stack_warm_start_s": warm,
                  "stack_restart_with_data_s": restart}))
"""


def start_times() -> dict[str, float]:
    """Start a second stack on other ports in a fresh LABELOPS_HOME (binaries cached)."""
    with tempfile.TemporaryDirectory(prefix="labelops-bench-") as home:
        env = {**os.environ, "LABELOPS_HOME": home, "LABELOPS_KAFKA_PORT": "39092",
               "LABELOPS_KAFKA_CONTROLLER_PORT": "39093", "LABELOPS_FERRETDB_PORT": "37117",
               "LABELOPS_MINIO_PORT": "39000", "LABELOPS_MINIO_CONSOLE_PORT": "39001"}
        env.pop("MONGO_URL", None)
        out = subprocess.run([sys.executable, "-c", _START_PROBE], env=env, check=True,
                             capture_output=True, text=True, timeout=600)
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    from labelops_cli.stack.servers import up_infra

    env = up_infra()
    figures: dict[str, float] = {}
    console.print("• start times (a second stack on other ports)")
    figures.update(start_times())
    console.print(f"• Kafka: {KAFKA_MESSAGES} messages of 1 KiB")
    figures.update(asyncio.run(kafka(env["LABELOPS_KAFKA_BOOTSTRAP"])))
    console.print(f"• Mongo API: {MONGO_DOCS} inserts, {MONGO_UPDATES} point updates")
    figures.update(asyncio.run(mongo(env["LABELOPS_MONGO_URL"])))
    console.print(f"• MinIO: {MINIO_OBJECTS} puts of 4 KiB")
    figures.update(minio(env))

    table = Table("measure", "value", title="LabelOps stack baseline")
    for name, value in figures.items():
        table.add_row(name, f"{value:,.2f}" if name.endswith("_s") else f"{value:,.0f}")
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "baseline.json").write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "mongo_url": env["LABELOPS_MONGO_URL"].split("@")[-1]},
        "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
