"""Mongo access for datasets, versions and items."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared.mongo import Document

DATASETS, VERSIONS, ITEMS = "datasets", "versions", "items"

INDEXES = {
    DATASETS: [IndexModel([("workspace", ASCENDING), ("name", ASCENDING)], unique=True)],
    VERSIONS: [
        IndexModel([("dataset_id", ASCENDING), ("version", ASCENDING)], unique=True),
        IndexModel([("state", ASCENDING)]),
    ],
    ITEMS: [IndexModel([("dataset_id", ASCENDING), ("version", ASCENDING), ("line", ASCENDING)])],
}


def version_id(dataset_id: str, version: int) -> str:
    return f"{dataset_id}:v{version}"


class Repository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def dataset(self, dataset_id: str) -> Document | None:
        return await self.db[DATASETS].find_one({"_id": dataset_id})

    async def version(self, dataset_id: str, version: int) -> Document | None:
        return await self.db[VERSIONS].find_one({"_id": version_id(dataset_id, version)})

    async def versions_in_state(self, state: str) -> list[Document]:
        return await self.db[VERSIONS].find({"state": state}).to_list(None)

    async def insert_items(self, docs: list[Document]) -> None:
        """Insert a batch; documents already there (a resumed import) are left as they are."""
        if not docs:
            return
        ids = [d["_id"] for d in docs]
        existing = {d["_id"] async for d in self.db[ITEMS].find({"_id": {"$in": ids}}, {"_id": 1})}
        fresh = [d for d in docs if d["_id"] not in existing]
        if fresh:
            await self.db[ITEMS].insert_many(fresh, ordered=False)

    async def delete_items(self, dataset_id: str, version: int) -> None:
        await self.db[ITEMS].delete_many({"dataset_id": dataset_id, "version": version})

    async def stream_items(
        self, dataset_id: str, version: int, batch_size: int = 1000
    ) -> AsyncIterator[Document]:
        cursor = (
            self.db[ITEMS]
            .find({"dataset_id": dataset_id, "version": version})
            .sort("line", ASCENDING)
            .batch_size(batch_size)
        )
        async for doc in cursor:
            yield doc

    async def items_by_id(self, dataset_id: str, ids: list[str]) -> list[Document]:
        cursor = self.db[ITEMS].find({"_id": {"$in": ids}, "dataset_id": dataset_id})
        return [doc async for doc in cursor]

    async def set_fields(self, collection: str, doc_id: Any, fields: Document) -> None:
        await self.db[collection].update_one({"_id": doc_id}, {"$set": fields})
