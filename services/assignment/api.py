"""gRPC servicer of the assignment service: claims, labeling, check and acceptance.

Each state change is one unit of work (the package's new fields + its event). Claims are
settled by unique inserts, and after a claim only the package's holder changes it, so there
are no racing writers even though the database's conditional updates are not atomic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import grpc

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    AcceptedItem,
    ItemRejection,
    JobCompleted,
    PackageAccepted,
    PackageChecked,
    PackageClaimed,
    PackageRejected,
    PackageSubmitted,
)
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.assignment.adapters.dataset_client import Datasets
from services.assignment.adapters.repository import (
    ANNOTATIONS,
    ANSWER_JSON,
    PACKAGES,
    Repository,
    annotation_id,
    answer_of,
    claim_id,
    dump_answer,
)
from services.assignment.domain import workflow as wf
from services.assignment.domain.answers import TopicsCache
from services.assignment.domain.workflow import Stage, State

_STAGE = {pb.STAGE_LABEL: Stage.LABEL, pb.STAGE_CHECK: Stage.CHECK, pb.STAGE_ACCEPT: Stage.ACCEPT}
_STAGE_ROLE = {Stage.LABEL: auth.LABELER, Stage.CHECK: auth.CHECKER, Stage.ACCEPT: auth.ACCEPTER}
_MEMBERS = {Stage.LABEL: "labelers", Stage.CHECK: "checkers", Stage.ACCEPT: "accepters"}
_STATE_TO_PB = {s: getattr(pb, f"PACKAGE_STATE_{s.name}") for s in State}
_PB_TO_STATE = {v: k for k, v in _STATE_TO_PB.items()}
_RATING_TO_PB = {"A": pb.RATING_A, "B": pb.RATING_B, "C": pb.RATING_C, "D": pb.RATING_D}
_PB_TO_RATING = {v: k for k, v in _RATING_TO_PB.items()}
WORKERS = frozenset({auth.LABELER, auth.CHECKER, auth.ACCEPTER})
# A claim whose winner has not recorded it on the package after this long is taken to be
# orphaned (the winner died between the insert and its unit of work) and is rolled forward.
STALE_CLAIM = timedelta(seconds=30)

ROLES = {
    "ListPackages": auth.ADMINS | WORKERS,
    "ClaimPackage": WORKERS,
    "GetPackage": auth.ADMINS | WORKERS,
    "SaveAnnotation": frozenset({auth.LABELER, auth.CHECKER}),
    "SubmitPackage": frozenset({auth.LABELER}),
    "ReviewPackage": frozenset({auth.CHECKER}),
    "AcceptPackage": frozenset({auth.ACCEPTER}),
    "GetJobProgress": auth.ADMINS | {auth.SERVICE},
}


def _package_pb(doc: Document) -> pb.Package:
    return pb.Package(
        id=doc["_id"], job_id=doc["job_id"], index=doc["index"],
        state=_STATE_TO_PB[State(doc["state"])], holder=doc["holder"], labeler=doc["labeler"],
        item_count=doc["item_count"], rework_count=doc["rework_count"],
        rating=_RATING_TO_PB.get(doc["rating"], pb.RATING_UNSPECIFIED),
    )


def _moved(state: State, **fields: Any) -> Document:
    """The package fields of a move to this state (the stage follows the state)."""
    return {"state": state.value, "stage": wf.stage_of(state), **fields}


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("context.abort raises")


class AssignmentServicer:
    def __init__(self, repo: Repository, outbox: Outbox, datasets: Datasets,
                 source: str) -> None:
        self.repo = repo
        self.outbox = outbox
        self.datasets = datasets
        self.source = source
        self.topics = TopicsCache()

    # --- helpers --------------------------------------------------------------------

    async def _job(self, job_id: str, context: Any) -> Document:
        job = await self.repo.job(job_id)
        if job is None or auth.principal().workspace not in ("*", job["workspace"]):
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"job_id: job {job_id!r} not found")
        return job

    async def _working_job(self, doc: Document, context: Any) -> Document:
        """The package's job, if work on it may still be saved or moved on."""
        job = await self._job(doc["job_id"], context)
        refusal = wf.work_refusal(job["_id"], job.get("status", ""))
        if refusal:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, refusal)
        return job

    async def _validate(self, job: Document, item_id: str, answer: Any, context: Any) -> None:
        """Check the answer on the shared answer model (the job's topics compiled once per
        version); the item's data is fetched only when a topic's checks read it (span text,
        image size, media duration, page count). Every error names topic, path and reason."""
        compiled = self.topics.get(job["_id"], job["topics"])
        item = None
        if compiled.needs_item:
            item = (await self.datasets.items(job["dataset_id"], [item_id])).get(item_id)
        errors = compiled.validate(answer, item)
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "answer_json: " + "; ".join(errors))

    async def _held(self, pkg_id: str, context: Any, *, admin_ok: bool = False) -> Document:
        """The package, if the caller holds it (or administers its workspace, where allowed).
        Anyone else is refused without learning anything about it."""
        doc = await self.repo.package(pkg_id)
        caller = auth.principal()
        allowed = doc is not None and caller.workspace == doc["workspace"] and (
            doc["holder"] == caller.subject or (admin_ok and caller.is_admin))
        if not allowed:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         f"package_id: package {pkg_id!r} is not held by you")
        assert doc is not None
        return doc

    @staticmethod
    async def _move(context: Any, fn: Any, *args: Any) -> State:
        """Ask the state machine for the next state; an illegal move is FAILED_PRECONDITION."""
        try:
            state: State = fn(*args)
        except wf.WorkflowError as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return state

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(source=self.source)

    # --- queries --------------------------------------------------------------------

    async def ListPackages(
        self, request: pb.ListPackagesRequest, context: Any
    ) -> pb.ListPackagesResponse:
        await self._job(request.job_id, context)
        caller = auth.principal()
        state = _PB_TO_STATE.get(request.state)
        docs = await self.repo.packages(request.job_id, state.value if state else None)
        if not caller.is_admin:
            docs = [d for d in docs if wf.visible_to_worker(d, caller.subject, caller.roles)]
        return pb.ListPackagesResponse(packages=[_package_pb(d) for d in docs])

    async def GetPackage(self, request: pb.GetPackageRequest, context: Any) -> pb.PackageDetail:
        doc = await self._held(request.package_id, context, admin_ok=True)
        job = await self._job(doc["job_id"], context)
        data = await self.datasets.items(job["dataset_id"], doc["item_ids"])
        prelabels = await self.repo.prelabels(doc["job_id"], doc["item_ids"])
        answers = wf.latest_answers(await self.repo.annotations(doc["_id"]))
        inspect = set(doc["to_inspect"])

        def as_json(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False)

        return pb.PackageDetail(package=_package_pb(doc), items=[
            pb.PackageItem(
                item_id=item_id, data_json=json.dumps(data.get(item_id, {}), ensure_ascii=False),
                prelabel_json=as_json(prelabels[item_id]) if item_id in prelabels else "",
                answer_json=as_json(answer_of(answers[item_id])) if item_id in answers else "",
                to_inspect=item_id in inspect,
            ) for item_id in doc["item_ids"]
        ])

    async def GetJobProgress(
        self, request: pb.GetJobProgressRequest, context: Any
    ) -> pb.JobProgress:
        job = await self._job(request.job_id, context)
        by_state, items, accepted = await self.repo.progress(job["_id"])
        completed = await self._maybe_complete(job, by_state, items)
        return pb.JobProgress(
            job_id=job["_id"], package_count=sum(by_state.values()), item_count=items,
            packages_by_state=dict(by_state), accepted_items=accepted, completed=completed,
        )

    # --- claim ----------------------------------------------------------------------

    async def ClaimPackage(self, request: pb.ClaimPackageRequest, context: Any) -> pb.Package:
        stage = _STAGE.get(request.stage)
        if stage is None:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "stage: one of STAGE_LABEL, STAGE_CHECK, STAGE_ACCEPT")
        caller = auth.principal()
        if not caller.has(_STAGE_ROLE[stage]):
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         f"stage: claiming for {stage} needs the {_STAGE_ROLE[stage]} role")
        job = await self._job(request.job_id, context)
        if not wf.may_work(job["members"], _MEMBERS[stage], caller.subject):
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         f"job_id: you are not one of the {_MEMBERS[stage]} of this job")
        refusal = wf.claim_refusal(job["_id"], job.get("status", ""))
        if refusal:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, refusal)
        after = -1
        while page := await self.repo.claimable(job["_id"], wf.CLAIMABLE[stage], after):
            for doc in page:
                after = doc["index"]
                if stage is Stage.CHECK and doc["labeler"] == caller.subject:
                    continue  # a checker never checks their own package
                epoch = doc["claim_epoch"] + 1
                if await self.repo.take_claim(doc["_id"], stage, epoch, caller.subject):
                    fields = await self._record_claim(doc, job, stage, epoch, caller.subject,
                                                      datetime.now(UTC))
                    return _package_pb({**doc, **fields})
                await self._roll_forward_if_orphaned(doc, job, stage, epoch)
                # someone else won this package; try the next one
        await _abort(context, grpc.StatusCode.NOT_FOUND,
                     f"no open package of job {job['_id']!r} left to {stage}")

    async def _record_claim(self, doc: Document, job: Document, stage: Stage, epoch: int,
                            holder: str, claimed_at: datetime) -> Document:
        """Record a won claim on the package. Keyed by the claim, so it happens once."""
        fields = _moved(wf.claim(doc["state"], stage), holder=holder, claim_epoch=epoch,
                        claimed_at=claimed_at)
        if stage is Stage.LABEL:
            fields["labeler"] = holder
        if stage is Stage.CHECK:
            fields["to_inspect"] = wf.check_sample(doc["_id"], doc["item_ids"],
                                                   job["check_ratio"])
        uow = self._uow()
        uow.set(PACKAGES, doc["_id"], fields)
        uow.emit(PackageClaimed(job_id=job["_id"], package_id=doc["_id"], stage=stage,
                                holder=holder), subject=f"packages/{doc['_id']}")
        await self.outbox.commit(uow, key=f"claim:{claim_id(doc['_id'], stage, epoch)}")
        return fields

    async def _roll_forward_if_orphaned(self, doc: Document, job: Document, stage: Stage,
                                        epoch: int) -> None:
        """A claim row whose package never heard of it, long after, lost its writer: finish
        the claim for the recorded holder, so the package does not stay unclaimable."""
        claim = await self.repo.claim(doc["_id"], stage, epoch)
        if claim is None or datetime.now(UTC) - _aware(claim["claimed_at"]) < STALE_CLAIM:
            return
        current = await self.repo.package(doc["_id"])
        if current and current["claim_epoch"] == epoch - 1 and current["state"] == doc["state"]:
            await self._record_claim(current, job, stage, epoch, claim["holder"],
                                     _aware(claim["claimed_at"]))

    # --- labeling -------------------------------------------------------------------

    async def SaveAnnotation(
        self, request: pb.SaveAnnotationRequest, context: Any
    ) -> pb.Annotation:
        doc = await self._held(request.package_id, context)
        try:
            stage = wf.editing_stage(doc["state"])
        except wf.WorkflowError as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        if request.item_id not in doc["item_ids"]:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"item_id: {request.item_id!r} is not in this package")
        try:
            answer = json.loads(request.answer_json)
        except json.JSONDecodeError as exc:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"answer_json: {exc}")
        job = await self._working_job(doc, context)
        await self._validate(job, request.item_id, answer, context)
        previous = await self.repo.annotation(doc["_id"], request.item_id, stage)
        revision = (previous["revision"] if previous else 0) + 1
        uow = self._uow()
        uow.put(ANNOTATIONS, {
            "_id": annotation_id(doc["_id"], request.item_id, stage), "package_id": doc["_id"],
            "job_id": doc["job_id"], "item_id": request.item_id, "stage": stage.value,
            ANSWER_JSON: dump_answer(answer), "revision": revision,
            "by": auth.principal().subject, "saved_at": datetime.now(UTC),
        })
        await self.outbox.commit(uow)
        return pb.Annotation(package_id=doc["_id"], item_id=request.item_id,
                             answer_json=request.answer_json, revision=revision)

    async def SubmitPackage(self, request: pb.SubmitPackageRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        job = await self._working_job(doc, context)
        state = await self._move(context, wf.after_submit, doc["state"], job["workflow"])
        saved = await self.repo.annotations(doc["_id"], Stage.LABEL)
        answered = {a["item_id"] for a in saved if not a.get("needs_relabel")}
        relabel = {a["item_id"]: a.get("relabel_reason", "") for a in saved
                   if a.get("needs_relabel")}
        missing = [i for i in doc["item_ids"] if i not in answered]
        if missing:
            first = missing[0]
            why = f": {relabel[first]}" if first in relabel else ""
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"{len(missing)} of {len(doc['item_ids'])} items have no answer "
                         f"(first: {first}{why})")
        fields = _moved(state, holder="", submitted_at=datetime.now(UTC))
        uow = self._uow()
        uow.set(PACKAGES, doc["_id"], fields)
        uow.emit(PackageSubmitted(job_id=doc["job_id"], package_id=doc["_id"],
                                  labeler=doc["labeler"], item_count=doc["item_count"]),
                 subject=f"packages/{doc['_id']}")
        if state is State.ACCEPTED:
            await self._accepted(uow, doc, job, accepter="")
        await self.outbox.commit(uow)
        if state is State.ACCEPTED:
            await self._maybe_complete(job)
        return _package_pb({**doc, **fields})

    # --- check and acceptance -------------------------------------------------------

    async def _rejections(self, doc: Document, items: Any, context: Any) -> list[ItemRejection]:
        pairs = [(r.item_id, r.reason) for r in items]
        errors = wf.validate_rejections(doc["item_ids"], pairs)
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        return [ItemRejection(item_id=i, reason=r) for i, r in pairs]

    @staticmethod
    def _back_to_labeler(doc: Document, rejections: list[ItemRejection]) -> Document:
        fields = wf.back_to_labeler(doc["labeler"], doc["rework_count"],
                                    [(r.item_id, r.reason) for r in rejections])
        fields["stage"] = wf.stage_of(fields["state"])
        return fields

    async def ReviewPackage(self, request: pb.ReviewPackageRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        job = await self._working_job(doc, context)
        state = await self._move(context, wf.after_review, doc["state"], job["workflow"],
                                 request.passed)
        checker = auth.principal().subject
        subject = f"packages/{doc['_id']}"
        uow = self._uow()
        if request.passed:
            rating = _PB_TO_RATING.get(request.rating)
            if rating is None:
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                             "rating: a passed package needs a rating A-D")
            fields = _moved(state, holder="", rating=rating, checker=checker)
            uow.emit(PackageChecked(job_id=doc["job_id"], package_id=doc["_id"],
                                    checker=checker, passed=True, rating=rating),
                     subject=subject)
            if state is State.ACCEPTED:  # no acceptance step: the check accepts
                await self._accepted(uow, doc, job, accepter=checker)
        else:
            rejections = await self._rejections(doc, request.rejections, context)
            fields = self._back_to_labeler(doc, rejections)
            uow.emit(PackageChecked(job_id=doc["job_id"], package_id=doc["_id"],
                                    checker=checker, passed=False, rejections=rejections),
                     subject=subject)
            uow.emit(PackageRejected(job_id=doc["job_id"], package_id=doc["_id"], stage="check",
                                     by=checker, rejections=rejections), subject=subject)
        uow.set(PACKAGES, doc["_id"], fields)
        await self.outbox.commit(uow)
        if state is State.ACCEPTED:
            await self._maybe_complete(job)
        return _package_pb({**doc, **fields})

    async def AcceptPackage(self, request: pb.AcceptPackageRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        job = await self._working_job(doc, context)
        state = await self._move(context, wf.after_acceptance, doc["state"], request.accepted)
        accepter = auth.principal().subject
        uow = self._uow()
        if state is State.ACCEPTED:
            fields = _moved(state, holder="", accepter=accepter)
            await self._accepted(uow, doc, job, accepter=accepter)
        else:
            rejections = await self._rejections(doc, request.rejections, context)
            fields = self._back_to_labeler(doc, rejections)
            uow.emit(PackageRejected(job_id=doc["job_id"], package_id=doc["_id"],
                                     stage="accept", by=accepter, rejections=rejections),
                     subject=f"packages/{doc['_id']}")
        uow.set(PACKAGES, doc["_id"], fields)
        await self.outbox.commit(uow)
        if state is State.ACCEPTED:
            await self._maybe_complete(job)
        return _package_pb({**doc, **fields})

    async def _accepted(self, uow: UnitOfWork, doc: Document, job: Document,
                        accepter: str) -> None:
        """Announce the package's final answers with the dataset records: everything the
        export needs, so it never calls back."""
        final = wf.latest_answers(await self.repo.annotations(doc["_id"]))
        data = await self.datasets.items(job["dataset_id"], doc["item_ids"])
        items = [AcceptedItem(item_id=i, data=data.get(i, {}),
                              answer=answer_of(final[i]), labeler=doc["labeler"],
                              # grows with every claim of the package: later acceptances win
                              revision=doc["claim_epoch"])
                 for i in doc["item_ids"] if i in final]
        uow.emit(PackageAccepted(job_id=doc["job_id"], package_id=doc["_id"],
                                 accepter=accepter, items=items),
                 subject=f"packages/{doc['_id']}")

    async def _maybe_complete(self, job: Document, by_state: Any = None,
                              items: int = 0) -> bool:
        """Emit JobCompleted once all the job's packages are accepted (once per job: the
        outbox key is the job's). Called after every acceptance and by GetJobProgress, so
        a crash between the two commits is repaired by the next progress query."""
        if by_state is None:
            by_state, items, _ = await self.repo.progress(job["_id"])
        total = sum(by_state.values())
        refreshed = job if job.get("package_count") is not None else (
            await self.repo.job(job["_id"]) or job)
        done = (bool(total) and refreshed.get("package_count") == total
                and by_state[State.ACCEPTED] == total)
        if done:
            uow = self._uow()
            uow.emit(JobCompleted(job_id=job["_id"], package_count=total, item_count=items),
                     subject=f"jobs/{job['_id']}")
            await self.outbox.commit(uow, key=f"completed:{job['_id']}")
        return done


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
