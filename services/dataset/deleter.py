"""Delete items in chunks that survive a crash: the ids are written down first, then each
chunk's items (and, if asked, their source objects) are deleted and the chunk is announced in
one outbox commit. A restart resumes at the first chunk not announced; deleting twice is
harmless, so nothing is lost and nothing is announced twice."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from minio import Minio
from minio.error import S3Error

from labelops_shared import storage
from labelops_shared.contracts import CHUNK_ITEMS, DatasetDeleted, ItemsDeleted
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.dataset import metrics
from services.dataset.adapters.fingerprints import FingerprintStore
from services.dataset.adapters.repository import (
    DATASETS,
    DELETION_CHUNKS,
    DELETIONS,
    VERSIONS,
    Repository,
)
from services.dataset.domain.fingerprints import fingerprint, new_array

log = logging.getLogger(__name__)
RUNNING, DONE = "running", "done"


class Deleter:
    def __init__(self, repo: Repository, outbox: Outbox, storage_client: Minio,
                 source: str) -> None:
        self.repo = repo
        self.outbox = outbox
        self.storage = storage_client
        self.source = source
        self.fingerprints = FingerprintStore(storage_client)

    async def plan(self, dataset: Document, ids: AsyncIterator[str],
                   delete_sources: bool) -> Document:
        """Write the ids down in chunks, then the deletion record (the commit point)."""
        deletion_id = uuid.uuid4().hex
        chunk: list[str] = []
        chunks = 0
        total = 0

        async def flush() -> None:
            nonlocal chunks, chunk
            await self.repo.db[DELETION_CHUNKS].insert_one(
                {"_id": f"{deletion_id}:{chunks}", "deletion_id": deletion_id,
                 "item_ids": chunk})
            chunks += 1
            chunk = []

        async for item_id in ids:
            chunk.append(item_id)
            total += 1
            if len(chunk) == CHUNK_ITEMS:
                await flush()
        if chunk:
            await flush()
        record = {
            "_id": deletion_id, "dataset_id": dataset["_id"], "workspace": dataset["workspace"],
            "state": RUNNING, "delete_sources": delete_sources, "chunks": chunks,
            "item_count": total, "done": 0, "deleted": 0, "sources_deleted": 0,
            "created_at": datetime.now(UTC),
        }
        await self.repo.db[DELETIONS].insert_one(record)
        return record

    async def run(self, deletion: Document) -> Document:
        """Delete and announce every chunk not yet done; the final record."""
        for number in range(deletion["done"], deletion["chunks"]):
            chunk = await self.repo.db[DELETION_CHUNKS].find_one(
                {"_id": f"{deletion['_id']}:{number}"})
            ids: list[str] = chunk["item_ids"] if chunk else []
            docs = await self.repo.items_by_id(deletion["dataset_id"], ids)
            prints = new_array(p for p in (fingerprint(json.loads(d["data"])) for d in docs)
                               if p is not None)
            # Before the items go: their sources become importable again.
            await asyncio.to_thread(self.fingerprints.store_deleted, deletion["dataset_id"],
                                    deletion["_id"], number, prints)
            removed = 0
            if deletion["delete_sources"]:
                removed = await asyncio.to_thread(self._delete_sources, docs,
                                                  deletion["workspace"])
            await self.repo.delete_by_ids([d["_id"] for d in docs])
            deletion = {**deletion, "done": number + 1,
                        "deleted": deletion["deleted"] + len(docs),
                        "sources_deleted": deletion["sources_deleted"] + removed}
            uow = UnitOfWork(source=self.source)
            uow.set(DELETIONS, deletion["_id"], {
                "done": deletion["done"], "deleted": deletion["deleted"],
                "sources_deleted": deletion["sources_deleted"],
                **({"state": DONE} if deletion["done"] == deletion["chunks"] else {}),
            })
            uow.emit(ItemsDeleted(
                dataset_id=deletion["dataset_id"], workspace=deletion["workspace"],
                deletion_id=deletion["_id"], chunk=number, chunks=deletion["chunks"],
                item_ids=[d["_id"] for d in docs], sources_deleted=deletion["delete_sources"],
            ), subject=f"datasets/{deletion['dataset_id']}")
            if await self.outbox.commit(uow, key=f"deleted:{deletion['_id']}:{number}"):
                metrics.ITEMS_DELETED.inc(len(docs))
        if deletion["chunks"] == 0:
            await self.repo.set_fields(DELETIONS, deletion["_id"], {"state": DONE})
        return {**deletion, "state": DONE}

    async def delete_dataset(self, dataset: Document) -> None:
        """Mark the dataset deleting (a restart finishes the job), remove its items, versions
        and deletions, then the dataset itself with its event."""
        await self.repo.set_fields(DATASETS, dataset["_id"], {"deleting": True})
        await self.repo.delete_dataset_items(dataset["_id"])
        await asyncio.to_thread(self.fingerprints.remove_all, dataset["_id"])
        for collection in (VERSIONS, DELETIONS):
            await self.repo.db[collection].delete_many({"dataset_id": dataset["_id"]})
        uow = UnitOfWork(source=self.source)
        uow.delete(DATASETS, dataset["_id"])
        uow.emit(DatasetDeleted(dataset_id=dataset["_id"], workspace=dataset["workspace"]),
                 subject=f"datasets/{dataset['_id']}")
        await self.outbox.commit(uow, key=f"dataset-deleted:{dataset['_id']}")
        log.info("dataset deleted", extra={"dataset": dataset["_id"]})

    async def resume(self) -> None:
        for dataset in await self.repo.db[DATASETS].find({"deleting": True}).to_list(None):
            await self.delete_dataset(dataset)
        for deletion in await self.repo.db[DELETIONS].find({"state": RUNNING}).to_list(None):
            log.info("resuming a deletion", extra={"deletion": deletion["_id"],
                                                   "from_chunk": deletion["done"]})
            await self.run(deletion)

    def _delete_sources(self, docs: list[Document], workspace: str) -> int:
        """Remove the s3:// source objects of these items; the number removed. A source
        naming another workspace's export or the platform's own files is left alone."""
        removed = 0
        for doc in docs:
            source: Any = json.loads(doc["data"]).get("source")
            if not isinstance(source, str) or not source.startswith("s3://"):
                continue
            try:
                bucket, key = storage.parse_s3_uri(source)
                if storage.foreign_object(bucket, key, workspace):
                    log.warning("source not deleted", extra={
                        "source": source, "error": "not an object of the workspace"})
                    continue
                self.storage.remove_object(bucket, key)
                removed += 1
            except (ValueError, S3Error) as exc:
                log.warning("source not deleted", extra={"source": source, "error": str(exc)})
        return removed
