"""Mongo access for the assignment service."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from labelops_shared.mongo import Document, retry_busy

JOBS, PACKAGES, CLAIMS, ANNOTATIONS, PRELABELS = (
    "jobs", "packages", "claims", "annotations", "prelabels")

INDEXES = {
    PACKAGES: [IndexModel([("job_id", ASCENDING), ("state", ASCENDING), ("index", ASCENDING)])],
    ANNOTATIONS: [IndexModel([("package_id", ASCENDING), ("stage", ASCENDING)])],
}


def package_id(job_id: str, index: int) -> str:
    return f"{job_id}-p{index:06d}"


def annotation_id(pkg_id: str, item_id: str, stage: str) -> str:
    return f"{pkg_id}:{item_id}:{stage}"


class Repository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def job(self, job_id: str) -> Document | None:
        return await self.db[JOBS].find_one({"_id": job_id})

    async def package(self, pkg_id: str) -> Document | None:
        return await self.db[PACKAGES].find_one({"_id": pkg_id})

    async def claimable(self, job_id: str, state: str, limit: int = 50) -> list[Document]:
        cursor = self.db[PACKAGES].find({"job_id": job_id, "state": state}).sort(
            "index", ASCENDING).limit(limit)
        return await cursor.to_list(None)

    async def packages(self, job_id: str, state: str | None = None) -> list[Document]:
        query: Document = {"job_id": job_id}
        if state:
            query["state"] = state
        cursor = self.db[PACKAGES].find(query, {"item_ids": 0}).sort("index", ASCENDING)
        return await cursor.to_list(None)

    async def take_claim(self, pkg_id: str, epoch: int, holder: str, stage: str) -> bool:
        """The race is settled here: one insert per (package, epoch) can succeed."""
        try:
            doc = {"_id": f"{pkg_id}:{epoch}", "holder": holder, "stage": stage}
            await retry_busy(lambda: self.db[CLAIMS].insert_one(doc))
            return True
        except DuplicateKeyError:
            return False

    async def annotations(self, pkg_id: str, stage: str | None = None) -> list[Document]:
        query: Document = {"package_id": pkg_id}
        if stage:
            query["stage"] = stage
        return await self.db[ANNOTATIONS].find(query).to_list(None)

    async def annotation(self, pkg_id: str, item_id: str, stage: str) -> Document | None:
        return await self.db[ANNOTATIONS].find_one({"_id": annotation_id(pkg_id, item_id, stage)})

    async def prelabels(self, job_id: str, item_ids: list[str]) -> dict[str, Any]:
        ids = [f"{job_id}:{i}" for i in item_ids]
        docs = await self.db[PRELABELS].find({"_id": {"$in": ids}}).to_list(None)
        return {d["item_id"]: d["answers"] for d in docs}

    async def progress(self, job_id: str) -> tuple[Counter[str], int, int]:
        by_state: Counter[str] = Counter()
        items = accepted = 0
        async for doc in self.db[PACKAGES].find({"job_id": job_id}, {"state": 1, "item_count": 1}):
            by_state[doc["state"]] += 1
            items += doc["item_count"]
            if doc["state"] == "accepted":
                accepted += doc["item_count"]
        return by_state, items, accepted
