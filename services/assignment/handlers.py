"""Event handlers: the job events, dataset item changes, teams and pre-labels the
assignment service consumes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from labelops_shared.contracts import (
    ItemsAdded,
    ItemsDeleted,
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
    PackageItemsRemoved,
    PackageSubmitted,
    PredictionsReady,
    SubmittedItem,
    TeamChanged,
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
    TEAMS,
    Repository,
    annotation_id,
    answer_of,
    dump_answer,
    package_id,
    prelabel_answers,
    prelabel_fields,
    prelabel_id,
)
from services.assignment.domain import answers as ans
from services.assignment.domain import workflow as wf
from services.assignment.domain.packaging import Cut, Cutter
from services.assignment.domain.workflow import WORKFLOWS, JobStatus, State, stage_of
from services.assignment.moves import LostRace, Packages, emit_accepted

PACKAGES_PER_COMMIT = 100
REWRITES_PER_COMMIT = 200
# A package change from an event that keeps losing races to workers is retried this often
# before the handler fails (and the consumer retries the event).
MOVE_ATTEMPTS = 20


def register(consumer: EventConsumer, repo: Repository, datasets: Datasets,
             packages: Packages) -> None:
    consumer.on(JobPublished)(partial(cut_packages, repo=repo, datasets=datasets,
                                      packages=packages))
    consumer.on(JobUnpublished)(partial(set_status, repo=repo, status=JobStatus.UNPUBLISHED))
    consumer.on(JobFinished)(partial(set_status, repo=repo, status=JobStatus.FINISHED))
    consumer.on(JobDeleted)(partial(set_status, repo=repo, status=JobStatus.DELETED))
    consumer.on(JobUpdated)(partial(follow_settings, repo=repo))
    consumer.on(JobLabelAdded)(partial(follow_settings, repo=repo))
    consumer.on(JobLabelRenamed)(partial(rename_label, repo=repo))
    consumer.on(JobLabelDeleted)(partial(delete_label, repo=repo, packages=packages))
    consumer.on(PredictionsReady)(partial(store_prelabels, repo=repo, datasets=datasets,
                                          packages=packages))
    consumer.on(ItemsAdded)(partial(sync_items, repo=repo, datasets=datasets,
                                    packages=packages))
    consumer.on(ItemsDeleted)(partial(drop_deleted_items, repo=repo, packages=packages))
    consumer.on(TeamChanged)(follow_team)


def _settings(job: JobSpec) -> Document:
    """The stored job's settings, as the latest event carries them (the packages and the
    publish state are this service's own and are kept)."""
    return job.model_dump()


def _cutter(job: JobSpec, packages_so_far: int = 0) -> Cutter:
    """The job's cutter; new items' packages continue the targeted rule's rotation."""
    rule = job.package_rule
    try:
        return Cutter(rule.kind or "fixed", job.package_size, people=rule.labelers,
                      teams=rule.teams, turn=packages_so_far)
    except ValueError as exc:
        raise Rejected(f"job {job.job_id}: package_rule: {exc}") from exc


def _package_doc(job: JobSpec, index: int, cut: Cut) -> Document:
    return {
        "_id": package_id(job.job_id, index), "job_id": job.job_id,
        "workspace": job.workspace, "index": index, "item_ids": cut.item_ids,
        "item_count": len(cut.item_ids), "state": State.OPEN.value,
        "stage": stage_of(State.OPEN), "labeler": "", "holder": "", "version": 0,
        "rework_count": 0, "rating": "", "to_inspect": [], "rejections": [],
        "group": cut.group, "targets": cut.targets, "lease_until": None,
        "waiting_since": datetime.now(UTC),
    }


def _add_package(uow: UnitOfWork, job: JobSpec, index: int, cut: Cut) -> Document:
    doc = _package_doc(job, index, cut)
    uow.insert(PACKAGES, doc)
    uow.emit(PackageCreated(job_id=job.job_id, package_id=doc["_id"], index=index,
                            item_ids=cut.item_ids), subject=f"packages/{doc['_id']}")
    return doc


async def cut_packages(event: Envelope[Any], ctx: HandlerContext, *, repo: Repository,
                       datasets: Datasets, packages: Packages) -> None:
    """Cut the job's items into packages by its rule, in import order, streaming the items
    (memory holds the packages being filled). Ids and part names are deterministic, so a
    re-run after a crash re-commits nothing already committed; packages are inserted,
    never replaced, so a re-publication can never reset a package someone works on."""
    job = event.data.job
    if job.package_size < 1:
        raise Rejected(f"job {job.job_id}: package_size must be at least 1")
    if job.workflow not in WORKFLOWS:
        raise Rejected(f"job {job.job_id}: unknown workflow {job.workflow!r}")
    cutter = _cutter(job)
    stored = await repo.job(job.job_id)
    if stored is not None and stored.get("package_count") is not None:
        # Already cut: a republication (or a second publication) opens claims again with
        # the settings it carries; the packages and the work on them stay as they are.
        uow = ctx.unit_of_work()
        uow.set(JOBS, job.job_id, {**_settings(job), "status": JobStatus.PUBLISHED.value})
        await ctx.commit(uow)
        return
    uow = ctx.unit_of_work()
    # ``cut_version``: the dataset version the job was cut from. The jobs service moves the
    # job's ``dataset_version`` on when a newer version is ready, and that JobUpdated may
    # arrive before the version's items_added chunks; the chunks are judged against this.
    uow.put(JOBS, {"_id": job.job_id, **_settings(job), "package_count": None,
                   "cut_version": job.dataset_version, "status": JobStatus.PUBLISHED.value})
    await ctx.commit(uow, part="job")

    uow, index, part = ctx.unit_of_work(), 0, 0
    docs: list[Document] = []

    async def flush(final: bool = False) -> None:
        nonlocal uow, part, docs
        if final:
            uow.set(JOBS, job.job_id, {"package_count": index})
            await ctx.commit(uow)
        else:
            await ctx.commit(uow, part=f"pkgs-{part}")
        for doc in docs:
            packages.show(doc)
        await _skip_formal(repo, datasets, packages, ctx, _stored(job), docs)
        uow, part, docs = ctx.unit_of_work(), part + 1, []

    if job.package_rule.kind == "group":
        items = datasets.item_values(job.dataset_id, job.dataset_version,
                                     job.package_rule.group_field)
    else:
        items = _without_values(datasets.item_ids(job.dataset_id, job.dataset_version))
    async for item_id, value in items:
        for cut in cutter.add(item_id, value):
            docs.append(_add_package(uow, job, index, cut))
            index += 1
            if index % PACKAGES_PER_COMMIT == 0:
                await flush()
    for cut in cutter.finish():
        docs.append(_add_package(uow, job, index, cut))
        index += 1
    await flush(final=True)


async def _without_values(ids: Any) -> Any:
    async for item_id in ids:
        yield item_id, None


def _stored(job: JobSpec) -> Document:
    return {"_id": job.job_id, **_settings(job)}


# --- dataset changes ------------------------------------------------------------------------


async def sync_items(event: Envelope[Any], ctx: HandlerContext, *, repo: Repository,
                     datasets: Datasets, packages: Packages) -> None:
    """New dataset items join every auto-synchronising job of the dataset as new packages
    (cut by the job's rule within the chunk). A chunk is committed once per job, keyed by
    (dataset, version, chunk), so a chunk announced again after a crash adds nothing."""
    data: ItemsAdded = event.data
    for job_doc in await repo.jobs_of_dataset(data.dataset_id):
        if (not job_doc.get("auto_sync") or job_doc.get("package_count") is None
                or job_doc.get("status") in (JobStatus.DELETED, JobStatus.FINISHED)
                or data.version <= job_doc.get("cut_version", job_doc["dataset_version"])):
            continue
        job = JobSpec(**{k: v for k, v in job_doc.items() if k in JobSpec.model_fields})
        index = job_doc["package_count"]
        cutter = _cutter(job, index)
        values = data.group_values.get(job.package_rule.group_field, [])
        uow, docs = ctx.unit_of_work(), []
        for n, item_id in enumerate(data.item_ids):
            for cut in cutter.add(item_id, values[n] if n < len(values) else None):
                docs.append(_add_package(uow, job, index, cut))
                index += 1
        for cut in cutter.finish():
            docs.append(_add_package(uow, job, index, cut))
            index += 1
        uow.set(JOBS, job.job_id, {"package_count": index})
        key = f"sync:{job.job_id}:{data.dataset_id}:v{data.version}:c{data.chunk}"
        if await ctx.outbox.commit(uow, key=key):
            for doc in docs:
                packages.show(doc)
            await _skip_formal(repo, datasets, packages, ctx, job_doc, docs)
    await ctx.commit(ctx.unit_of_work())


async def drop_deleted_items(event: Envelope[Any], ctx: HandlerContext, *,
                             repo: Repository, packages: Packages) -> None:
    """Items deleted from the dataset leave the packages of every job on it; the chunk's
    changes are keyed by this event, so a redelivery goes on where it stopped."""
    data: ItemsDeleted = event.data
    for job_doc in await repo.jobs_of_dataset(data.dataset_id):
        await _remove_items(repo, packages, ctx, job_doc["_id"], data.item_ids,
                            "deleted from the dataset")
    await ctx.commit(ctx.unit_of_work())


async def _remove_items(repo: Repository, packages: Packages, ctx: HandlerContext,
                        job_id: str, item_ids: Sequence[str], reason: str) -> None:
    """Take the items out of the job's packages; a package left empty is closed (an
    accepted one stays accepted, so deleted items also leave the export view). Each
    package change takes its ticket (it may race with its holder's submit); the ticket's
    owner is this event, so a redelivery after a crash goes on where it stopped."""
    gone, closed = set(item_ids), False
    for doc in await repo.packages_holding(job_id, list(item_ids)):
        for _ in range(MOVE_ATTEMPTS):
            left = [i for i in doc["item_ids"] if i not in gone]
            if len(left) == len(doc["item_ids"]):
                break  # already taken out (a redelivery)
            removed = [i for i in doc["item_ids"] if i in gone]
            fields: Document = {"item_ids": left, "item_count": len(left),
                                "to_inspect": [i for i in doc.get("to_inspect", [])
                                               if i not in gone]}
            # An accepted package stays accepted (its results are never un-accepted); its
            # deleted items leave it, and the export view, all the same.
            closing = not left and doc["state"] != State.ACCEPTED
            if closing:
                fields.update(state=State.CLOSED.value, stage="done", holder="",
                              lease_until=None)
            uow = ctx.unit_of_work()
            uow.emit(PackageItemsRemoved(job_id=job_id, package_id=doc["_id"],
                                         item_ids=removed, reason=reason, closed=closing),
                     subject=f"packages/{doc['_id']}")
            part = f"remove-{doc['_id']}-v{doc.get('version', 0)}"
            try:
                await packages.move(doc, fields, uow, action="remove items", actor="",
                                    owner=f"{ctx.key}:{part}",
                                    commit=partial(_commit_part, ctx, part))
                closed = closed or closing
                break
            except LostRace:
                fresh = await repo.package(doc["_id"])
                if fresh is None:
                    break
                doc = fresh
        else:
            raise LostRace(f"package {doc['_id']}: could not remove items")
    job = await repo.job(job_id) if closed else None
    if job is not None:  # the last packages left may have closed
        await packages.complete_if_done(job)


async def _commit_part(ctx: HandlerContext, part: str, uow: UnitOfWork) -> bool:
    return await ctx.commit(uow, part=part)


async def follow_team(event: Envelope[Any], ctx: HandlerContext) -> None:
    """Who labels in each team, for packages targeted at a team."""
    data: TeamChanged = event.data
    uow = ctx.unit_of_work()
    if data.deleted:
        uow.delete(TEAMS, data.team_id)
    else:
        uow.put(TEAMS, {"_id": data.team_id, "workspace": data.workspace,
                        "labelers": [m.email for m in data.members if m.role == "labeler"]})
    await ctx.commit(uow)


# --- pre-labels -------------------------------------------------------------------------------


async def store_prelabels(event: Envelope[Any], ctx: HandlerContext, *, repo: Repository,
                          datasets: Datasets, packages: Packages) -> None:
    """One document per (job, item); each topic's answer is set on its own, so predictions
    for one item arriving in several chunks add up instead of replacing each other. With
    the "formal" stage, a waiting package whose items are all pre-labeled now skips
    labeling."""
    data: PredictionsReady = event.data
    uow = ctx.unit_of_work()
    by_item: dict[str, dict[str, Any]] = {}
    hard: set[str] = set()
    confidence: dict[str, float] = {}
    for p in data.predictions:
        by_item.setdefault(p.item_id, {})[p.topic] = p.answer
        if p.hard:
            hard.add(p.item_id)
        if p.confidence is not None:  # the item's least sure topic
            confidence[p.item_id] = min(confidence.get(p.item_id, 1.0), p.confidence)
    for item_id, answers in by_item.items():
        doc_id = prelabel_id(data.job_id, item_id)
        uow.insert(PRELABELS, {"_id": doc_id, "job_id": data.job_id, "item_id": item_id,
                               PRELABEL_JSON: {}})
        # "to be confirmed" (auto labeling): shown to the worker, never submitted for them
        uow.set(PRELABELS, doc_id, {"source": data.source, "to_confirm": data.to_confirm,
                                    "hard": item_id in hard,
                                    "confidence": confidence.get(item_id),
                                    **prelabel_fields(answers)})
    await ctx.commit(uow, part="prelabels")
    job = await repo.job(data.job_id)
    if job is not None and by_item:
        await _skip_formal(repo, datasets, packages, ctx, job,
                           await repo.packages_holding(data.job_id, list(by_item)))
    await ctx.commit(ctx.unit_of_work())


def _formal(job: Document) -> bool:
    prelabel = job.get("prelabel") or {}
    return prelabel.get("mode", "none") != "none" and prelabel.get("stage") == "formal"


async def _skip_formal(repo: Repository, datasets: Datasets, packages: Packages,
                       ctx: HandlerContext, job: Document, docs: Sequence[Document]) -> None:
    """Formal pre-labels: a package still waiting for its first labeler whose every item
    has a valid pre-label is submitted by the system with the pre-labels as its answers,
    straight to check (or acceptance, or accepted, by the workflow)."""
    if not _formal(job) or job.get("status") in (JobStatus.FINISHED, JobStatus.DELETED):
        return
    checker = ans.compile_job_topics(job["topics"])
    accepted = False
    for doc in docs:
        if (doc["state"] != State.OPEN or doc.get("labeler") or doc.get("rework_count")
                or not doc["item_ids"]):
            continue  # claimed or labeled before, or rejected: people label it
        prelabels, marks = await repo.prelabels_and_marks(job["_id"], doc["item_ids"])
        if any(i not in prelabels for i in doc["item_ids"]):
            continue
        if any(marks.get(i, {}).get("to_confirm") for i in doc["item_ids"]):
            continue  # auto-labeled: a worker confirms or corrects them
        data = (await datasets.items(job["dataset_id"], doc["item_ids"])
                if checker.needs_item else {})
        if any(checker.validate(prelabels[i], data.get(i)) for i in doc["item_ids"]):
            continue  # an invalid pre-label: people label this package
        accepted |= await _submit_prelabeled(repo, datasets, packages, ctx, job, doc,
                                             prelabels)
    fresh = await repo.job(job["_id"]) if accepted else None
    if fresh is not None and fresh.get("package_count") is not None:  # not while cutting
        await packages.complete_if_done(fresh)  # perhaps the job's last packages


async def _submit_prelabeled(repo: Repository, datasets: Datasets, packages: Packages,
                             ctx: HandlerContext, job: Document, doc: Document,
                             prelabels: dict[str, Any]) -> bool:
    """True if the package is now accepted (a workflow without check and acceptance)."""
    labeler = wf.SYSTEM_LABELER
    state = wf.after_submit(State.LABELING, job["workflow"])
    now = datetime.now(UTC)
    uow = ctx.unit_of_work()
    for item_id in doc["item_ids"]:
        uow.put(ANNOTATIONS, {
            "_id": annotation_id(doc["_id"], item_id, "label"), "package_id": doc["_id"],
            "job_id": job["_id"], "item_id": item_id, "stage": "label",
            ANSWER_JSON: dump_answer(prelabels[item_id]), "revision": 1, "invalid": False,
            "hard": False, "by": labeler, "saved_at": now})
    uow.emit(PackageSubmitted(
        job_id=job["_id"], package_id=doc["_id"], labeler=labeler,
        item_count=doc["item_count"], skipped_labeling=True,
        items=[SubmittedItem(item_id=i, answer=prelabels[i]) for i in doc["item_ids"]]),
        subject=f"packages/{doc['_id']}")
    fields: Document = {"state": state.value, "stage": stage_of(state), "labeler": labeler,
                        "holder": "", "submitted_at": now}
    if state is State.ACCEPTED:
        await emit_accepted(uow, datasets, job, {**doc, "labeler": labeler},
                            [(i, prelabels[i], False) for i in doc["item_ids"]], accepter="")
    part = f"formal-{doc['_id']}"
    try:
        await packages.move(doc, fields, uow, action="formal pre-labels", actor=labeler,
                            owner=f"{ctx.key}:{part}", commit=partial(_commit_part, ctx, part))
    except LostRace:
        return False  # a labeler claimed it meanwhile: they confirm the pre-labels instead
    return state is State.ACCEPTED


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
                       repo: Repository, packages: Packages) -> None:
    """The label leaves every answer. An annotation left without any label (the deleted one
    was its item's only label), or no longer valid for the new topics (a required topic
    lost its answer), is marked ``needs_relabel``: its package cannot be submitted until
    the item is answered again, and the reason says why. With ``delete_items`` the items
    whose only label it was also leave the job's packages (the dataset keeps them)."""
    data: JobLabelDeleted = event.data
    checker = ans.compile_job_topics(data.job.topics)
    scope = f" (class {data.label_class!r})" if data.label_class else ""

    if data.delete_items and await repo.job(data.job.job_id) is not None:
        # Before any answer is rewritten, so a redelivery finds the same items.
        doomed: set[str] = set()
        async for doc in repo.job_annotations(data.job.job_id):
            removal = ans.delete_label(data.job.topics, answer_of(doc), kind=data.kind,
                                       name=data.name, label_class=data.label_class)
            if removal is not None and removal.only_label:
                doomed.add(doc["item_id"])
        ordered = sorted(doomed)
        for start in range(0, len(ordered), 1000):
            await _remove_items(repo, packages, ctx, data.job.job_id,
                                ordered[start:start + 1000],
                                f"its only label {data.name!r}{scope} was deleted")

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
