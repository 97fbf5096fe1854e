"""Events the dataset service consumes: which published jobs use which dataset, so that a
dataset in use cannot be deleted."""

from __future__ import annotations

from typing import Any

from labelops_shared.contracts import (
    JobCompleted,
    JobDeleted,
    JobFinished,
    JobPublished,
    JobUnpublished,
)
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from services.dataset.adapters.repository import JOB_USES


def register(consumer: EventConsumer) -> None:
    @consumer.on(JobPublished)
    async def job_published(event: Envelope[Any], ctx: HandlerContext) -> None:
        job = event.data.job
        uow = ctx.unit_of_work()
        uow.put(JOB_USES, {"_id": job.job_id, "dataset_id": job.dataset_id, "name": job.name,
                           "workspace": job.workspace})
        await ctx.commit(uow)

    async def job_let_go(event: Envelope[Any], ctx: HandlerContext) -> None:
        uow = ctx.unit_of_work()
        uow.delete(JOB_USES, event.data.job_id)
        await ctx.commit(uow)

    # A completed job keeps its accepted results (with their data) in the export service.
    for released in (JobUnpublished, JobDeleted, JobCompleted, JobFinished):
        consumer.on(released)(job_let_go)
