"""Write an export: stream the labeled view through the chosen format into a local temporary
file (bounded memory), upload it, then mark the record completed with its key, size and
checksum. The record only names the object once the upload is complete, so a crash never
presents a truncated file.

The format writers are synchronous generators (pure, CPU bound): they run in a worker thread
fed by the event loop with batches of items read from the database through a small bounded
queue, so neither side holds more than a few batches and the loop stays responsive."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import queue
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from minio import Minio

from labelops_shared import storage
from labelops_shared.contracts import ExportCompleted, ExportFailed
from labelops_shared.mongo import Document, decode_keys
from labelops_shared.outbox import Outbox, UnitOfWork
from services.export import metrics
from services.export.adapters.repository import EXPORTS, Repository
from services.export.domain.formats import (
    AcceptedItem,
    ExportJob,
    ExportStats,
    Selection,
    write_export,
)
from services.export.domain.plan import FORMATS, filter_from_document, view_query
from services.export.domain.view import accepted_values

log = logging.getLogger(__name__)
PROGRESS_EVERY = 1000
BATCH = 1000  # items per hand-over to the writing thread
QUEUED_BATCHES = 4


def accepted_item(doc: Document) -> AcceptedItem:
    data, answer = accepted_values(doc, decode_keys)
    return AcceptedItem(item_id=doc["item_id"], data=data,
                        answer=answer, labeler=doc.get("labeler", ""),
                        revision=int(doc.get("revision", 1)), accepted_at=doc.get("accepted_at"),
                        hard=bool(doc.get("hard", False)))


class _Pipeline:
    """The writing thread's side: items from the queue, through the filter and the format,
    into the file and the checksum."""

    def __init__(self, fmt: str, job: ExportJob, selection_filter: Any, path: str) -> None:
        self.fmt = fmt
        self.job = job
        self.feed: queue.Queue[list[AcceptedItem] | None] = queue.Queue(QUEUED_BATCHES)
        self.selection = Selection(self._items(), job, selection_filter)
        self.stats = ExportStats()
        self.digest = hashlib.sha256()
        self.size = 0
        self.path = path
        self.failed = False
        self.counted = 0  # items already added to the progress metric
        self._ended = False

    def _items(self) -> Iterator[AcceptedItem]:
        while (batch := self.feed.get()) is not None:
            yield from batch
        self._ended = True

    def run(self) -> None:
        try:
            with open(self.path, "wb") as out:
                for piece in write_export(self.fmt, self.selection, self.job, self.stats):
                    out.write(piece)
                    self.digest.update(piece)
                    self.size += len(piece)
        except BaseException:
            self.failed = True
            while not self._ended and self.feed.get() is not None:
                pass  # let the reading side finish its hand-over
            raise


class ExportWriter:
    def __init__(self, repo: Repository, outbox: Outbox, storage_client: Minio,
                 source: str) -> None:
        self.repo = repo
        self.outbox = outbox
        self.storage = storage_client
        self.source = source
        self._running: set[asyncio.Task[None]] = set()

    def start(self, record: Document) -> None:
        task = asyncio.create_task(self.run(record))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def run(self, record: Document) -> None:
        fmt = str(record.get("format", "manifest"))
        started = time.monotonic()
        metrics.EXPORTS_RUNNING.inc()
        try:
            await self._write(record)
            outcome = "completed"
        except Exception as exc:
            log.exception("export failed", extra={"export": record["_id"]})
            outcome = "failed"
            await self.fail(record, f"export failed: {exc}")
        finally:
            metrics.EXPORTS_RUNNING.dec()
        metrics.EXPORTS.labels(format=fmt, outcome=outcome).inc()
        metrics.EXPORT_SECONDS.labels(format=fmt).observe(time.monotonic() - started)

    async def _write(self, record: Document) -> None:
        exports = self.repo.db[EXPORTS]
        job_doc = await self.repo.job(record["job_id"]) or {}
        job = ExportJob(job_doc.get("topics", []), job_doc.get("content", []),
                        job_doc.get("name", ""))
        where = filter_from_document(record.get("filter"))
        query = view_query(where, record.get("since"))
        total = await self.repo.labeled_matching({**query, "job_id": record["job_id"]})
        await exports.update_one({"_id": record["_id"]}, {"$set": {"items_total": total}})
        fmt = record.get("format", "manifest")
        fd, path = tempfile.mkstemp(prefix="labelops-export-",
                                    suffix=f".{FORMATS[fmt].extension}")
        os.close(fd)
        try:
            pipeline = _Pipeline(fmt, job, where, path)
            writing = asyncio.ensure_future(asyncio.to_thread(pipeline.run))
            try:
                await self._feed(record, pipeline, query)
            finally:
                await asyncio.to_thread(pipeline.feed.put, None)
                await asyncio.wait([writing])
            writing.result()  # the format's own error (an image without a size), if any
            await asyncio.to_thread(self.storage.fput_object, record["bucket"],
                                    record["object_key"], path,
                                    content_type=FORMATS[fmt].content_type)
        finally:
            os.unlink(path)
        written, stats, digest = pipeline.selection.kept, pipeline.stats, pipeline.digest
        uow = UnitOfWork(source=self.source)
        uow.set(EXPORTS, record["_id"], {
            "state": "completed", "items_written": written, "items_total": written,
            "objects_written": stats.objects,
            "skipped": [{"reason": r, "count": c} for r, c in sorted(stats.skipped.items())],
            "size_bytes": pipeline.size, "sha256": digest.hexdigest(),
            "finished_at": datetime.now(UTC),
        })
        uow.emit(ExportCompleted(job_id=record["job_id"], export_id=record["_id"],
                                 bucket=record["bucket"], object_key=record["object_key"],
                                 item_count=written, size_bytes=pipeline.size,
                                 sha256=digest.hexdigest()),
                 subject=f"jobs/{record['job_id']}/exports/{record['_id']}")
        if await self.outbox.commit(uow, key=f"export-done:{record['_id']}"):
            metrics.EXPORT_BYTES.labels(format=fmt).inc(pipeline.size)
            metrics.EXPORT_ITEMS.labels(format=fmt).inc(written - pipeline.counted)

    async def _feed(self, record: Document, pipeline: _Pipeline,
                    query: dict[str, Any]) -> None:
        exports = self.repo.db[EXPORTS]
        batch: list[AcceptedItem] = []
        reported = 0
        async for doc in self.repo.labeled(record["job_id"], query):
            batch.append(accepted_item(doc))
            if len(batch) < BATCH:
                continue
            if pipeline.failed:
                return
            await asyncio.to_thread(pipeline.feed.put, batch)
            batch = []
            written = pipeline.selection.kept
            metrics.EXPORT_ITEMS.labels(format=pipeline.fmt).inc(written - pipeline.counted)
            pipeline.counted = written
            if written - reported >= PROGRESS_EVERY:
                reported = written
                await exports.update_one({"_id": record["_id"]},
                                         {"$set": {"items_written": written}})
        if batch and not pipeline.failed:
            await asyncio.to_thread(pipeline.feed.put, batch)

    async def fail(self, record: Document, reason: str) -> None:
        uow = UnitOfWork(source=self.source)
        uow.set(EXPORTS, record["_id"], {"state": "failed", "error": reason,
                                         "finished_at": datetime.now(UTC)})
        uow.emit(ExportFailed(job_id=record["job_id"], export_id=record["_id"], reason=reason),
                 subject=f"jobs/{record['job_id']}/exports/{record['_id']}")
        await self.outbox.commit(uow, key=f"export-done:{record['_id']}")

    async def fail_interrupted(self) -> None:
        """Exports left running by a process that died are failed, with the reason."""
        async for record in self.repo.db[EXPORTS].find({"state": "running"}):
            await self.fail(record, "interrupted by a restart; start a new export")

    def presigned_url(self, record: Document) -> str:
        return str(self.storage.presigned_get_object(record["bucket"], record["object_key"],
                                                     expires=storage.PRESIGN_TTL))


def object_key(record: dict[str, Any]) -> str:
    extension = FORMATS[record.get("format", "manifest")].extension
    return (f"{record['workspace']}/{record['job_id']}/export-v{record['version']}-"
            f"{record.get('format', 'manifest')}.{extension}")
