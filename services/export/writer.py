"""Write an export: stream the labeled view into a local temporary file (bounded memory),
upload it, then mark the record completed with its key, size and checksum. The record only
names the object once the upload is complete, so a crash never presents a truncated file."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from datetime import UTC, datetime
from typing import Any

from minio import Minio

from labelops_shared import storage
from labelops_shared.contracts import ExportCompleted, ExportFailed
from labelops_shared.mongo import Document, decode_keys
from labelops_shared.outbox import Outbox, UnitOfWork
from services.export.adapters.repository import EXPORTS, Repository
from services.export.domain.view import manifest_line

log = logging.getLogger(__name__)
PROGRESS_EVERY = 1000


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
        try:
            await self._write(record)
        except Exception as exc:
            log.exception("export failed", extra={"export": record["_id"]})
            await self.fail(record, f"export failed: {exc}")

    async def _write(self, record: Document) -> None:
        exports = self.repo.db[EXPORTS]
        total = await self.repo.labeled_count(record["job_id"])
        await exports.update_one({"_id": record["_id"]}, {"$set": {"items_total": total}})
        digest, written, size = hashlib.sha256(), 0, 0
        fd, path = tempfile.mkstemp(prefix="labelops-export-", suffix=".jsonl")
        try:
            with os.fdopen(fd, "wb") as out:
                async for doc in self.repo.labeled(record["job_id"]):
                    line = manifest_line(doc["item_id"], decode_keys(doc["data"]),
                                         decode_keys(doc["answer"])).encode()
                    out.write(line)
                    digest.update(line)
                    written, size = written + 1, size + len(line)
                    if written % PROGRESS_EVERY == 0:
                        await exports.update_one({"_id": record["_id"]},
                                                 {"$set": {"items_written": written}})
            await asyncio.to_thread(self.storage.fput_object, record["bucket"],
                                    record["object_key"], path,
                                    content_type="application/x-ndjson")
        finally:
            os.unlink(path)
        uow = UnitOfWork(source=self.source)
        uow.set(EXPORTS, record["_id"], {
            "state": "completed", "items_written": written, "items_total": written,
            "size_bytes": size, "sha256": digest.hexdigest(), "finished_at": datetime.now(UTC),
        })
        uow.emit(ExportCompleted(job_id=record["job_id"], export_id=record["_id"],
                                 bucket=record["bucket"], object_key=record["object_key"],
                                 item_count=written, size_bytes=size,
                                 sha256=digest.hexdigest()),
                 subject=f"jobs/{record['job_id']}/exports/{record['_id']}")
        await self.outbox.commit(uow, key=f"export-done:{record['_id']}")

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
    return f"{record['workspace']}/{record['job_id']}/export-v{record['version']}.jsonl"
