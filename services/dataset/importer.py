"""Import a manifest from object storage into a new, invisible dataset version, then make
it visible (READY) and announce it in one unit of work — or mark it FAILED with why.

Memory stays bounded: the object is read line by line and items are written in batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from minio import Minio

from labelops_shared.contracts import DatasetImported, DatasetImportFailed
from labelops_shared.mongo import encode_keys
from labelops_shared.outbox import Outbox, UnitOfWork
from services.dataset.adapters.repository import DATASETS, VERSIONS, Repository, version_id
from services.dataset.domain.manifest import ImportReport, LineError, Record, parse_line
from services.dataset.domain.model import VersionState, item_id

log = logging.getLogger(__name__)
BATCH = 1000


def _lines(client: Minio, bucket: str, key: str) -> Iterator[str]:
    response = client.get_object(bucket, key)
    try:
        pending = b""
        for chunk in response.stream(256 * 1024):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")
    finally:
        response.close()
        response.release_conn()


def _take(lines: Iterator[str], count: int) -> list[str]:
    return [text for _, text in zip(range(count), lines, strict=False)]


class Importer:
    def __init__(self, repo: Repository, outbox: Outbox, storage: Minio, source: str) -> None:
        self.repo = repo
        self.outbox = outbox
        self.storage = storage
        self.source = source

    async def run(self, dataset: dict[str, Any], version: int, bucket: str, key: str) -> None:
        dataset_id = dataset["_id"]
        report = ImportReport(file=key)
        try:
            await self._load(dataset_id, version, bucket, key, report)
            failure = report.failure()
        except Exception as exc:  # storage or database failure: the import fails, visibly
            log.exception("import failed", extra={"dataset": dataset_id, "version": version})
            failure = f"{key}: import failed: {exc}"
        try:
            if failure:
                await self._fail(dataset, version, failure, report)
            else:
                await self._complete(dataset, version, report)
        except Exception:
            # The version stays IMPORTING; the start-up sweep of the next run fails it cleanly.
            log.exception("could not record the import's outcome",
                          extra={"dataset": dataset_id, "version": version})

    async def _load(
        self, dataset_id: str, version: int, bucket: str, key: str, report: ImportReport
    ) -> None:
        lines = _lines(self.storage, bucket, key)
        batch: list[dict[str, Any]] = []
        number = 0
        while True:
            chunk = await asyncio.to_thread(_take, lines, BATCH)
            if not chunk:
                break
            for text in chunk:
                number += 1
                parsed = parse_line(key, number, text)
                if isinstance(parsed, LineError):
                    report.add_error(parsed)
                elif isinstance(parsed, Record):
                    report.add_record(parsed)
                    if not report.error_count:  # once invalid, only keep validating
                        batch.append(self._item(dataset_id, version, parsed))
            await self.repo.insert_items(batch)
            batch = []

    @staticmethod
    def _item(dataset_id: str, version: int, record: Record) -> dict[str, Any]:
        return {
            "_id": item_id(dataset_id, version, record.line),
            "dataset_id": dataset_id,
            "version": version,
            "line": record.line,
            "data": encode_keys(record.data),
        }

    async def _complete(self, dataset: dict[str, Any], version: int, report: ImportReport) -> None:
        uow = UnitOfWork(source=self.source)
        uow.set(VERSIONS, version_id(dataset["_id"], version), {
            "state": VersionState.READY, "item_count": report.items,
            "fields": sorted(report.fields or ()), "finished_at": datetime.now(UTC),
        })
        uow.set(DATASETS, dataset["_id"], {"latest_version": version, "item_count": report.items})
        uow.emit(DatasetImported(
            dataset_id=dataset["_id"], workspace=dataset["workspace"], version=version,
            kind=dataset["kind"], item_count=report.items, fields=sorted(report.fields or ()),
        ), subject=f"datasets/{dataset['_id']}/versions/{version}")
        await self.outbox.commit(uow, key=f"import:{version_id(dataset['_id'], version)}")
        log.info("import completed", extra={"dataset": dataset["_id"], "version": version,
                                            "items": report.items})

    async def fail_interrupted(self, dataset_id: str, version: int) -> None:
        dataset = await self.repo.dataset(dataset_id)
        if dataset is not None:
            reason = "import interrupted by a restart; import the file again"
            await self._fail(dataset, version, reason, ImportReport(file=""))

    async def _fail(
        self, dataset: dict[str, Any], version: int, reason: str, report: ImportReport
    ) -> None:
        await self.repo.delete_items(dataset["_id"], version)  # nothing half-imported remains
        errors = [
            {"file": e.file, "line": e.line, "field": e.field, "reason": e.reason}
            for e in report.errors or ()
        ]
        uow = UnitOfWork(source=self.source)
        uow.set(VERSIONS, version_id(dataset["_id"], version), {
            "state": VersionState.FAILED, "error": reason, "errors": errors,
            "error_count": report.error_count, "finished_at": datetime.now(UTC),
        })
        uow.emit(DatasetImportFailed(
            dataset_id=dataset["_id"], workspace=dataset["workspace"], version=version,
            reason=reason, error_count=report.error_count,
        ), subject=f"datasets/{dataset['_id']}/versions/{version}")
        await self.outbox.commit(uow, key=f"import:{version_id(dataset['_id'], version)}")
        log.warning("import failed", extra={"dataset": dataset["_id"], "version": version,
                                            "reason": reason})
