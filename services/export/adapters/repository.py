"""Mongo access for the export service."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared.mongo import Document

JOBS, LABELED, EXPORTS = "jobs", "labeled_items", "exports"
WRITERS = "export_writers"  # each service process's last sign of life
COUNTS = "view_counts"  # per job: the items in the view, kept as they change
INDEXES = {
    LABELED: [IndexModel([("job_id", ASCENDING), ("item_id", ASCENDING)])],
    EXPORTS: [IndexModel([("job_id", ASCENDING), ("version", ASCENDING)], unique=True),
              IndexModel([("state", ASCENDING)])],
}


class Repository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def job(self, job_id: str) -> Document | None:
        return await self.db[JOBS].find_one({"_id": job_id})

    async def labeled_count(self, job_id: str) -> int:
        counted = await self.kept_count(job_id)
        if counted is not None:
            return counted
        return await self.db[LABELED].count_documents({"job_id": job_id})

    async def kept_count(self, job_id: str) -> int | None:
        """The job's item count the view keeps as it changes (a point read), or None for a
        job whose items have not changed since counts were kept."""
        counted = await self.db[COUNTS].find_one({"_id": job_id})
        return int(counted["items"]) if counted is not None else None

    async def labeled_by_package(self, job_id: str) -> Counter[str]:
        """The job's labeled items counted by the package they were accepted in (one pass
        over the job's view documents, package ids only)."""
        counts: Counter[str] = Counter()
        cursor = self.db[LABELED].find({"job_id": job_id}, {"package_id": 1, "_id": 0})
        async for doc in cursor.batch_size(5000):
            counts[str(doc.get("package_id", ""))] += 1
        return counts

    async def labeled_matching(self, query: dict[str, Any]) -> int:
        return await self.db[LABELED].count_documents(query)

    async def labeled(self, job_id: str,
                      query: dict[str, Any] | None = None) -> AsyncIterator[Document]:
        """A job's labeled items in item id order, narrowed by ``query``."""
        cursor = self.db[LABELED].find({**(query or {}), "job_id": job_id}).sort(
            "item_id", ASCENDING)
        async for doc in cursor.batch_size(1000):
            yield doc

    async def export(self, export_id: str) -> Document | None:
        return await self.db[EXPORTS].find_one({"_id": export_id})

    async def exports_of(self, job_id: str) -> list[Document]:
        cursor = self.db[EXPORTS].find({"job_id": job_id}).sort("version", DESCENDING)
        return await cursor.to_list(None)

    async def last_completed(self, job_id: str) -> Document | None:
        return await self.db[EXPORTS].find_one({"job_id": job_id, "state": "completed"},
                                               sort=[("version", DESCENDING)])

    async def last_version(self, job_id: str) -> int:
        last = await self.db[EXPORTS].find_one({"job_id": job_id}, sort=[("version", DESCENDING)])
        return int(last["version"]) if last else 0
