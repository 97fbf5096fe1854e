"""A real crash: an export written by a process of its own (the export writer on the real
database, its upload held back) is killed with SIGKILL half-way; the record it leaves says
"running" and names no object, and the next sweep fails it naming the dead process and
removes its temporary file."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared import mongo, outbox
from labelops_shared.mongo import Document
from services.export.adapters.repository import EXPORTS, INDEXES, Repository
from services.export.writer import SPOOL_PREFIX, ExportWriter

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[3]

# The writer's process: a job with items in the view, one export started; the upload
# never ends, so the process is killed while the export runs.
WRITER = textwrap.dedent("""
    import asyncio, json, os, socket, sys, threading, uuid
    from datetime import UTC, datetime
    from labelops_shared import mongo, outbox, storage
    from services.export.adapters.repository import EXPORTS, JOBS, LABELED, Repository
    from services.export.writer import ExportWriter, object_key

    class Stuck:
        def fput_object(self, *args, **kwargs):
            print("uploading", flush=True)
            threading.Event().wait()

    async def main(url, name):
        client = mongo.connect(url, app_name="export-crash-test")
        db = client[name]
        owner = f"{socket.gethostname()}:{os.getpid()}"
        box = outbox.Outbox(db, owner=owner)
        writer = ExportWriter(Repository(db), box, Stuck(), "/test")
        await db[JOBS].insert_one({"_id": "j1", "workspace": "ws", "name": "crash",
                                   "topics": [], "content": []})
        await db[LABELED].insert_many([{
            "_id": f"j1:i{n:05d}", "job_id": "j1", "item_id": f"i{n:05d}",
            "data_json": json.dumps({"source": f"text {n}"}), "answer_json": "{}",
            "labeler": "lee", "revision": 1, "package_id": "p1"} for n in range(3000)])
        record = {"_id": "crashed", "job_id": "j1", "workspace": "ws", "format": "manifest",
                  "version": 1, "state": "running", "items_written": 0, "items_total": 0,
                  "bucket": storage.EXPORTS_BUCKET, "created_at": datetime.now(UTC),
                  "owner": writer.owner}
        record["object_key"] = object_key(record)
        await db[EXPORTS].insert_one(record)
        await writer.run(record)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


def _spools() -> list[str]:
    return [name for name in os.listdir(tempfile.gettempdir())
            if name.startswith(f"{SPOOL_PREFIX}crashed-")]


@pytest.fixture
async def database() -> AsyncIterator[tuple[str, AsyncDatabase[Document]]]:
    url = os.environ.get("LABELOPS_MONGO_URL")
    if not url:  # start (or reuse) the local stack rather than skip
        from labelops_cli.stack.servers import up_infra

        url = up_infra()["LABELOPS_MONGO_URL"]
    client = mongo.connect(url, app_name="export-crash-test")
    db = client[f"labelops_export_crash_{uuid.uuid4().hex[:10]}"]
    await mongo.ensure_indexes(db, {**INDEXES, **outbox.INDEXES})
    yield url, db
    await client.drop_database(db.name)
    await client.close()


async def test_an_export_killed_half_way_is_failed_by_the_next_sweep(
        database: tuple[str, AsyncDatabase[Document]]) -> None:
    url, db = database
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "shared"), os.environ.get("PYTHONPATH", "")])}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, url, db.name, env=env, cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert line.strip() == b"uploading"  # the file is written, the upload under way
        spools = _spools()
        assert spools, "the export's temporary file exists while it runs"
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)  # the crash
        await process.wait()

    record = await db[EXPORTS].find_one({"_id": "crashed"})
    assert record is not None and record["state"] == "running"
    assert not record.get("sha256") and not record.get("size_bytes")

    writer = ExportWriter(Repository(db), outbox.Outbox(db, owner="next"), None,  # type: ignore[arg-type]
                          "/test")
    assert await writer.sweep() == ["crashed"]
    record = await db[EXPORTS].find_one({"_id": "crashed"})
    assert record is not None and record["state"] == "failed"
    assert record["error"].startswith(
        f"interrupted: the export service process writing it ({record['owner']}) exited "
        "before the file was complete")
    assert not _spools(), "its temporary file is removed"
    assert await writer.sweep() == []
