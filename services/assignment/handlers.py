"""Events the assignment service consumes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from labelops_shared.contracts import JobPublished, PackageCreated, PredictionsReady
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from labelops_shared.mongo import encode_keys
from services.assignment.adapters.repository import JOBS, PACKAGES, PRELABELS, package_id
from services.assignment.domain.workflow import State

PACKAGES_PER_COMMIT = 100

ItemIds = Callable[[str, int], AsyncIterator[str]]


def register(consumer: EventConsumer, item_ids: ItemIds) -> None:
    @consumer.on(JobPublished)
    async def cut_packages(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Cut the job's items into packages of package_size, in import order, streaming
        the ids (memory holds one commit's packages). Ids are deterministic, so a restart
        part-way re-commits nothing already committed."""
        job = event.data.job
        size = job.package_size
        uow = ctx.unit_of_work()
        uow.put(JOBS, {"_id": job.job_id, **job.model_dump(), "package_count": None})
        await ctx.commit(uow, part="job")

        uow, index, part, current = ctx.unit_of_work(), 0, 0, []

        async def close_package() -> None:
            nonlocal index, current
            pkg_id = package_id(job.job_id, index)
            uow.put(PACKAGES, {
                "_id": pkg_id, "job_id": job.job_id, "workspace": job.workspace,
                "index": index, "item_ids": current, "item_count": len(current),
                "state": State.OPEN.value, "labeler": "", "holder": "", "claim_epoch": 0,
                "rework_count": 0, "rating": "", "to_inspect": [], "rejections": [],
            })
            uow.emit(PackageCreated(job_id=job.job_id, package_id=pkg_id, index=index,
                                    item_ids=current), subject=f"packages/{pkg_id}")
            index, current = index + 1, []

        async for item_id in item_ids(job.dataset_id, job.dataset_version):
            current.append(item_id)
            if len(current) == size:
                await close_package()
                if index % PACKAGES_PER_COMMIT == 0:
                    await ctx.commit(uow, part=f"packages-{part}")
                    uow, part = ctx.unit_of_work(), part + 1
        if current:
            await close_package()
        uow.set(JOBS, job.job_id, {"package_count": index})
        await ctx.commit(uow)

    @consumer.on(PredictionsReady)
    async def store_prelabels(event: Envelope[Any], ctx: HandlerContext) -> None:
        data: PredictionsReady = event.data
        uow = ctx.unit_of_work()
        grouped: dict[str, dict[str, Any]] = {}
        for p in data.predictions:
            grouped.setdefault(p.item_id, {})[p.topic] = p.answer
        for item_id, answers in grouped.items():
            uow.put(PRELABELS, {"_id": f"{data.job_id}:{item_id}", "job_id": data.job_id,
                                "item_id": item_id, "source": data.source,
                                "answers": encode_keys(answers)})
        await ctx.commit(uow)
