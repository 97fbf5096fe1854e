"""Events the jobs service consumes."""

from __future__ import annotations

from typing import Any

from labelops_shared.contracts import DatasetImported
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from services.jobs.adapters.repository import DATASETS


def register(consumer: EventConsumer) -> None:
    @consumer.on(DatasetImported)
    async def track_dataset(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Keep each dataset's latest ready version and size (for job validation and the
        job list); an older version arriving late never replaces a newer one."""
        data: DatasetImported = event.data
        known = await ctx.outbox.db[DATASETS].find_one({"_id": data.dataset_id})
        if known and known["latest_version"] >= data.version:
            return
        uow = ctx.unit_of_work()
        uow.put(DATASETS, {"_id": data.dataset_id, "workspace": data.workspace,
                           "latest_version": data.version, "item_count": data.item_count,
                           "kind": data.kind, "fields": data.fields})
        await ctx.commit(uow)
