"""Mongo access for datasets, versions and items."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from labelops_shared import mongo
from labelops_shared.mongo import Document

DATASETS, VERSIONS, ITEMS = "datasets", "versions", "items"
DELETIONS = "deletions"       # item deletions in progress or done, in chunks
DELETION_CHUNKS = "deletion_chunks"
JOB_USES = "job_uses"         # published jobs per dataset, kept from the jobs service's events

INDEXES = {
    DATASETS: [IndexModel([("workspace", ASCENDING), ("name", ASCENDING)], unique=True)],
    VERSIONS: [
        IndexModel([("dataset_id", ASCENDING), ("version", ASCENDING)], unique=True),
        IndexModel([("state", ASCENDING)]),
    ],
    # None for items: every item query is an _id range (ids are
    # "<dataset>-v<version>-<line>"), served by the primary index, and a secondary index
    # would slow imports (see domain/fingerprints.py).
    DELETIONS: [IndexModel([("state", ASCENDING)])],
    JOB_USES: [IndexModel([("dataset_id", ASCENDING)])],
}


def version_id(dataset_id: str, version: int) -> str:
    return f"{dataset_id}:v{version}"


def _ids_of(dataset_id: str, version: int | None = None) -> Document:
    """The ``_id`` range of a dataset's items, or of one version's: ids share the prefix
    and '.' sorts right after '-'."""
    prefix = f"{dataset_id}-v{version:04d}-" if version is not None else f"{dataset_id}-"
    return {"$gte": prefix, "$lt": prefix[:-1] + "."}


class Repository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def dataset(self, dataset_id: str) -> Document | None:
        return await self.db[DATASETS].find_one({"_id": dataset_id})

    async def version(self, dataset_id: str, version: int) -> Document | None:
        return await self.db[VERSIONS].find_one({"_id": version_id(dataset_id, version)})

    async def versions_of(self, dataset_id: str, state: str) -> list[Document]:
        return await self.db[VERSIONS].find({"dataset_id": dataset_id,
                                             "state": state}).to_list(None)

    async def delete_by_ids(self, ids: list[str]) -> None:
        await mongo.delete_by_ids(self.db[ITEMS], ids)

    async def versions_in_state(self, state: str) -> list[Document]:
        return await self.db[VERSIONS].find({"state": state}).to_list(None)

    async def insert_items(self, docs: list[Document]) -> list[int]:
        """Insert a batch; the positions of the documents already there (an earlier attempt
        of the same batch), the others being inserted."""
        if not docs:
            return []
        try:
            await self.db[ITEMS].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            return sorted(e["index"] for e in errors)
        return []

    async def delete_items(self, dataset_id: str, version: int) -> None:
        await self.db[ITEMS].delete_many({"_id": _ids_of(dataset_id, version)})

    async def delete_dataset_items(self, dataset_id: str) -> None:
        await self.db[ITEMS].delete_many({"_id": _ids_of(dataset_id)})

    async def stream_items(
        self, dataset_id: str, versions: list[int], batch_size: int = 1000
    ) -> AsyncIterator[Document]:
        """Items of the given versions in import order (ids sort by version, then line)."""
        if not versions:
            return
        for version in sorted(versions):
            cursor = (self.db[ITEMS].find({"_id": _ids_of(dataset_id, version)})
                      .sort("_id", ASCENDING).batch_size(batch_size))
            async for doc in cursor:
                yield doc

    async def items_after(self, dataset_id: str, after: str = "",
                          batch_size: int = 1000) -> AsyncIterator[Document]:
        """Every item of the dataset with an id above ``after``, in id order."""
        ids = _ids_of(dataset_id)
        if after:
            ids = {"$gt": max(after, ids["$gte"]), "$lt": ids["$lt"]}
        cursor = self.db[ITEMS].find({"_id": ids}).sort("_id", ASCENDING).batch_size(batch_size)
        async for doc in cursor:
            yield doc

    async def items_by_id(self, dataset_id: str, ids: list[str]) -> list[Document]:
        """The dataset's items with these ids, in the order asked, missing ids left out."""
        found = await mongo.find_by_ids(self.db[ITEMS], ids)
        return [d for d in found if d["_id"].startswith(f"{dataset_id}-")]

    async def set_fields(self, collection: str, doc_id: Any, fields: Document) -> None:
        await self.db[collection].update_one({"_id": doc_id}, {"$set": fields})
