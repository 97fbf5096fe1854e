"""A crash during an export leaves the record failed, never running for ever and never a
truncated file presented as complete: exports whose writer is gone (restarted under the same
name, exited on this host, silent too long) are failed with the reason by the sweep; an
export the service is stopped in the middle of is failed on the way out; an abandoned
export that finishes late stays failed."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from labelops.export.v1 import export_pb2 as pb
from labelops_shared.annotations import build_template
from services.export.adapters.repository import EXPORTS, WRITERS
from services.export.domain.records import abandoned
from services.export.tests.conftest import Harness
from services.export.writer import STOPPED, ExportWriter

CLASSIFY = build_template("text_classification", [{"name": "pos"}, {"name": "neg"}]).to_dict()
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(seconds=5)  # when "this" process started


def _record(owner: str, created: datetime, **fields: Any) -> dict[str, Any]:
    return {"_id": "e1", "owner": owner, "created_at": created, "state": "running",
            "items_written": 3000, "items_total": 10000, **fields}


def _judge(record: dict[str, Any], alive: dict[str, datetime] | None = None,
           dead: frozenset[str] = frozenset()) -> Any:
    return abandoned(record, now=NOW, me="pod-a", started_at=STARTED, alive_at=alive or {},
                     stale_after=timedelta(seconds=60), dead_here=lambda o: o in dead)


def test_a_record_of_this_instance_older_than_this_process_is_abandoned() -> None:
    gone = _judge(_record("pod-a", NOW - timedelta(minutes=3)), {"pod-a": NOW})
    assert gone is not None and gone.local
    assert gone.reason == (
        "interrupted: the export service process writing it (pod-a) restarted before the "
        "file was complete (3,000 of 10,000 items written); no file was published, start a "
        "new export")
    assert _judge(_record("pod-a", NOW - timedelta(seconds=1)), {"pod-a": NOW}) is None


def test_a_writer_that_exited_on_this_host_or_fell_silent_is_gone() -> None:
    recent = NOW - timedelta(seconds=10)
    exited = _judge(_record("host:41", recent), dead=frozenset({"host:41"}))
    assert exited is not None and "(host:41) exited" in exited.reason and exited.local
    silent = _judge(_record("pod-b", NOW - timedelta(hours=1)),
                    {"pod-b": NOW - timedelta(seconds=61)})
    assert silent is not None and not silent.local
    assert "(pod-b) gave no sign of life since 2026-03-01T11:58:59+00:00" in silent.reason
    assert _judge(_record("pod-b", NOW - timedelta(hours=1)),
                  {"pod-b": NOW - timedelta(seconds=20)}) is None
    # a writer not heard of yet: its record's age decides
    assert _judge(_record("pod-c", recent)) is None
    unnamed = _judge(_record("", NOW - timedelta(minutes=2)))
    assert unnamed is not None and "an earlier version" in unnamed.reason


class _BlockedStorage:
    """Uploads wait until released: an export stays running, half-way, as long as needed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.reached = threading.Event()

    def fput_object(self, *args: Any, **kwargs: Any) -> None:
        self.reached.set()
        self.release.wait(30)
        self.inner.fput_object(*args, **kwargs)

    def presigned_get_object(self, *args: Any, **kwargs: Any) -> str:
        return str(self.inner.presigned_get_object(*args, **kwargs))


@pytest.fixture
def blocked(harness: Harness) -> Iterator[_BlockedStorage]:
    storage = _BlockedStorage(harness.storage)
    harness.writer.storage = storage  # type: ignore[assignment]
    yield storage
    storage.release.set()


async def _job_with_items(harness: Harness, count: int = 50) -> None:
    await harness.create_job("j1", CLASSIFY, ["pos", "neg"])
    await harness.accept("j1", "p1", [(f"ds1:1:{n:04d}", {"source": f"t{n}"},
                                       {"label": "pos"}, "ann", 1) for n in range(count)])


def _events(harness: Harness, event_type: str) -> list[str]:
    return [e["type"] for r in harness.db["outbox"].docs.values() for e in r["events"]
            if e["type"] == event_type]


async def _reached(storage: _BlockedStorage) -> None:
    assert await asyncio.to_thread(storage.reached.wait, 10), "the upload never started"


async def test_an_export_left_running_by_a_restarted_process_is_failed_and_stays_failed(
        harness: Harness, blocked: _BlockedStorage) -> None:
    await _job_with_items(harness)
    started = await harness.start("j1", "manifest")
    await _reached(blocked)  # the file is written, the upload in progress: "the crash"
    running = await harness.stub.GetExport(pb.GetExportRequest(export_id=started.id),
                                           metadata=harness.metadata)
    assert running.state == pb.EXPORT_STATE_RUNNING
    assert (running.object_key, running.download_url) == ("", "")

    # the process comes back under the same name (a restarted container) and sweeps
    restarted = ExportWriter(harness.writer.repo, harness.writer.outbox, harness.storage,
                             "/labelops/export", owner=harness.writer.owner)
    assert await restarted.sweep() == [started.id]
    failed = await harness.finished(started.id)
    assert failed.state == pb.EXPORT_STATE_FAILED
    assert failed.error.startswith("interrupted: the export service process writing it (test)"
                                   " restarted before the file was complete")
    assert (failed.object_key, failed.download_url, failed.sha256) == ("", "", "")
    assert _events(harness, "labelops.export.failed.v1") == ["labelops.export.failed.v1"]

    # the old writer was not dead after all: it finishes, and the record stays failed
    blocked.release.set()
    for _ in range(200):
        if not harness.writer._running:
            break
        await asyncio.sleep(0.01)
    again = await harness.finished(started.id)
    assert again.state == pb.EXPORT_STATE_FAILED and again.object_key == ""
    assert _events(harness, "labelops.export.completed.v1") == []
    assert await restarted.sweep() == []  # nothing left to fail


async def test_exports_of_a_process_that_exited_here_are_failed_at_once(
        harness: Harness) -> None:
    await _job_with_items(harness, 3)
    child = await asyncio.create_subprocess_exec("true")  # a pid that existed and is gone
    await child.wait()
    owner = f"{socket.gethostname()}:{child.pid}"
    record = {"_id": "e-dead", "job_id": "j1", "workspace": "ws1", "format": "manifest",
              "version": 7, "state": "running", "items_written": 1000, "items_total": 5000,
              "bucket": "labelops-exports", "object_key": "ws1/j1/export-v7-manifest.jsonl",
              "created_at": datetime.now(UTC), "owner": owner}
    await harness.db[EXPORTS].insert_one(record)
    spool = Path(tempfile.gettempdir()) / "labelops-export-e-dead-abc.jsonl"
    spool.write_text("half a file")
    try:
        assert await harness.writer.sweep() == ["e-dead"]
        assert not spool.exists(), "the dead writer's temporary file is removed"
    finally:
        if spool.exists():
            os.unlink(spool)
    found = await harness.finished("e-dead")
    assert found.state == pb.EXPORT_STATE_FAILED
    assert f"({owner}) exited before the file was complete (1,000 of 5,000" in found.error
    assert found.object_key == "" and found.download_url == ""


async def test_only_writers_silent_for_too_long_lose_their_exports(harness: Harness) -> None:
    await _job_with_items(harness, 3)
    now = datetime.now(UTC)
    for export_id, owner in (("e-silent", "pod-gone"), ("e-alive", "pod-busy")):
        await harness.db[EXPORTS].insert_one({
            "_id": export_id, "job_id": "j1", "workspace": "ws1", "format": "manifest",
            "version": 1 if owner == "pod-gone" else 2, "state": "running",
            "bucket": "labelops-exports", "object_key": f"k-{export_id}",
            "created_at": now - timedelta(minutes=10), "owner": owner})
    await harness.db[WRITERS].insert_one({"_id": "pod-gone",
                                          "alive_at": now - timedelta(minutes=2)})
    await harness.db[WRITERS].insert_one({"_id": "pod-busy",
                                          "alive_at": now - timedelta(seconds=5)})
    assert await harness.writer.sweep() == ["e-silent"]
    assert (await harness.finished("e-silent")).state == pb.EXPORT_STATE_FAILED
    assert (await harness.db[EXPORTS].find_one({"_id": "e-alive"}))["state"] == "running"


async def test_stopping_the_service_fails_the_exports_it_writes(
        harness: Harness, blocked: _BlockedStorage) -> None:
    await _job_with_items(harness)
    loop = asyncio.create_task(harness.writer.fail_interrupted())
    await asyncio.sleep(0.05)
    assert await harness.db[WRITERS].find_one({"_id": "test"}) is not None  # alive
    started = await harness.start("j1", "manifest")
    await _reached(blocked)
    loop.cancel()  # what the runtime does on SIGTERM
    blocked.release.set()
    with pytest.raises(asyncio.CancelledError):
        await loop
    stopped = await harness.finished(started.id)
    assert (stopped.state, stopped.error, stopped.object_key) == (
        pb.EXPORT_STATE_FAILED, STOPPED, "")
    assert await harness.db[WRITERS].find_one({"_id": "test"}) is None
    assert _events(harness, "labelops.export.failed.v1") == ["labelops.export.failed.v1"]


async def test_a_running_export_shows_its_progress_against_the_total(
        harness: Harness, blocked: _BlockedStorage) -> None:
    await _job_with_items(harness, 2500)
    started = await harness.start("j1", "manifest")
    assert (started.items_written, started.items_total) == (0, 0)  # counted beside the writing
    await _reached(blocked)  # every item written, the upload in progress
    running = await harness.stub.GetExport(pb.GetExportRequest(export_id=started.id),
                                           metadata=harness.metadata)
    assert running.state == pb.EXPORT_STATE_RUNNING
    assert (running.items_written, running.items_total) == (2500, 2500)  # uploading
    blocked.release.set()
    done = await harness.finished(started.id)
    assert (done.items_written, done.items_total) == (2500, 2500)
