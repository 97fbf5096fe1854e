"""Events the export service consumes: it builds the accepted, labeled view of every job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labelops_shared.contracts import JobCreated, JobPublished, PackageAccepted
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from labelops_shared.mongo import encode_keys
from services.export.adapters.repository import JOBS, LABELED
from services.export.domain.view import should_replace


def register(consumer: EventConsumer) -> None:
    async def keep_job(event: Envelope[Any], ctx: HandlerContext) -> None:
        job = event.data.job
        uow = ctx.unit_of_work()
        uow.put(JOBS, {"_id": job.job_id, "workspace": job.workspace, "name": job.name,
                       "topics": job.topics, "content": job.content,
                       "labels": [lb.name for lb in job.labels]})
        await ctx.commit(uow)

    consumer.on(JobCreated)(keep_job)
    consumer.on(JobPublished)(keep_job)

    @consumer.on(PackageAccepted)
    async def accept_items(event: Envelope[Any], ctx: HandlerContext) -> None:
        """One document per (job, item) with its latest accepted revision. One job's events
        arrive in order on one partition, handled one at a time, so read-compare-put is safe."""
        data: PackageAccepted = event.data
        ids = [f"{data.job_id}:{item.item_id}" for item in data.items]
        current = {d["_id"]: d["revision"] async for d in
                   ctx.outbox.db[LABELED].find({"_id": {"$in": ids}}, {"revision": 1})}
        uow = ctx.unit_of_work()
        # When the view took the revision in: incremental exports select on it (event times
        # can arrive late; this time only grows with what the view holds).
        stored_at = datetime.now(UTC)
        for item, doc_id in zip(data.items, ids, strict=True):
            if should_replace(current.get(doc_id), item.revision):
                uow.put(LABELED, {
                    "_id": doc_id, "job_id": data.job_id, "item_id": item.item_id,
                    "data": encode_keys(item.data), "answer": encode_keys(item.answer),
                    "labeler": item.labeler, "accepter": data.accepter,
                    "package_id": data.package_id, "revision": item.revision,
                    "accepted_at": event.time, "stored_at": stored_at,
                })
        await ctx.commit(uow)
