"""Write an export: stream the labeled view through the chosen format into a local temporary
file (bounded memory), upload it, then mark the record completed with its key, size and
checksum. The record only names the object once the upload is complete, so a crash never
presents a truncated file.

The format writers are synchronous generators (pure, CPU bound): they run in a worker thread
fed by the event loop with batches of items read from the database through a small bounded
queue, so neither side holds more than a few batches and the loop stays responsive.

Crashes: each record names the process writing it (its owner), and every process records
that it is alive every few seconds. A background loop fails running exports whose writer
is gone (``domain.records``), at start and then periodically, so an export interrupted by a
crash never stays "running"; an export the service is stopped in the middle of is failed
on the way out. Either way its record never names an object.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import logging
import os
import queue
import socket
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from minio import Minio

from labelops_shared import storage
from labelops_shared.contracts import ExportCompleted, ExportFailed
from labelops_shared.mongo import Document, decode_keys
from labelops_shared.outbox import Outbox, UnitOfWork
from services.export import metrics
from services.export.adapters.repository import EXPORTS, WRITERS, Repository
from services.export.domain.formats import (
    AcceptedItem,
    ExportJob,
    ExportStats,
    Selection,
    write_export,
)
from services.export.domain.plan import FORMATS, filter_from_document, view_query
from services.export.domain.records import abandoned
from services.export.domain.view import accepted_values

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 1.0  # the record's progress is updated at most this often
BATCH = 1000  # items per hand-over to the writing thread
QUEUED_BATCHES = 4
READ_AHEAD = 2  # batches of documents read ahead of the hand-over
ALIVE_EVERY = 10.0  # seconds between a process's signs of life (and sweeps)
STALE_AFTER = timedelta(seconds=60)  # a writer silent this long is taken for gone
SPOOL_PREFIX = "labelops-export-"
STOPPED = "stopped: the export service was shut down while writing it; start a new export"


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
        self.feed: queue.Queue[list[Document] | None] = queue.Queue(QUEUED_BATCHES)
        self.selection = Selection(self._items(), job, selection_filter)
        self.stats = ExportStats()
        self.digest = hashlib.sha256()
        self.size = 0
        self.path = path
        self.failed = False
        self.counted = 0  # items already added to the progress metric
        self._ended = False

    def _items(self) -> Iterator[AcceptedItem]:
        """The view's documents made items here, in the writing thread, so the event loop
        only reads."""
        while (batch := self.feed.get()) is not None:
            for doc in batch:
                yield accepted_item(doc)
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


def _dead_here(owner: str) -> bool:
    """The owner names a process of this host (``host:pid``) that has exited."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


class ExportWriter:
    def __init__(self, repo: Repository, outbox: Outbox, storage_client: Minio,
                 source: str, *, owner: str | None = None, alive_every: float = ALIVE_EVERY,
                 stale_after: timedelta = STALE_AFTER) -> None:
        self.repo = repo
        self.outbox = outbox
        self.storage = storage_client
        self.source = source
        self.owner = owner or outbox.owner
        self.alive_every = alive_every
        self.stale_after = stale_after
        self.started_at = datetime.now(UTC)
        self._running: dict[str, asyncio.Task[None]] = {}

    def start(self, record: Document) -> None:
        task = asyncio.create_task(self.run(record))
        self._running[record["_id"]] = task
        task.add_done_callback(lambda _: self._running.pop(record["_id"], None))

    async def run(self, record: Document) -> None:
        fmt = str(record.get("format", "manifest"))
        started = time.monotonic()
        metrics.EXPORTS_RUNNING.inc()
        try:
            await self._write(record)
            outcome = "completed"
        except asyncio.CancelledError:  # the service is stopping (see stop)
            metrics.EXPORTS.labels(format=fmt, outcome="failed").inc()
            await self.fail(record, STOPPED)
            raise
        except Exception as exc:
            log.exception("export failed", extra={"export": record["_id"]})
            outcome = "failed"
            await self.fail(record, f"export failed: {exc}")
        finally:
            metrics.EXPORTS_RUNNING.dec()
        metrics.EXPORTS.labels(format=fmt, outcome=outcome).inc()
        metrics.EXPORT_SECONDS.labels(format=fmt).observe(time.monotonic() - started)

    async def _write(self, record: Document) -> None:
        job_doc = await self.repo.job(record["job_id"]) or {}
        job = ExportJob(job_doc.get("topics", []), job_doc.get("content", []),
                        job_doc.get("name", ""))
        where = filter_from_document(record.get("filter"))
        query = view_query(where, record.get("since"))
        # The total: the job's kept count when the export takes every item (a point read);
        # else counted beside the writing, not before it, since on FerretDB a count scans
        # the collection like the read itself. The feed writes it with its next progress
        # update (one writer of the record at a time: FerretDB writes whole documents
        # back, so concurrent updates can undo each other).
        kept = await self.repo.kept_count(record["job_id"]) if not query else None
        counting: asyncio.Future[int]
        if kept is not None:
            counting = asyncio.get_running_loop().create_future()
            counting.set_result(kept)
        else:
            counting = asyncio.ensure_future(
                self.repo.labeled_matching({**query, "job_id": record["job_id"]}))
            counting.add_done_callback(lambda f: f.cancelled() or f.exception())  # read
        fmt = record.get("format", "manifest")
        fd, path = tempfile.mkstemp(prefix=f"{SPOOL_PREFIX}{record['_id']}-",
                                    suffix=f".{FORMATS[fmt].extension}")
        os.close(fd)
        try:
            pipeline = _Pipeline(fmt, job, where, path)
            writing = asyncio.ensure_future(asyncio.to_thread(pipeline.run))
            try:
                await self._feed(record, pipeline, query, counting)
            finally:
                counting.cancel()  # unless done: the record gets the count written at the end
                await asyncio.to_thread(pipeline.feed.put, None)
                await asyncio.wait([writing])
            writing.result()  # the format's own error (an image without a size), if any
            await self.repo.db[EXPORTS].update_one(  # every item written; the upload next
                {"_id": record["_id"]}, {"$set": {"items_written": pipeline.selection.kept}})
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
        else:  # failed meanwhile (taken for abandoned): the record keeps saying so
            log.warning("export finished after it was failed", extra={"export": record["_id"]})

    async def _feed(self, record: Document, pipeline: _Pipeline, query: dict[str, Any],
                    counting: asyncio.Future[int]) -> None:
        """The view's documents to the writing thread in batches, read a few batches ahead
        (the database works on the next ones while these are handed over), with the
        record's progress updated about every second."""
        exports = self.repo.db[EXPORTS]
        read: asyncio.Queue[list[Document] | None] = asyncio.Queue(READ_AHEAD)

        failures: list[Exception] = []

        async def reader() -> None:
            batch: list[Document] = []
            try:
                async for doc in self.repo.labeled(record["job_id"], query):
                    batch.append(doc)
                    if len(batch) >= BATCH:
                        await read.put(batch)
                        batch = []
                await read.put(batch)
            except Exception as exc:  # handed to the feed, which raises it
                failures.append(exc)
            await read.put(None)

        reading = asyncio.ensure_future(reader())
        total_reported = False
        reported_at = time.monotonic()
        try:
            while (batch := await read.get()) is not None:
                if pipeline.failed:
                    return
                if batch:
                    await asyncio.to_thread(pipeline.feed.put, batch)
                written = pipeline.selection.kept
                metrics.EXPORT_ITEMS.labels(format=pipeline.fmt).inc(written - pipeline.counted)
                pipeline.counted = written
                progress: dict[str, Any] = {"items_written": written}
                if not total_reported and counting.done() and not counting.cancelled() \
                        and counting.exception() is None:
                    progress["items_total"] = counting.result()
                    total_reported = True
                if time.monotonic() - reported_at >= PROGRESS_SECONDS \
                        or "items_total" in progress:
                    reported_at = time.monotonic()
                    await exports.update_one({"_id": record["_id"]}, {"$set": progress})
            if failures:
                raise failures[0]
        finally:
            reading.cancel()

    async def fail(self, record: Document, reason: str) -> None:
        uow = UnitOfWork(source=self.source)
        uow.set(EXPORTS, record["_id"], {"state": "failed", "error": reason,
                                         "finished_at": datetime.now(UTC)})
        uow.emit(ExportFailed(job_id=record["job_id"], export_id=record["_id"], reason=reason),
                 subject=f"jobs/{record['job_id']}/exports/{record['_id']}")
        await self.outbox.commit(uow, key=f"export-done:{record['_id']}")

    async def fail_interrupted(self) -> None:
        """Background, for the life of the service: say this process is alive and fail the
        running exports whose writer is gone (at start, then every ``alive_every``
        seconds). When the service stops, the exports it is writing are failed."""
        try:
            while True:
                try:
                    await self.alive()
                    await self.sweep()
                except Exception:  # a database hiccup must not end the loop
                    log.exception("export sweep failed; retrying")
                await asyncio.sleep(self.alive_every)
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def alive(self) -> None:
        """This process's sign of life (only this process writes its document)."""
        await self.repo.db[WRITERS].replace_one(
            {"_id": self.owner},
            {"_id": self.owner, "alive_at": datetime.now(UTC), "started_at": self.started_at},
            upsert=True)

    async def sweep(self) -> list[str]:
        """Fail the running exports nobody writes any more; their ids."""
        running = await self.repo.db[EXPORTS].find({"state": "running"}).to_list(None)
        running = [r for r in running if r["_id"] not in self._running]
        if not running:
            return []
        owners = sorted({str(r.get("owner")) for r in running if r.get("owner")})
        alive_at = {d["_id"]: d["alive_at"] for d in await self.repo.db[WRITERS].find(
            {"_id": {"$in": owners}}).to_list(None)} if owners else {}
        now = datetime.now(UTC)
        failed = []
        for record in running:
            gone = abandoned(record, now=now, me=self.owner, started_at=self.started_at,
                             alive_at=alive_at, stale_after=self.stale_after,
                             dead_here=_dead_here)
            if gone is None:
                continue
            log.warning("export abandoned by its writer", extra={
                "export": gone.export_id, "owner": record.get("owner"), "reason": gone.reason})
            await self.fail(record, gone.reason)
            metrics.EXPORTS.labels(format=str(record.get("format", "manifest")),
                                   outcome="failed").inc()
            if gone.local:
                _remove_spools(gone.export_id)
            failed.append(gone.export_id)
        return failed

    async def stop(self) -> None:
        """The service stops: the exports being written are failed, and this process says
        it is gone."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.repo.db[WRITERS].delete_one({"_id": self.owner})

    def presigned_url(self, record: Document) -> str:
        return str(self.storage.presigned_get_object(record["bucket"], record["object_key"],
                                                     expires=storage.PRESIGN_TTL))


def _remove_spools(export_id: str) -> None:
    """The temporary file of an export whose writer on this host died."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(),
                                       f"{glob.escape(SPOOL_PREFIX + export_id)}-*")):
        try:
            os.unlink(path)
        except OSError:
            pass


def object_key(record: dict[str, Any]) -> str:
    extension = FORMATS[record.get("format", "manifest")].extension
    return (f"{record['workspace']}/{record['job_id']}/export-v{record['version']}-"
            f"{record.get('format', 'manifest')}.{extension}")
