"""Dataset service benchmark: a large manifest import (items/s, peak RSS of the service,
ratio to the raw bulk-insert rate of the same database in the same run) and get-items-by-ids
latency for a package's worth of ids.

    .venv/bin/python -m bench.dataset_import            # 1,000,000 lines
    LABELOPS_BENCH_LINES=100000 .venv/bin/python -m bench.dataset_import

It uses the local stack (``labelops infra``) and restarts the dataset service so its peak
RSS (VmHWM) is this import's. Prints a table and appends the run to
bench/results/dataset_import.json.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from minio import Minio
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

from labelops.dataset.v1 import dataset_pb2 as dpb
from labelops_cli.client import Clients, connect
from labelops_cli.services import ServiceProcesses, wait_healthy
from labelops_cli.stack.paths import labelops_home
from labelops_cli.stack.servers import up_infra
from labelops_shared import auth, storage

RESULTS = Path(__file__).parent / "results"
LINES = int(os.environ.get("LABELOPS_BENCH_LINES", "1000000"))
OBJECTS = int(os.environ.get("LABELOPS_BENCH_OBJECTS", "100000"))
RAW_DOCS = 200_000
GET_ROUNDS = 100
WORKSPACE = "bench"  # the bench's uploads go under its folder of the uploads bucket
console = Console()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def raw_insert_rate(url: str) -> float:
    """Bulk inserts of plain documents into a scratch database: the backend's own rate."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
    db = client[f"bench_raw_{uuid.uuid4().hex[:6]}"]
    try:
        started = time.perf_counter()
        for first in range(0, RAW_DOCS, 1000):
            await db.raw.insert_many([{"seq": n, "text": "y" * 60}
                                      for n in range(first, first + 1000)], ordered=False)
        return RAW_DOCS / (time.perf_counter() - started)
    finally:
        await client.drop_database(db.name)
        await client.close()


def write_manifest(path: Path) -> int:
    labels = ("positive", "negative", "neutral")
    with path.open("w") as out:
        for n in range(LINES):
            out.write(json.dumps({"data": {"source": f"review number {n}: the product was fine",
                                           "label": labels[n % 3]}}) + "\n")
    return path.stat().st_size


def tiny_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def folder_scan(client: Clients, minio: Minio) -> tuple[float, int]:
    """Upload OBJECTS small PNGs under one prefix, then time the scan (objects/s)."""
    prefix = storage.upload_key(WORKSPACE, "bench-scan", uuid.uuid4().hex)
    body = tiny_png()

    def put(n: int) -> None:
        minio.put_object(storage.UPLOADS_BUCKET, f"{prefix}/{n:07d}.png", io.BytesIO(body),
                         len(body))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, range(OBJECTS)))
    dataset = client.dataset.CreateDataset(dpb.CreateDatasetRequest(
        name=f"bench-scan-{uuid.uuid4().hex[:8]}", kind=dpb.DATASET_KIND_IMAGE))
    started = time.perf_counter()
    client.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{prefix}/"))
    version = wait_version(client, dataset.id)
    rate = version.item_count / (time.perf_counter() - started)
    client.dataset.DeleteDataset(dpb.DeleteDatasetRequest(dataset_id=dataset.id))
    minio_prefix_cleanup(minio, prefix)
    return rate, version.item_count


def minio_prefix_cleanup(minio: Minio, prefix: str) -> None:
    from minio.deleteobjects import DeleteObject

    doomed = (DeleteObject(o.object_name) for o in minio.list_objects(
        storage.UPLOADS_BUCKET, prefix=prefix + "/", recursive=True) if o.object_name)
    for error in minio.remove_objects(storage.UPLOADS_BUCKET, doomed):
        console.print(f"[yellow]not removed:[/yellow] {error}")


def wait_version(client: Clients, dataset_id: str) -> dpb.DatasetVersion:
    while True:
        version = client.dataset.GetVersion(dpb.GetVersionRequest(dataset_id=dataset_id,
                                                                  version=1))
        if version.state == dpb.VERSION_STATE_FAILED:
            raise SystemExit(f"import failed: {version.error}")
        if version.state == dpb.VERSION_STATE_READY:
            return version
        time.sleep(0.5)


def main() -> None:
    env = up_infra()
    os.environ.update(env)
    processes = ServiceProcesses(Path(labelops_home()))
    processes.stop("dataset")
    pid = processes.start("dataset", env)
    wait_healthy(processes, ["dataset"])
    raw = asyncio.run(raw_insert_rate(env["LABELOPS_MONGO_URL"]))

    minio = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                  secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "bench.manifest"
        size = write_manifest(manifest)
        key = storage.upload_key(WORKSPACE, "bench", uuid.uuid4().hex, "bench.manifest")
        minio.fput_object(storage.UPLOADS_BUCKET, key, str(manifest))
    client = connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject="bench",
                                      workspace=WORKSPACE, roles=[auth.ANNOTATION_ADMIN]))
    dataset = client.dataset.CreateDataset(dpb.CreateDatasetRequest(
        name=f"bench-{uuid.uuid4().hex[:8]}", kind=dpb.DATASET_KIND_TEXT))
    started = time.perf_counter()
    client.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{key}"))
    while True:
        version = client.dataset.GetVersion(dpb.GetVersionRequest(dataset_id=dataset.id,
                                                                  version=1))
        if version.state != dpb.VERSION_STATE_IMPORTING:
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    if version.state != dpb.VERSION_STATE_READY:
        raise SystemExit(f"import failed: {version.error}")
    rate = version.item_count / elapsed
    rss = peak_rss_mb(pid)

    latencies = []
    for _ in range(GET_ROUNDS):
        ids = [f"{dataset.id}-v0001-{random.randint(1, LINES):09d}" for _ in range(200)]
        t = time.perf_counter()
        got = client.dataset.GetItems(dpb.GetItemsRequest(dataset_id=dataset.id, item_ids=ids))
        latencies.append((time.perf_counter() - t) * 1000)
        assert len(got.items) == len(set(ids))
    scan_rate, scanned = folder_scan(client, minio) if OBJECTS else (0.0, 0)
    # The bench's data goes, so the local database does not grow run after run.
    client.dataset.DeleteDataset(dpb.DeleteDatasetRequest(dataset_id=dataset.id), timeout=900)
    minio.remove_object(storage.UPLOADS_BUCKET, key)
    client.close()
    latencies.sort()

    table = Table(title=f"Dataset import: {LINES:,} lines ({size / 1e6:.0f} MB manifest)")
    for column in ("figure", "value", "reference", "ratio / target"):
        table.add_column(column)
    table.add_row("raw bulk insert (same database, same run)", f"{raw:,.0f} docs/s", "", "")
    table.add_row("manifest import", f"{rate:,.0f} items/s", f"{raw:,.0f} docs/s raw",
                  f"{rate / raw:.0%} (target ≥ 50%)")
    table.add_row("import wall time", f"{elapsed:.1f} s", "", "")
    table.add_row("dataset service peak RSS", f"{rss:.0f} MB", "", "target ≤ 300 MB")
    table.add_row("GetItems 200 ids p50", f"{statistics.median(latencies):.1f} ms", "", "")
    table.add_row("GetItems 200 ids p99",
                  f"{latencies[int(len(latencies) * 0.99) - 1]:.1f} ms", "", "")
    if scanned:
        table.add_row(f"folder scan ({scanned:,} PNG objects, header read each)",
                      f"{scan_rate:,.0f} objects/s", "", "")
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "dataset_import.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append({
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "settings": {"items": LINES, "objects": OBJECTS},
        "raw_insert_docs_per_s": raw, "manifest_bytes": size,
        "import_items_per_s": rate, "import_s": elapsed, "dataset_peak_rss_mb": rss,
        "get_items_200": {"p50_ms": statistics.median(latencies),
                          "p99_ms": latencies[int(len(latencies) * 0.99) - 1]},
        "folder_scan": {"objects": scanned, "objects_per_s": scan_rate}})
    path.write_text(json.dumps(runs, indent=2) + "\n")
    console.print(f"appended to {path}")


if __name__ == "__main__":
    main()
