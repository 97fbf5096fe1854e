"""Events the assignment service consumes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from labelops_shared.contracts import (
    JobDeleted,
    JobFinished,
    JobLabelAdded,
    JobLabelDeleted,
    JobLabelRenamed,
    JobPublished,
    JobSpec,
    JobUnpublished,
    JobUpdated,
    PackageCreated,
    PredictionsReady,
)
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext, Rejected
from labelops_shared.mongo import Document, encode_key
from labelops_shared.outbox import UnitOfWork
from services.assignment.adapters.dataset_client import Datasets
from services.assignment.adapters.repository import (
    ANNOTATIONS,
    ANSWER_JSON,
    JOBS,
    PACKAGES,
    PRELABEL_JSON,
    PRELABELS,
    Repository,
    answer_of,
    dump_answer,
    package_id,
    prelabel_answers,
    prelabel_fields,
    prelabel_id,
)
from services.assignment.domain import answers as ans
from services.assignment.domain.workflow import WORKFLOWS, JobStatus, State, stage_of

PACKAGES_PER_COMMIT = 100
REWRITES_PER_COMMIT = 200


def register(consumer: EventConsumer, repo: Repository, datasets: Datasets) -> None:
    consumer.on(JobPublished)(partial(cut_packages, repo=repo, datasets=datasets))
    consumer.on(JobUnpublished)(partial(set_status, repo=repo, status=JobStatus.UNPUBLISHED))
    consumer.on(JobFinished)(partial(set_status, repo=repo, status=JobStatus.FINISHED))
    consumer.on(JobDeleted)(partial(set_status, repo=repo, status=JobStatus.DELETED))
    consumer.on(JobUpdated)(partial(follow_settings, repo=repo))
    consumer.on(JobLabelAdded)(partial(follow_settings, repo=repo))
    consumer.on(JobLabelRenamed)(partial(rename_label, repo=repo))
    consumer.on(JobLabelDeleted)(partial(delete_label, repo=repo))
    consumer.on(PredictionsReady)(store_prelabels)


def _settings(job: JobSpec) -> Document:
    """The stored job's settings, as the latest event carries them (the packages and the
    publish state are this service's own and are kept)."""
    return job.model_dump()


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
        # Already cut: a republication (or a second publication) opens claims again with
        # the settings it carries; the packages and the work on them stay as they are.
        uow = ctx.unit_of_work()
        uow.set(JOBS, job.job_id, {**_settings(job), "status": JobStatus.PUBLISHED.value})
        await ctx.commit(uow)
        return
    uow = ctx.unit_of_work()
    uow.put(JOBS, {"_id": job.job_id, **_settings(job), "package_count": None,
                   "status": JobStatus.PUBLISHED.value})
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
                               PRELABEL_JSON: {}})
        uow.set(PRELABELS, doc_id, {"source": data.source, **prelabel_fields(answers)})
    await ctx.commit(uow)


# --- lifecycle and settings -----------------------------------------------------------------


async def set_status(event: Envelope[Any], ctx: HandlerContext, *, repo: Repository,
                     status: JobStatus) -> None:
    """Unpublished: no new claims (work in hand goes on). Finished or deleted: no claims
    and no more work; every stored result stays. A job never published here (a draft) has
    nothing to change. A deleted job stays deleted whatever arrives late."""
    job_id = event.data.job_id
    stored = await repo.job(job_id)
    if stored is None or stored.get("status") == JobStatus.DELETED:
        return
    fields: Document = {"status": status.value}
    if isinstance(event.data, JobFinished):
        fields["finished_by"] = event.data.by
    uow = ctx.unit_of_work()
    uow.set(JOBS, job_id, fields)
    await ctx.commit(uow)


async def follow_settings(event: Envelope[Any], ctx: HandlerContext, *,
                          repo: Repository) -> None:
    """Members, check proportion, label set and topics follow the job (JobUpdated,
    JobLabelAdded): later claims, samples and validations use them."""
    job: JobSpec = event.data.job
    if await repo.job(job.job_id) is None:
        return  # a draft: its publication will carry the settings
    uow = ctx.unit_of_work()
    uow.set(JOBS, job.job_id, _settings(job))
    await ctx.commit(uow)


# --- label rename and deletion --------------------------------------------------------------


async def rename_label(event: Envelope[Any], ctx: HandlerContext, *,
                       repo: Repository) -> None:
    data: JobLabelRenamed = event.data

    def rewrite(answer: Any) -> tuple[Any, Document] | None:
        new = ans.rename_label(data.job.topics, answer, kind=data.kind, old=data.old_name,
                               new=data.new_name, label_class=data.label_class)
        return None if new is None else (new, {})

    await _rewrite_answers(ctx, repo, data.job, rewrite)


async def delete_label(event: Envelope[Any], ctx: HandlerContext, *,
                       repo: Repository) -> None:
    """The label leaves every answer. An annotation left without any label (the deleted one
    was its item's only label), or no longer valid for the new topics (a required topic
    lost its answer), is marked ``needs_relabel``: its package cannot be submitted until
    the item is answered again, and the reason says why. With ``delete_items`` the items
    themselves are the dataset's to delete; until their deletion reaches the packages they
    are marked the same way."""
    data: JobLabelDeleted = event.data
    checker = ans.compile_job_topics(data.job.topics)
    scope = f" (class {data.label_class!r})" if data.label_class else ""

    def rewrite(answer: Any) -> tuple[Any, Document] | None:
        removal = ans.delete_label(data.job.topics, answer, kind=data.kind, name=data.name,
                                   label_class=data.label_class)
        if removal is None:
            return None
        if removal.only_label:
            reason = (f"label {data.name!r}{scope}, the item's only label, was deleted"
                      + (" with its items" if data.delete_items else ""))
        elif checker.validate(removal.answer):
            reason = f"label {data.name!r}{scope} was deleted; the answer is incomplete"
        else:
            return removal.answer, {}
        return removal.answer, {"needs_relabel": True, "relabel_reason": reason}

    await _rewrite_answers(ctx, repo, data.job, rewrite)


Rewrite = Callable[[Any], tuple[Any, Document] | None]


async def _rewrite_answers(ctx: HandlerContext, repo: Repository, job: JobSpec,
                           rewrite: Rewrite) -> None:
    """Store the new label set and topics first (so answers saved from now on are checked
    against them), then rewrite every annotation and pre-label of the job that uses the
    label, in commits of REWRITES_PER_COMMIT documents; the event is handled once the last
    one is in. Each rewrite is computed from the stored answer and sets absolute values, so
    a redelivery after a crash finds the rewritten answers unchanged by a second pass; a
    part is keyed by its content, so an identical part is never committed twice."""
    if await repo.job(job.job_id) is None:
        return  # a draft: nothing stored here uses its labels
    uow = ctx.unit_of_work()
    uow.set(JOBS, job.job_id, _settings(job))
    await ctx.commit(uow, part="job")

    pending = ctx.unit_of_work()

    async def flush(final: bool = False) -> UnitOfWork:
        nonlocal pending
        if final:
            await ctx.commit(pending)
        elif pending.ops:
            digest = hashlib.sha256(json.dumps(pending.ops, sort_keys=True, default=str)
                                    .encode()).hexdigest()[:16]
            await ctx.commit(pending, part=f"rewrite-{digest}")
        pending = ctx.unit_of_work()
        return pending

    async for doc in repo.job_annotations(job.job_id):
        changed = rewrite(answer_of(doc))
        if changed is None:
            continue
        answer, extra = changed
        pending.set(ANNOTATIONS, doc["_id"], {ANSWER_JSON: dump_answer(answer), **extra})
        if len(pending.ops) >= REWRITES_PER_COMMIT:
            await flush()
    async for doc in repo.job_prelabels(job.job_id):
        changed = rewrite(prelabel_answers(doc))
        if changed is None:
            continue
        answer, _ = changed
        pending.set(PRELABELS, doc["_id"], {"answers": {}, PRELABEL_JSON: {
            encode_key(topic): dump_answer(value) for topic, value in answer.items()}})
        if len(pending.ops) >= REWRITES_PER_COMMIT:
            await flush()
    await flush(final=True)
