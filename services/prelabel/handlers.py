"""Events the prelabel service consumes: one function per event.

- jobs: the job's settings are kept; JobPublished starts its pre-labeling (offline values
  mapped here, online items queued for the model worker); ItemsAdded does the same for the
  new items of an auto-sync job.
- assignment: the job's items (PackageCreated), their submitted and accepted answers (what
  auto labeling trains on), and the labor-saved outcome of every pre-labeled item
  (PackageAccepted, rejections by a checker or accepter).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from labelops_shared.contracts import (
    ItemRejection,
    ItemsAdded,
    JobCreated,
    JobDeleted,
    JobFinished,
    JobLabelAdded,
    JobLabelDeleted,
    JobLabelRenamed,
    JobPublished,
    JobSpec,
    JobUnpublished,
    JobUpdated,
    PackageAccepted,
    PackageChecked,
    PackageCreated,
    PackageItemsRemoved,
    PackageRejected,
    PackageSubmitted,
)
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from labelops_shared.label_rewrites import delete_label, rename_label
from labelops_shared.mongo import encode_key
from labelops_shared.outbox import UnitOfWork
from services.prelabel import metrics, offline, online
from services.prelabel.adapters.dataset_client import ItemSource, ItemsUnavailable
from services.prelabel.adapters.repository import (
    ITEMS,
    JOBS,
    LABOR,
    PREDICTIONS,
    Repository,
    dump,
    item_key,
    job_doc,
    read_answers,
    spec_of,
)
from services.prelabel.domain import labor

REWRITE_BATCH = 500  # stored answers rewritten per commit after a label rename or deletion


def register(consumer: EventConsumer, source: ItemSource, repo: Repository,
             wake: asyncio.Event | None = None) -> None:
    async def keep(event: Envelope[Any], ctx: HandlerContext) -> None:
        await keep_job(event.data.job, ctx, repo)

    for kind in (JobCreated, JobUpdated, JobLabelAdded):
        consumer.on(kind)(keep)

    @consumer.on(JobPublished)
    async def published(event: Envelope[Any], ctx: HandlerContext) -> None:
        data: JobPublished = event.data
        job = data.job
        await keep_job(job, ctx, repo, state="published", final=False)
        if data.republished and await repo.status(job.job_id) is not None:
            return  # pre-labeled when first published
        if job.prelabel.mode == "online":
            await online.queue_job(job, source, ctx, wake)
        else:
            await offline.run_offline(job, source, ctx)

    @consumer.on(JobUnpublished)
    async def unpublished(event: Envelope[Any], ctx: HandlerContext) -> None:
        await set_state(event.data.job_id, "unpublished", ctx, repo)

    @consumer.on(JobFinished)
    async def finished(event: Envelope[Any], ctx: HandlerContext) -> None:
        await set_state(event.data.job_id, "finished", ctx, repo)

    @consumer.on(JobDeleted)
    async def deleted(event: Envelope[Any], ctx: HandlerContext) -> None:
        await set_state(event.data.job_id, "deleted", ctx, repo)

    @consumer.on(JobLabelRenamed)
    async def renamed(event: Envelope[Any], ctx: HandlerContext) -> None:
        data: JobLabelRenamed = event.data
        await keep_job(data.job, ctx, repo, final=False)
        await rewrite_answers(data.job_id, ctx, repo, lambda answer: rename_label(
            data.job.topics, answer, kind=data.kind, old=data.old_name, new=data.new_name,
            label_class=data.label_class))

    @consumer.on(JobLabelDeleted)
    async def label_deleted(event: Envelope[Any], ctx: HandlerContext) -> None:
        data: JobLabelDeleted = event.data
        await keep_job(data.job, ctx, repo, final=False)

        def without(answer: Any) -> Any:
            removal = delete_label(data.job.topics, answer, kind=data.kind, name=data.name,
                                   label_class=data.label_class)
            return None if removal is None else removal.answer

        await rewrite_answers(data.job_id, ctx, repo, without)

    @consumer.on(ItemsAdded)
    async def items_added(event: Envelope[Any], ctx: HandlerContext) -> None:
        await prelabel_added(event, ctx, repo, source, wake)

    consumer.on_batch(PackageCreated, PackageSubmitted)(packages_created_or_submitted)
    consumer.on(PackageAccepted)(partial(package_accepted, repo=repo))
    consumer.on(PackageItemsRemoved)(items_removed)

    @consumer.on(PackageChecked)
    async def checked(event: Envelope[Any], ctx: HandlerContext) -> None:
        data: PackageChecked = event.data
        if not data.passed:
            await rejected(data.job_id, data.rejections, ctx, repo)

    @consumer.on(PackageRejected)
    async def acceptance_rejected(event: Envelope[Any], ctx: HandlerContext) -> None:
        data: PackageRejected = event.data
        await rejected(data.job_id, data.rejections, ctx, repo)


# --- jobs -----------------------------------------------------------------------------------


async def keep_job(job: JobSpec, ctx: HandlerContext, repo: Repository, *,
                   state: str | None = None, final: bool = True) -> None:
    """The job's latest settings (its state kept unless given)."""
    stored = await repo.job(job.job_id)
    if stored is not None and stored.get("state") == "deleted":
        state = "deleted"  # a deleted job stays deleted, whatever arrives late
    state = state or (stored or {}).get("state") or "draft"
    uow = ctx.unit_of_work()
    uow.put(JOBS, job_doc(job, state))
    await ctx.commit(uow, part=None if final else "job")


async def set_state(job_id: str, state: str, ctx: HandlerContext, repo: Repository) -> None:
    stored = await repo.job(job_id)
    if stored is None or stored.get("state") == "deleted":
        return
    uow = ctx.unit_of_work()
    uow.set(JOBS, job_id, {"state": state})
    await ctx.commit(uow)


async def rewrite_answers(job_id: str, ctx: HandlerContext, repo: Repository,
                          rewrite: Callable[[Any], Any]) -> None:
    """A renamed or deleted label reaches the stored pre-labels and answers, so training
    and labor-saved read the job's current labels. In parts of REWRITE_BATCH documents."""
    uow = ctx.unit_of_work()
    part = 0
    count = 0

    async def flush() -> None:
        nonlocal uow, part, count
        await ctx.commit(uow, part=f"rewrite-{part}")
        uow, part, count = ctx.unit_of_work(), part + 1, 0

    async for doc in repo.db[PREDICTIONS].find({"job_id": job_id}):
        answers = read_answers(doc.get("answers"))
        changed = rewrite(answers)
        if changed is not None and changed != answers:
            uow.set(PREDICTIONS, doc["_id"], {"answers": {
                encode_key(topic): dump(answer) for topic, answer in changed.items()}})
            count += 1
            if count >= REWRITE_BATCH:
                await flush()
    async for doc in repo.db[ITEMS].find({"job_id": job_id}):
        fields: dict[str, Any] = {}
        for key in ("accepted_json", "submitted_json"):
            if doc.get(key):
                answer = json.loads(doc[key])
                changed = rewrite(answer)
                if changed is not None and changed != answer:
                    fields[key] = dump(changed)
        if fields:
            uow.set(ITEMS, doc["_id"], fields)
            count += 1
            if count >= REWRITE_BATCH:
                await flush()
    await ctx.commit(uow)


async def prelabel_added(event: Envelope[Any], ctx: HandlerContext, repo: Repository,
                         source: ItemSource, wake: asyncio.Event | None) -> None:
    """New items of a dataset join its auto-sync jobs: pre-label them like the first ones."""
    data: ItemsAdded = event.data
    for doc in await repo.jobs_of_dataset(data.dataset_id):
        job = spec_of(doc)
        if not job.auto_sync or doc.get("state") not in ("published", "unpublished"):
            continue
        part = f"added-{job.job_id}"
        if job.prelabel.mode == "online":
            await online.queue_items(job, data.item_ids, ctx, f"added-{event.id}", wake)
        elif offline.mapping_of(job):
            try:
                items = await source.get_items(data.dataset_id, data.item_ids)
            except ItemsUnavailable:
                continue  # deleted meanwhile: nothing to pre-label
            await offline.map_added(job, items, ctx, await repo.status(job.job_id), part)


# --- assignment: items, answers, labor saved -----------------------------------------------


ITEMS_PER_PART = 5_000  # item writes per outbox record when a run of events is folded


def _insert_item(uow: UnitOfWork, *, doc: dict[str, Any]) -> None:
    uow.insert(ITEMS, doc)


def _set_answer(uow: UnitOfWork, *, key: str, fields: dict[str, Any]) -> None:
    uow.set(ITEMS, key, fields)


async def packages_created_or_submitted(events: list[Envelope[Any]],
                                        ctx: HandlerContext) -> None:
    """The job's items (PackageCreated) and their submitted answers (PackageSubmitted: what
    a run trains on with ``train_on: submitted``, and what a rejection compares with the
    pre-label). A run of these events is folded into bulk writes: publishing a job of a
    million items announces 20,000 packages, which one at a time kept the database busy for
    half an hour. Inserts never overwrite and the answers are absolute values, so the
    folded writes equal the events applied in order, and applying them twice changes
    nothing."""
    inserts: dict[str, dict[str, Any]] = {}
    answers: dict[str, dict[str, Any]] = {}  # an item submitted twice: its last answer
    for event in events:
        data = event.data
        if isinstance(data, PackageCreated):
            item_ids = data.item_ids
        else:
            item_ids = [item.item_id for item in data.items]
            for item in data.items:
                answers[item_key(data.job_id, item.item_id)] = {
                    "submitted_json": None if item.invalid else dump(item.answer),
                    "invalid": item.invalid}
        for item_id in item_ids:
            key = item_key(data.job_id, item_id)
            inserts.setdefault(key, {"_id": key, "job_id": data.job_id, "item_id": item_id,
                                     "package_id": data.package_id})
    # Every insert before every answer: an answer's item exists when it is written.
    writes: list[Callable[[UnitOfWork], None]] = [
        *(partial(_insert_item, doc=doc) for doc in inserts.values()),
        *(partial(_set_answer, key=key, fields=fields) for key, fields in answers.items())]
    for part, start in enumerate(range(0, len(writes), ITEMS_PER_PART)):
        uow = ctx.unit_of_work()
        for write in writes[start:start + ITEMS_PER_PART]:
            write(uow)
        if start + ITEMS_PER_PART >= len(writes):
            await ctx.commit(uow)  # the last part marks the events handled
        else:
            await ctx.commit(uow, part=f"items-{part}")


async def package_accepted(event: Envelope[Any], ctx: HandlerContext, *,
                           repo: Repository) -> None:
    """Final answers: the items are labeled, and each pre-labeled one was accepted either
    unchanged (labor saved) or changed. A later acceptance of an item (a newer revision)
    replaces its outcome, so the counts stay one per item."""
    data: PackageAccepted = event.data
    ids = [item.item_id for item in data.items]
    stored = await repo.items(data.job_id, ids)
    predicted = await repo.predictions(data.job_id, ids)
    counts = _counts(await repo.labor(data.job_id))
    uow = ctx.unit_of_work()
    reviewed: list[str] = []
    # Items not stored yet (no PackageCreated seen, e.g. accepted before this service kept
    # items) are inserted whole: one bulk insert, where an insert and then a set each cost
    # a database round trip per item. An item twice in the event: its later fields win.
    inserted: dict[str, dict[str, Any]] = {}
    for item in data.items:
        doc = stored.get(item.item_id)
        if doc is not None and doc.get("accepted_revision", -1) > item.revision:
            continue  # an older revision arriving late
        key = item_key(data.job_id, item.item_id)
        fields: dict[str, Any] = {"accepted_json": dump(item.answer),
                                  "accepted_revision": item.revision}
        prediction = predicted.get(item.item_id)
        if prediction is not None and prediction["answers"]:
            new = labor.outcome(prediction["answers"], item.answer).value
            old = (doc or {}).get("outcome")
            if new != old:
                if old:
                    counts[f"accepted_{old}"] -= 1
                counts[f"accepted_{new}"] += 1
                fields["outcome"] = new
                reviewed.append(new)
        if doc is not None:
            uow.set(ITEMS, key, fields)
        elif key in inserted:
            inserted[key].update(fields)
        else:
            inserted[key] = {"_id": key, "job_id": data.job_id, "item_id": item.item_id,
                             "package_id": data.package_id, **fields}
            uow.insert(ITEMS, inserted[key])
    if reviewed:
        uow.put(LABOR, {"_id": data.job_id, **counts})
    if await ctx.commit(uow):
        for outcome in reviewed:
            metrics.REVIEWED_ITEMS.labels(outcome=outcome).inc()


def _counts(doc: dict[str, Any] | None) -> dict[str, int]:
    doc = doc or {}
    return {k: int(doc.get(k, 0)) for k in ("accepted_unchanged", "accepted_changed",
                                             "rejected")}


async def rejected(job_id: str, rejections: list[ItemRejection], ctx: HandlerContext,
                   repo: Repository) -> None:
    """Items a checker or accepter rejected while their submitted answer was still the
    pre-label: the pre-label itself was turned down (counted once per item)."""
    ids = [r.item_id for r in rejections]
    if not ids:
        return
    stored = await repo.items(job_id, ids)
    predicted = await repo.predictions(job_id, ids)
    counts = _counts(await repo.labor(job_id))
    uow = ctx.unit_of_work()
    found = 0
    for item_id in dict.fromkeys(ids):
        doc, prediction = stored.get(item_id), predicted.get(item_id)
        if doc is None or prediction is None or doc.get("rejected_prelabel"):
            continue
        submitted = json.loads(doc["submitted_json"]) if doc.get("submitted_json") else None
        if labor.kept(prediction["answers"], submitted):
            uow.set(ITEMS, doc["_id"], {"rejected_prelabel": True})
            found += 1
    if found:
        counts["rejected"] += found
        uow.put(LABOR, {"_id": job_id, **counts})
    if await ctx.commit(uow) and found:
        metrics.REVIEWED_ITEMS.labels(outcome="rejected").inc(found)


async def items_removed(event: Envelope[Any], ctx: HandlerContext) -> None:
    data: PackageItemsRemoved = event.data
    uow = ctx.unit_of_work()
    for item_id in data.item_ids:
        uow.set(ITEMS, item_key(data.job_id, item_id), {"removed": True})
    await ctx.commit(uow)
