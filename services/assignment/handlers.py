"""Events the assignment service consumes."""

from __future__ import annotations

from functools import partial
from typing import Any

from labelops_shared.contracts import JobPublished, PackageCreated, PredictionsReady
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext, Rejected
from labelops_shared.mongo import encode_key, encode_keys
from services.assignment.adapters.dataset_client import Datasets
from services.assignment.adapters.repository import (
    JOBS,
    PACKAGES,
    PRELABELS,
    Repository,
    package_id,
    prelabel_id,
)
from services.assignment.domain.workflow import WORKFLOWS, State, stage_of

PACKAGES_PER_COMMIT = 100


def register(consumer: EventConsumer, repo: Repository, datasets: Datasets) -> None:
    consumer.on(JobPublished)(partial(cut_packages, repo=repo, datasets=datasets))
    consumer.on(PredictionsReady)(store_prelabels)


async def cut_packages(event: Envelope[Any], ctx: HandlerContext, *, repo: Repository,
                       datasets: Datasets) -> None:
    """Cut the job's items into packages of package_size, in import order, streaming the ids
    (memory holds one part's packages). Ids and part names are deterministic, so a re-run
    after a crash re-commits nothing already committed; packages are inserted, never
    replaced, so a re-publication can never reset a package someone is working on."""
    job = event.data.job
    if job.package_size < 1:
        raise Rejected(f"job {job.job_id}: package_size must be at least 1")
    if job.workflow not in WORKFLOWS:
        raise Rejected(f"job {job.job_id}: unknown workflow {job.workflow!r}")
    stored = await repo.job(job.job_id)
    if stored is not None and stored.get("package_count") is not None:
        return  # already cut (a second publication of the same job)
    uow = ctx.unit_of_work()
    uow.put(JOBS, {"_id": job.job_id, **job.model_dump(), "package_count": None})
    await ctx.commit(uow, part="job")

    uow, index, part = ctx.unit_of_work(), 0, 0
    current: list[str] = []

    def close_package() -> None:
        nonlocal index, current
        pkg_id = package_id(job.job_id, index)
        uow.insert(PACKAGES, {
            "_id": pkg_id, "job_id": job.job_id, "workspace": job.workspace, "index": index,
            "item_ids": current, "item_count": len(current), "state": State.OPEN.value,
            "stage": stage_of(State.OPEN), "labeler": "", "holder": "", "claim_epoch": 0,
            "rework_count": 0, "rating": "", "to_inspect": [], "rejections": [],
        })
        uow.emit(PackageCreated(job_id=job.job_id, package_id=pkg_id, index=index,
                                item_ids=current), subject=f"packages/{pkg_id}")
        index, current = index + 1, []

    async for item_id in datasets.item_ids(job.dataset_id, job.dataset_version):
        current.append(item_id)
        if len(current) == job.package_size:
            close_package()
            if index % PACKAGES_PER_COMMIT == 0:
                await ctx.commit(uow, part=f"pkgs-{part}")
                uow, part = ctx.unit_of_work(), part + 1
    if current:
        close_package()
    uow.set(JOBS, job.job_id, {"package_count": index})
    await ctx.commit(uow)


async def store_prelabels(event: Envelope[Any], ctx: HandlerContext) -> None:
    """One document per (job, item); each topic's answer is set on its own, so predictions
    for one item arriving in several chunks add up instead of replacing each other."""
    data: PredictionsReady = event.data
    uow = ctx.unit_of_work()
    by_item: dict[str, dict[str, Any]] = {}
    for p in data.predictions:
        by_item.setdefault(p.item_id, {})[p.topic] = p.answer
    for item_id, answers in by_item.items():
        doc_id = prelabel_id(data.job_id, item_id)
        uow.insert(PRELABELS, {"_id": doc_id, "job_id": data.job_id, "item_id": item_id,
                               "answers": {}})
        uow.set(PRELABELS, doc_id, {"source": data.source, **{
            f"answers.{encode_key(topic)}": encode_keys(answer)
            for topic, answer in answers.items()}})
    await ctx.commit(uow)
