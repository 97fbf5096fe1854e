"""Events the jobs service consumes."""

from __future__ import annotations

from typing import Any

from labelops_shared.contracts import DatasetImported
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from services.jobs.adapters.repository import DATASETS, Repository


def register(consumer: EventConsumer, repo: Repository) -> None:
    @consumer.on(DatasetImported)
    async def track_dataset(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Keep each dataset's latest imported version, its size and item fields (CreateJob
        checks the pre-label field against them). Idempotent: the document is replaced
        whole, and an older version arriving late never replaces a newer one."""
        data: DatasetImported = event.data
        known = await repo.dataset(data.dataset_id)
        if known and known["latest_version"] > data.version:
            return
        uow = ctx.unit_of_work()
        uow.put(DATASETS, {"_id": data.dataset_id, "workspace": data.workspace,
                           "latest_version": data.version, "item_count": data.item_count,
                           "kind": data.kind, "fields": data.fields})
        await ctx.commit(uow)
