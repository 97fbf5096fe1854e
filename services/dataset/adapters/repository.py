"""Mongo access for datasets, versions and items."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from labelops_shared.mongo import Document

DATASETS, VERSIONS, ITEMS = "datasets", "versions", "items"
POINT_READS = 16  # concurrent point reads per request

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
        """Insert a batch; documents already there (the same import re-run) stay as they are."""
        if not docs:
            return
        try:
            await self.db[ITEMS].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
            if others:
                raise

    async def delete_items(self, dataset_id: str, version: int) -> None:
        await self.db[ITEMS].delete_many({"dataset_id": dataset_id, "version": version})

    async def stream_items(
        self, dataset_id: str, versions: list[int], batch_size: int = 1000
    ) -> AsyncIterator[Document]:
        """Items of the given versions in import order (ids sort by version, then line)."""
        if not versions:
            return
        cursor = (
            self.db[ITEMS]
            .find({"dataset_id": dataset_id, "version": {"$in": versions}})
            .sort("_id", ASCENDING)
            .batch_size(batch_size)
        )
        async for doc in cursor:
            yield doc

    async def items_by_id(self, dataset_id: str, ids: list[str]) -> list[Document]:
        """Point reads by ``_id``, concurrently: the one lookup every MongoDB-API database
        answers from its primary index (FerretDB evaluates ``$in`` by scanning), in the
        order asked, missing ids left out."""
        limit = asyncio.Semaphore(POINT_READS)

        async def one(item_id: str) -> Document | None:
            async with limit:
                return await self.db[ITEMS].find_one({"_id": item_id})

        found = await asyncio.gather(*(one(i) for i in dict.fromkeys(ids)))
        return [d for d in found if d is not None and d["dataset_id"] == dataset_id]

    async def set_fields(self, collection: str, doc_id: Any, fields: Document) -> None:
        await self.db[collection].update_one({"_id": doc_id}, {"$set": fields})
