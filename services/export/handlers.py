"""Events the export service consumes: it builds the accepted, labeled view of every job."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from labelops_shared import mongo
from labelops_shared.contracts import (
    AcceptedItem,
    ItemRevised,
    JobCreated,
    JobLabelDeleted,
    JobLabelRenamed,
    JobPublished,
    PackageAccepted,
    PackageItemsRemoved,
)
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from labelops_shared.label_rewrites import delete_label, rename_label
from labelops_shared.mongo import decode_keys
from services.export import metrics
from services.export.adapters.repository import COUNTS, JOBS, LABELED
from services.export.domain.view import accepted_values, should_replace, stored_json


def register(consumer: EventConsumer) -> None:
    async def keep_job(event: Envelope[Any], ctx: HandlerContext, final: bool = True) -> None:
        job = event.data.job
        uow = ctx.unit_of_work()
        uow.put(JOBS, {"_id": job.job_id, "workspace": job.workspace, "name": job.name,
                       "topics": job.topics, "content": job.content,
                       "labels": [lb.name for lb in job.labels]})
        await ctx.commit(uow, part=None if final else "job")

    consumer.on(JobCreated)(keep_job)
    consumer.on(JobPublished)(keep_job)

    @consumer.on_batch(PackageAccepted, ItemRevised)
    async def take_in(events: list[Envelope[Any]], ctx: HandlerContext) -> None:
        """Accepted items (PackageAccepted) and an administrator's changes of accepted items
        (ItemRevised: a newer revision, taken in like an accepted one, with who changed it
        and why): one document per (job, item) with its latest revision. A run of these
        events (one poll) is taken in together, in one commit; one job's events arrive in
        order on one partition and runs are handled one at a time, so read-compare-put is
        safe."""
        await _take_revisions(ctx, [_take_of(event) for event in events])

    @consumer.on(PackageItemsRemoved)
    async def items_removed(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Items that left the job (deleted from the dataset, or deleted with their only
        label) leave the view: later exports no longer hold them."""
        data: PackageItemsRemoved = event.data
        ids = list(dict.fromkeys(f"{data.job_id}:{item_id}" for item_id in data.item_ids))
        held = await _revisions(ctx, ids)
        uow = ctx.unit_of_work()
        for doc_id in held:
            uow.delete(LABELED, doc_id)
        await _count(ctx, uow, data.job_id, -len(held))
        await ctx.commit(uow)

    @consumer.on(JobLabelRenamed)
    async def renamed(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Accepted answers follow a label rename, so exports name the new label."""
        data: JobLabelRenamed = event.data
        await keep_job(event, ctx, final=False)
        await _rewrite_view(ctx, data.job_id, lambda answer: rename_label(
            data.job.topics, answer, kind=data.kind, old=data.old_name, new=data.new_name,
            label_class=data.label_class))

    @consumer.on(JobLabelDeleted)
    async def deleted(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Accepted answers lose a deleted label (items deleted with their only label leave
        the view when the assignment service announces their removal)."""
        data: JobLabelDeleted = event.data
        await keep_job(event, ctx, final=False)

        def without(answer: Any) -> Any:
            removal = delete_label(data.job.topics, answer, kind=data.kind, name=data.name,
                                   label_class=data.label_class)
            return None if removal is None else removal.answer

        await _rewrite_view(ctx, data.job_id, without)


REWRITE_BATCH = 200


@dataclass(frozen=True)
class _Take:
    """The items one event brings to the view."""

    event: Envelope[Any]
    job_id: str
    package_id: str
    accepter: str
    items: Sequence[AcceptedItem]
    extra: dict[str, Any] | None = None


def _take_of(event: Envelope[Any]) -> _Take:
    data = event.data
    if isinstance(data, ItemRevised):
        item = AcceptedItem(item_id=data.item_id, data=data.data, answer=data.answer,
                            labeler=data.labeler, revision=data.revision, hard=data.hard)
        return _Take(event, data.job_id, data.package_id, data.by, [item],
                     {"revised_by": data.by, "revision_reason": data.reason})
    accepted: PackageAccepted = data
    return _Take(event, accepted.job_id, accepted.package_id, accepted.accepter,
                 accepted.items)


async def _take_revisions(ctx: HandlerContext, takes: Sequence[_Take]) -> None:
    """One document per (job, item) with its latest accepted revision: an item's revision
    replaces the stored one only if newer (a redelivery, or an event overtaken by a later
    revision, changes nothing).

    A run of events is folded first, as if handled one after the other: per item, the
    first event holding its newest revision (within one event, the last of its newest).
    The folded items are then inserted, all in one round trip; only those the view holds
    already (the inserts refused as duplicates, usually none) are read and, when newer,
    replaced through the outbox, in the one commit of the run that also moves each job's
    count. Reading every item first cost a point read each, and a commit (five round trips)
    and a Kafka offset commit per event were most of the rest. Safe: one job's events
    arrive in order on one partition and runs are handled one at a time, so nothing writes
    an item between the read and the put; an insert is idempotent, so a crash before the
    commit redelivers events whose inserts find their documents there and change nothing
    (the view has no events to announce); such a document is still new to the view for
    the count, recognised by the id of the event that inserted it (whichever way the
    redelivered events are cut into runs, or handled alone after a failed run). The
    commit's record holds only the replaced documents, so its size is bounded by the
    poll's events (a Kafka fetch), well below a document's limit."""
    # When the view took the revision in: incremental exports select on it (event times
    # can arrive late; this time only grows with what the view holds).
    stored_at = datetime.now(UTC)
    docs: dict[str, dict[str, Any]] = {}  # doc id -> the revision the run brings
    for take in takes:
        newest: dict[str, AcceptedItem] = {}  # an item twice in one event: its newest
        for item in take.items:
            doc_id = f"{take.job_id}:{item.item_id}"
            if doc_id not in newest or item.revision >= newest[doc_id].revision:
                newest[doc_id] = item
        for doc_id, item in newest.items():
            held = docs.get(doc_id)
            if held is not None and not should_replace(held["revision"], item.revision):
                continue  # an earlier event of the run brought it as new or newer
            docs[doc_id] = {
                "_id": doc_id, "job_id": take.job_id, "item_id": item.item_id,
                "data_json": stored_json(item.data), "answer_json": stored_json(item.answer),
                "labeler": item.labeler, "accepter": take.accepter, "hard": item.hard,
                "package_id": take.package_id, "revision": item.revision,
                "accepted_at": take.event.time, "stored_at": stored_at,
                "event_id": take.event.id, **(take.extra or {}),
            }
    known = await mongo.retry_busy(partial(mongo.insert_absent, ctx.outbox.db[LABELED],
                                            list(docs.values())))
    found = await mongo.find_by_ids(ctx.outbox.db[LABELED], known,
                                    {"revision": 1, "event_id": 1})
    # Inserted by an earlier attempt at the very event that brings it (a crash before its
    # commit): new to the view all the same, for the count.
    again = {d["_id"] for d in found if d.get("event_id") == docs[d["_id"]]["event_id"]}
    current = {d["_id"]: int(d["revision"]) for d in found if d["_id"] not in again}
    uow = ctx.unit_of_work()
    replaced = 0
    for doc_id, revision in current.items():
        if should_replace(revision, docs[doc_id]["revision"]):
            uow.put(LABELED, docs[doc_id])
            replaced += 1
    new = Counter(doc["job_id"] for doc_id, doc in docs.items() if doc_id not in current)
    for job_id in dict.fromkeys(take.job_id for take in takes):
        await _count(ctx, uow, job_id, new[job_id])
    if await ctx.commit(uow):
        metrics.ACCEPTED_ITEMS.inc(new.total() + replaced)


async def _count(ctx: HandlerContext, uow: Any, job_id: str, change: int) -> None:
    """The job's count of view items moves with the items that came or went (``change``,
    not yet applied for removals, already inserted for new items), in the same commit. The
    events that change it (accepted, revised, removed) share the job's partition and are
    handled one at a time, so read-and-set is safe. A job without a count yet (its first
    accepted event, or one from before counts were kept) is counted once by scanning."""
    counted = await ctx.outbox.db[COUNTS].find_one({"_id": job_id})
    if counted is None:
        scanned = await ctx.outbox.db[LABELED].count_documents({"job_id": job_id})
        uow.put(COUNTS, {"_id": job_id, "items": max(0, scanned + min(change, 0))})
    elif change:
        uow.put(COUNTS, {"_id": job_id, "items": max(0, int(counted["items"]) + change)})


async def _revisions(ctx: HandlerContext, ids: list[str]) -> dict[str, int]:
    """The stored revision of each id (by id, see ``mongo.find_by_ids``)."""
    found = await mongo.find_by_ids(ctx.outbox.db[LABELED], ids, {"revision": 1})
    return {d["_id"]: int(d["revision"]) for d in found}


async def _rewrite_view(ctx: HandlerContext, job_id: str,
                        rewrite: Callable[[Any], Any]) -> None:
    """Rewrite the job's accepted answers in batches. Each batch is committed under a key
    made from its content, so after a crash the redelivered event skips what was done
    (those answers no longer change) and commits the rest; then the event is marked."""
    batch: dict[str, Any] = {}

    async def flush() -> None:
        uow = ctx.unit_of_work()
        for doc_id, answer in batch.items():
            uow.set(LABELED, doc_id, {"answer_json": stored_json(answer)})
        digest = hashlib.sha256(repr(sorted(batch.items())).encode()).hexdigest()[:16]
        await ctx.commit(uow, part=f"rewrite-{digest}")
        batch.clear()

    async for doc in ctx.outbox.db[LABELED].find({"job_id": job_id}):
        new = rewrite(accepted_values(doc, decode_keys)[1])
        if new is not None:
            batch[doc["_id"]] = new
            if len(batch) >= REWRITE_BATCH:
                await flush()
    if batch:
        await flush()
    await ctx.commit(ctx.unit_of_work())
