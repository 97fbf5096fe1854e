"""Events the jobs service consumes.

- dataset imports: the dataset projection (kind, size, item fields) that job rules check,
  and auto-synchronised jobs following their dataset's new versions;
- package events of the assignment service: each job's progress counters and who holds
  which package (the claims projection: deleting a job or removing a team member checks it);
- the assignment service's JobCompleted: the job is completed.

Every handler is idempotent: by event id (the consumer's inbox) and by state (a package
view moves to an absolute state; a job already completed or synchronised stays as it is).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from labelops_shared.contracts import (
    DatasetImported,
    JobCompleted,
    JobUpdated,
    PackageAccepted,
    PackageChecked,
    PackageClaimed,
    PackageCreated,
    PackageRejected,
    PackageSubmitted,
)
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from labelops_shared.outbox import Outbox, UnitOfWork
from services.jobs import convert, versioned
from services.jobs.adapters.repository import (
    DATASETS,
    JOBS,
    PACKAGES,
    PROGRESS,
    Repository,
    encode,
)
from services.jobs.domain import progress
from services.jobs.domain.lifecycle import JobState
from services.jobs.domain.progress import Counters, PackageView


def register(consumer: EventConsumer, repo: Repository) -> None:
    outbox = consumer.outbox

    @consumer.on(DatasetImported)
    async def track_dataset(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Keep each dataset's latest imported version, its size and item fields (job rules
        check fields against them). The document is replaced whole, and an older version
        arriving late never replaces a newer one."""
        data: DatasetImported = event.data
        known = await repo.dataset(data.dataset_id)
        if known and known["latest_version"] > data.version:
            return
        uow = ctx.unit_of_work()
        uow.put(DATASETS, {"_id": data.dataset_id, "workspace": data.workspace,
                           "latest_version": data.version, "item_count": data.item_count,
                           "kind": data.kind, "fields": data.fields})
        await ctx.commit(uow, part="dataset")
        for job in await repo.jobs_of_dataset(data.dataset_id):
            if job.get("auto_sync") and job.get("state") != JobState.COMPLETED:
                await _sync(outbox, repo, job["_id"], data, ctx.source)

    consumer.on_batch(*_PACKAGE_MOVES)(_progress_handler(repo))

    @consumer.on(JobCompleted)
    async def completed(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Every package of the job is accepted: the job is completed (the assignment
        service's event is this transition's announcement)."""
        job_id = event.data.job_id

        async def attempt() -> None:
            doc = await repo.job(job_id)
            if doc is None or doc["state"] in (JobState.COMPLETED, JobState.DRAFT):
                return
            uow = UnitOfWork(source=ctx.source)
            now = datetime.now(UTC)
            uow.set(JOBS, job_id, {"state": JobState.COMPLETED.value, "completed_at": now,
                                   "updated_at": now, "version": doc.get("version", 0) + 1})
            await versioned.commit(outbox, uow, f"job:{job_id}", doc.get("version", 0) + 1)

        await versioned.retrying(attempt)


async def _sync(outbox: Outbox, repo: Repository, job_id: str, data: DatasetImported,
                source: str) -> None:
    """An auto-synchronised job follows its dataset's newest version (its item count grows);
    announced as JobUpdated. A redelivered import finds the job synchronised already."""
    async def attempt() -> None:
        doc = await repo.job(job_id)
        if doc is None or doc.get("dataset_version", 0) >= data.version:
            return
        doc = convert.upgrade(doc)
        fields = {"dataset_version": data.version, "item_count": data.item_count,
                  "version": doc["version"] + 1, "updated_at": datetime.now(UTC)}
        new = {**doc, **fields}
        uow = UnitOfWork(source=source)
        uow.set(JOBS, job_id, encode(fields))
        uow.emit(JobUpdated(job_id=job_id, job=convert.job_spec(new),
                            item_count=data.item_count,
                            changed=["dataset_version", "item_count"]),
                 subject=f"jobs/{job_id}")
        await versioned.commit(outbox, uow, f"job:{job_id}", doc["version"] + 1)

    await versioned.retrying(attempt)


# How each package event moves a package's view (None: the package is not known yet).
Move = Callable[[Any, PackageView | None], PackageView | None]


def _claimed(data: PackageClaimed, view: PackageView | None) -> PackageView | None:
    return progress.claimed(view, data.stage, data.holder) if view else None


def _submitted(data: PackageSubmitted, view: PackageView | None) -> PackageView | None:
    return progress.submitted(view, data.labeler, data.item_count) if view else None


def _checked(data: PackageChecked, view: PackageView | None) -> PackageView | None:
    rejected_items = len({r.item_id for r in data.rejections})
    return progress.checked(view, data.passed, rejected_items) if view else None


def _rejected(data: PackageRejected, view: PackageView | None) -> PackageView | None:
    return progress.rejected(view, len({r.item_id for r in data.rejections})) if view else None


def _accepted(data: PackageAccepted, view: PackageView | None) -> PackageView | None:
    return progress.accepted(view) if view else None


def _created(data: PackageCreated, view: PackageView | None) -> PackageView | None:
    if view is not None:
        return None  # seen already: a package is created once
    return progress.created(data.job_id, data.package_id, len(data.item_ids))


_PACKAGE_MOVES: dict[type[Any], Move] = {
    PackageCreated: _created, PackageClaimed: _claimed, PackageSubmitted: _submitted,
    PackageChecked: _checked, PackageRejected: _rejected, PackageAccepted: _accepted,
}


def _progress_handler(repo: Repository) -> Any:
    async def handle(events: list[Envelope[Any]], ctx: HandlerContext) -> None:
        """A run of package events, folded in order into the package views and job
        counters they change, written once. One job's package events arrive in order on one
        partition and one consumer handles a partition at a time, so reading the documents,
        then writing them, is safe."""
        job_ids = {e.data.job_id for e in events}
        known = await repo.by_ids(JOBS, job_ids, {"_id": 1})  # deleted ones: nothing to keep
        mine = [e for e in events if e.data.job_id in known]
        if not mine:
            return
        views = {pid: PackageView.from_doc(doc) for pid, doc in (await repo.by_ids(
            PACKAGES, {e.data.package_id for e in mine})).items()}
        stored = await repo.by_ids(PROGRESS, {e.data.job_id for e in mine})
        counters = {job: Counters.from_doc(stored.get(job)) for job in known}
        changed: dict[str, PackageView] = {}
        for event in mine:
            data = event.data
            before = views.get(data.package_id)
            after = _PACKAGE_MOVES[type(data)](data, before)
            if after is None or after == before:
                continue
            counters[data.job_id] = progress.apply(counters[data.job_id], before, after)
            views[data.package_id] = changed[data.package_id] = after
        if not changed:
            return
        uow = ctx.unit_of_work()
        for view in changed.values():
            uow.put(PACKAGES, view.to_doc())
        for job_id in sorted({view.job_id for view in changed.values()}):
            uow.put(PROGRESS, {"_id": job_id, **counters[job_id].to_doc()})
        await ctx.commit(uow)

    return handle
