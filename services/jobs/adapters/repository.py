"""Mongo access for jobs and the projection of datasets seen in events."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared.mongo import Document

JOBS, DATASETS = "jobs", "datasets"
INDEXES = {JOBS: [IndexModel([("workspace", ASCENDING), ("created_at", DESCENDING)])]}


class Repository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def job(self, job_id: str) -> Document | None:
        return await self.db[JOBS].find_one({"_id": job_id})

    async def jobs_of(self, workspace: str, limit: int = 500) -> list[Document]:
        cursor = self.db[JOBS].find({"workspace": workspace}).sort("created_at", DESCENDING)
        return await cursor.limit(limit).to_list(None)

    async def dataset(self, dataset_id: str) -> Document | None:
        return await self.db[DATASETS].find_one({"_id": dataset_id})
