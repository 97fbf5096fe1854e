"""Mongo access of the prelabel service (its own database, built from events).

Collections:

- ``jobs``: the latest JobSpec of every job (JSON text: topics and labels hold user keys)
  with its state (published, unpublished, finished, deleted).
- ``status``: the job's offline or online pre-labeling: state and counts.
- ``invalid``: every refused pre-label value, one document per (job, item, field).
- ``units``: online work: up to 1,000 item ids of a job to send to its model, queued.
- ``items``: the job's items (from PackageCreated) with their accepted and submitted
  answers (JSON text) and the labor-saved outcome: what auto labeling trains on.
- ``predictions``: the pre-labels given to each item (JSON text per topic), by source.
- ``labor``: per job, the counts of pre-labeled items accepted unchanged, changed, rejected.
- ``runs`` and ``run_locks``: auto-labeling runs; a lock per job while one runs.

Writers: ``items`` and ``labor`` only from assignment events, which arrive in order on the
job's partition and are handled one at a time, so read-compare-write is safe there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared import mongo
from labelops_shared.contracts import JobSpec
from labelops_shared.mongo import Document, decode_key, encode_key

JOBS, STATUS, INVALID, UNITS = "jobs", "status", "invalid", "units"
ITEMS, PREDICTIONS, LABOR = "items", "predictions", "labor"
RUNS, RUN_LOCKS = "runs", "run_locks"
INDEXES = {
    JOBS: [IndexModel([("dataset_id", ASCENDING)], name="dataset_id")],
    INVALID: [IndexModel([("job_id", ASCENDING), ("_id", ASCENDING)], name="job_id")],
    UNITS: [IndexModel([("state", ASCENDING), ("seq", ASCENDING)], name="state_seq")],
    ITEMS: [IndexModel([("job_id", ASCENDING)], name="job_id")],
    PREDICTIONS: [IndexModel([("job_id", ASCENDING)], name="job_id")],
    RUNS: [IndexModel([("job_id", ASCENDING), ("started_at", DESCENDING)], name="job_id")],
}


def item_key(job_id: str, item_id: str) -> str:
    return f"{job_id}:{item_id}"


def invalid_key(job_id: str, item_id: str, field: str, topic: str) -> str:
    return f"{job_id}:{item_id}:{field}:{topic}"


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def answer_fields(prefix: str, answers: dict[str, Any]) -> Document:
    """``$set`` fields storing each topic's answer as JSON text under ``prefix``."""
    return {f"{prefix}.{encode_key(topic)}": dump(answer) for topic, answer in answers.items()}


def read_answers(stored: Any) -> dict[str, Any]:
    if not isinstance(stored, dict):
        return {}
    return {decode_key(k): json.loads(v) for k, v in stored.items()}


def job_doc(spec: JobSpec, state: str) -> Document:
    return {"_id": spec.job_id, "workspace": spec.workspace, "dataset_id": spec.dataset_id,
            "auto_sync": spec.auto_sync, "state": state, "spec_json": spec.model_dump_json()}


def spec_of(doc: Document) -> JobSpec:
    return JobSpec.model_validate_json(doc["spec_json"])


class Repository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def job(self, job_id: str) -> Document | None:
        return await self.db[JOBS].find_one({"_id": job_id})

    async def jobs_of_dataset(self, dataset_id: str) -> list[Document]:
        return list(await self.db[JOBS].find({"dataset_id": dataset_id}).to_list(None))

    async def status(self, job_id: str) -> Document | None:
        return await self.db[STATUS].find_one({"_id": job_id})

    async def invalid_page(self, job_id: str, after: str, limit: int) -> list[Document]:
        query: Document = {"job_id": job_id}
        if after:
            query["_id"] = {"$gt": str(after)}
        cursor = self.db[INVALID].find(query).sort("_id", ASCENDING).limit(limit)
        return list(await cursor.to_list(None))

    async def count_invalid(self, job_id: str) -> int:
        return int(await self.db[INVALID].count_documents({"job_id": job_id}))

    async def job_items(self, job_id: str) -> AsyncIterator[Document]:
        """Every item of the job with its answers decoded (``accepted``, ``submitted``)."""
        async for doc in self.db[ITEMS].find({"job_id": job_id}):
            yield {"item_id": doc["item_id"], "removed": doc.get("removed", False),
                   "invalid": doc.get("invalid", False),
                   "accepted": (json.loads(doc["accepted_json"])
                                if doc.get("accepted_json") else None),
                   "submitted": (json.loads(doc["submitted_json"])
                                 if doc.get("submitted_json") else None)}

    async def items(self, job_id: str, item_ids: Iterable[str]) -> dict[str, Document]:
        found = await mongo.find_by_ids(self.db[ITEMS], [item_key(job_id, i) for i in item_ids])
        return {d["item_id"]: d for d in found}

    async def predictions(self, job_id: str, item_ids: Iterable[str]) -> dict[str, Document]:
        """item id -> {"answers": {topic: answer}, "source": ...} of the items pre-labeled."""
        found = await mongo.find_by_ids(self.db[PREDICTIONS],
                                        [item_key(job_id, i) for i in item_ids])
        return {d["item_id"]: {**d, "answers": read_answers(d.get("answers"))} for d in found}

    async def count_predictions(self, job_id: str) -> int:
        return int(await self.db[PREDICTIONS].count_documents({"job_id": job_id}))

    async def labor(self, job_id: str) -> Document | None:
        return await self.db[LABOR].find_one({"_id": job_id})

    async def run(self, run_id: str) -> Document | None:
        return await self.db[RUNS].find_one({"_id": run_id})

    async def runs_of(self, job_id: str) -> list[Document]:
        docs = list(await self.db[RUNS].find({"job_id": job_id}).to_list(None))
        return sorted(docs, key=lambda d: d.get("number", 0), reverse=True)

    async def queued_units(self, limit: int = 20) -> list[Document]:
        cursor = self.db[UNITS].find({"state": "queued"}).sort("seq", ASCENDING).limit(limit)
        return list(await cursor.to_list(None))

    async def unit(self, unit_id: str) -> Document | None:
        return await self.db[UNITS].find_one({"_id": unit_id})
