"""gRPC servicer of the assignment service: claims, labeling, check and acceptance.

Each state change is one unit of work (the package's new fields + its event). Only a
package's holder changes it after a claim, and claims are settled by unique inserts, so
there are no racing writers even where the database's conditional updates are not atomic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

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
from labelops_shared.mongo import Document, decode_keys, encode_keys
from labelops_shared.outbox import Outbox, UnitOfWork
from services.assignment.adapters.dataset_client import DatasetClient
from services.assignment.adapters.repository import (
    ANNOTATIONS,
    PACKAGES,
    Repository,
    annotation_id,
)
from services.assignment.domain import workflow as wf
from services.assignment.domain.workflow import Stage, State

_STAGE = {pb.STAGE_LABEL: Stage.LABEL, pb.STAGE_CHECK: Stage.CHECK, pb.STAGE_ACCEPT: Stage.ACCEPT}
_STAGE_ROLE = {Stage.LABEL: auth.LABELER, Stage.CHECK: auth.CHECKER, Stage.ACCEPT: auth.ACCEPTER}
_STATE_TO_PB = {s: getattr(pb, f"PACKAGE_STATE_{s.name}") for s in State}
_PB_TO_STATE = {v: k for k, v in _STATE_TO_PB.items()}
_RATING_TO_PB = {"A": pb.RATING_A, "B": pb.RATING_B, "C": pb.RATING_C, "D": pb.RATING_D}
_PB_TO_RATING = {v: k for k, v in _RATING_TO_PB.items()}
WORKERS = frozenset({auth.LABELER, auth.CHECKER, auth.ACCEPTER})

ROLES = {
    "ListPackages": auth.ADMINS | WORKERS,
    "ClaimPackage": WORKERS,
    "GetPackage": auth.ADMINS | WORKERS,
    "SaveAnnotation": WORKERS,
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


class AssignmentServicer:
    def __init__(self, repo: Repository, outbox: Outbox, datasets: DatasetClient,
                 source: str) -> None:
        self.repo = repo
        self.outbox = outbox
        self.datasets = datasets
        self.source = source

    # --- helpers --------------------------------------------------------------------

    async def _job(self, job_id: str, context: Any) -> Document:
        return await auth.visible_or_abort(await self.repo.job(job_id), context,
                                           f"job {job_id!r}")

    async def _held(self, pkg_id: str, context: Any, *, admin_ok: bool = False) -> Document:
        """The package, if the caller holds it (or administers its workspace, where allowed).
        Anyone else is told it does not exist: another worker's package is not revealed."""
        doc = await self.repo.package(pkg_id)
        caller = auth.principal()
        allowed = doc is not None and caller.workspace == doc["workspace"] and (
            doc["holder"] == caller.subject or (admin_ok and caller.is_admin))
        if not allowed:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"package {pkg_id!r}: not held by you")
        assert doc is not None
        return doc

    async def _commit(self, uow: UnitOfWork) -> None:
        await self.outbox.commit(uow)

    @staticmethod
    async def _refuse(context: Any, exc: wf.WorkflowError) -> None:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    # --- queries --------------------------------------------------------------------

    async def ListPackages(
        self, request: pb.ListPackagesRequest, context: Any
    ) -> pb.ListPackagesResponse:
        await self._job(request.job_id, context)
        caller = auth.principal()
        state = _PB_TO_STATE.get(request.state)
        docs = await self.repo.packages(request.job_id, state.value if state else None)
        if not caller.is_admin:
            docs = [d for d in docs if d["state"] in (State.OPEN, State.TO_CHECK, State.TO_ACCEPT)
                    or caller.subject in (d["holder"], d["labeler"])]
        return pb.ListPackagesResponse(packages=[_package_pb(d) for d in docs])

    async def GetPackage(self, request: pb.GetPackageRequest, context: Any) -> pb.PackageDetail:
        doc = await self._held(request.package_id, context, admin_ok=True)
        job = await self._job(doc["job_id"], context)
        stage = "check" if doc["state"] in (State.CHECKING, State.ACCEPTING) else "label"
        data = await self.datasets.items(job["dataset_id"], doc["item_ids"])
        prelabels = await self.repo.prelabels(doc["job_id"], doc["item_ids"])
        answers = {a["item_id"]: a for a in await self.repo.annotations(doc["_id"])
                   if a["stage"] == "label"}
        answers.update({a["item_id"]: a for a in await self.repo.annotations(doc["_id"], stage)})
        inspect = set(doc["to_inspect"])
        return pb.PackageDetail(package=_package_pb(doc), items=[
            pb.PackageItem(
                item_id=item_id, data_json=json.dumps(data.get(item_id, {}), ensure_ascii=False),
                prelabel_json=json.dumps(decode_keys(prelabels[item_id]))
                if item_id in prelabels else "",
                answer_json=json.dumps(decode_keys(answers[item_id]["answer"]))
                if item_id in answers else "",
                to_inspect=item_id in inspect,
            ) for item_id in doc["item_ids"]
        ])

    async def GetJobProgress(
        self, request: pb.GetJobProgressRequest, context: Any
    ) -> pb.JobProgress:
        job = await self._job(request.job_id, context)
        by_state, items, accepted = await self.repo.progress(job["_id"])
        count = sum(by_state.values())
        done = job.get("package_count") is not None and count == job["package_count"]
        return pb.JobProgress(
            job_id=job["_id"], package_count=count, item_count=items,
            packages_by_state=dict(by_state), accepted_items=accepted,
            completed=done and count > 0 and by_state[State.ACCEPTED] == count,
        )

    # --- claim ----------------------------------------------------------------------

    async def ClaimPackage(self, request: pb.ClaimPackageRequest, context: Any) -> pb.Package:
        stage = _STAGE.get(request.stage)
        if stage is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "stage: label, check or accept")
        assert stage is not None
        caller = auth.principal()
        if not caller.has(_STAGE_ROLE[stage]):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"claiming for {stage} needs the {_STAGE_ROLE[stage]} role")
        job = await self._job(request.job_id, context)
        members = job["members"][{"label": "labelers", "check": "checkers",
                                  "accept": "accepters"}[stage]]
        if members and caller.subject not in members:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"you are not a {stage} member of job {job['_id']!r}")
        for doc in await self.repo.claimable(job["_id"], wf.CLAIMABLE[stage]):
            if stage is Stage.CHECK and doc["labeler"] == caller.subject:
                continue  # a checker never checks their own package
            epoch = doc["claim_epoch"] + 1
            if not await self.repo.take_claim(doc["_id"], epoch, caller.subject, stage):
                continue  # someone else won this package; try the next
            fields: Document = {"state": wf.claim(doc["state"], stage).value,
                                "holder": caller.subject, "claim_epoch": epoch,
                                "claimed_at": datetime.now(UTC)}
            if stage is Stage.LABEL:
                fields["labeler"] = caller.subject
            if stage is Stage.CHECK:
                fields["to_inspect"] = wf.check_sample(doc["_id"], doc["item_ids"],
                                                       job["check_ratio"])
            uow = UnitOfWork(source=self.source)
            uow.set(PACKAGES, doc["_id"], fields)
            uow.emit(PackageClaimed(job_id=job["_id"], package_id=doc["_id"], stage=stage,
                                    holder=caller.subject), subject=f"packages/{doc['_id']}")
            await self._commit(uow)
            return _package_pb({**doc, **fields})
        await context.abort(grpc.StatusCode.NOT_FOUND,
                            f"no package of job {job['_id']!r} is waiting for {stage}")
        raise AssertionError  # unreachable: abort raises

    # --- labeling -------------------------------------------------------------------

    async def SaveAnnotation(
        self, request: pb.SaveAnnotationRequest, context: Any
    ) -> pb.Annotation:
        doc = await self._held(request.package_id, context)
        if doc["state"] not in (State.LABELING, State.CHECKING, State.ACCEPTING):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"package is {doc['state']}; answers are saved while working")
        if request.item_id not in doc["item_ids"]:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"item_id: {request.item_id!r} is not in this package")
        try:
            answer = json.loads(request.answer_json)
        except json.JSONDecodeError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"answer_json: {exc}")
        job = await self._job(doc["job_id"], context)
        errors = wf.validate_answer(job["topics"], answer)
        if errors:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        stage = "label" if doc["state"] == State.LABELING else "check"
        previous = await self.repo.annotation(doc["_id"], request.item_id, stage)
        revision = (previous["revision"] if previous else 0) + 1
        uow = UnitOfWork(source=self.source)
        uow.put(ANNOTATIONS, {
            "_id": annotation_id(doc["_id"], request.item_id, stage), "package_id": doc["_id"],
            "job_id": doc["job_id"], "item_id": request.item_id, "stage": stage,
            "answer": encode_keys(answer), "revision": revision,
            "by": auth.principal().subject, "saved_at": datetime.now(UTC),
        })
        await self._commit(uow)
        return pb.Annotation(package_id=doc["_id"], item_id=request.item_id,
                             answer_json=request.answer_json, revision=revision)

    async def SubmitPackage(self, request: pb.SubmitPackageRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        job = await self._job(doc["job_id"], context)
        try:
            state = wf.after_submit(doc["state"], job["workflow"])
        except wf.WorkflowError as exc:
            await self._refuse(context, exc)
        answered = {a["item_id"] for a in await self.repo.annotations(doc["_id"], "label")}
        missing = [i for i in doc["item_ids"] if i not in answered]
        if missing:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"{len(missing)} of {len(doc['item_ids'])} items have no "
                                f"answer (first: {missing[0]})")
        fields = {"state": state.value, "holder": "", "submitted_at": datetime.now(UTC)}
        uow = UnitOfWork(source=self.source)
        uow.set(PACKAGES, doc["_id"], fields)
        uow.emit(PackageSubmitted(job_id=doc["job_id"], package_id=doc["_id"],
                                  labeler=doc["labeler"], item_count=doc["item_count"]),
                 subject=f"packages/{doc['_id']}")
        if state is State.ACCEPTED:
            await self._accepted(uow, doc, job)
        await self._commit(uow)
        await self._maybe_complete(job)
        return _package_pb({**doc, **fields})

    # --- check and acceptance -------------------------------------------------------

    async def _rejections(self, doc: Document, items: Any, context: Any) -> list[ItemRejection]:
        rejections = [ItemRejection(item_id=r.item_id, reason=r.reason) for r in items]
        if not rejections:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "rejections: a rejection needs at least one item and reason")
        for r in rejections:
            if r.item_id not in doc["item_ids"] or not r.reason.strip():
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"rejections: {r.item_id!r} needs to be an item of this "
                                    "package, with a reason")
        return rejections

    def _back_to_labeler(self, doc: Document, rejections: list[ItemRejection]) -> Document:
        return {"state": State.LABELING.value, "holder": doc["labeler"],
                "rework_count": doc["rework_count"] + 1,
                "rejections": [r.model_dump() for r in rejections]}

    async def ReviewPackage(self, request: pb.ReviewPackageRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        job = await self._job(doc["job_id"], context)
        try:
            state = wf.after_review(doc["state"], job["workflow"], request.passed)
        except wf.WorkflowError as exc:
            await self._refuse(context, exc)
        checker = auth.principal().subject
        uow = UnitOfWork(source=self.source)
        if request.passed:
            rating = _PB_TO_RATING.get(request.rating)
            if rating is None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    "rating: a passed package needs a rating A-D")
            fields: Document = {"state": state.value, "holder": "", "rating": rating,
                                "checker": checker}
            uow.emit(PackageChecked(job_id=doc["job_id"], package_id=doc["_id"],
                                    checker=checker, passed=True, rating=rating or ""),
                     subject=f"packages/{doc['_id']}")
            if state is State.ACCEPTED:
                await self._accepted(uow, doc, job)
        else:
            rejections = await self._rejections(doc, request.rejections, context)
            fields = self._back_to_labeler(doc, rejections)
            uow.emit(PackageChecked(job_id=doc["job_id"], package_id=doc["_id"],
                                    checker=checker, passed=False, rejections=rejections),
                     subject=f"packages/{doc['_id']}")
            uow.emit(PackageRejected(job_id=doc["job_id"], package_id=doc["_id"], stage="check",
                                     by=checker, rejections=rejections),
                     subject=f"packages/{doc['_id']}")
        uow.set(PACKAGES, doc["_id"], fields)
        await self._commit(uow)
        await self._maybe_complete(job)
        return _package_pb({**doc, **fields})

    async def AcceptPackage(self, request: pb.AcceptPackageRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        job = await self._job(doc["job_id"], context)
        try:
            state = wf.after_acceptance(doc["state"], request.accepted)
        except wf.WorkflowError as exc:
            await self._refuse(context, exc)
        accepter = auth.principal().subject
        uow = UnitOfWork(source=self.source)
        if state is State.ACCEPTED:
            fields: Document = {"state": state.value, "holder": "", "accepter": accepter}
            await self._accepted(uow, doc, job, accepter)
        else:
            rejections = await self._rejections(doc, request.rejections, context)
            fields = self._back_to_labeler(doc, rejections)
            uow.emit(PackageRejected(job_id=doc["job_id"], package_id=doc["_id"],
                                     stage="accept", by=accepter, rejections=rejections),
                     subject=f"packages/{doc['_id']}")
        uow.set(PACKAGES, doc["_id"], fields)
        await self._commit(uow)
        await self._maybe_complete(job)
        return _package_pb({**doc, **fields})

    async def _accepted(self, uow: UnitOfWork, doc: Document, job: Document,
                        accepter: str = "") -> None:
        """Announce the package's final answers: the checker's version where one was saved,
        else the labeler's. The event carries everything the export needs."""
        final: dict[str, Document] = {}
        for stage in ("label", "check"):
            for a in await self.repo.annotations(doc["_id"], stage):
                final[a["item_id"]] = a
        data = await self.datasets.items(job["dataset_id"], doc["item_ids"])
        items = [AcceptedItem(item_id=i, data=data.get(i, {}),
                              answer=decode_keys(final[i]["answer"]), labeler=doc["labeler"],
                              # grows with every claim of the package: later acceptances win
                              revision=doc["claim_epoch"])
                 for i in doc["item_ids"] if i in final]
        uow.emit(PackageAccepted(job_id=doc["job_id"], package_id=doc["_id"],
                                 accepter=accepter, items=items),
                 subject=f"packages/{doc['_id']}")

    async def _maybe_complete(self, job: Document) -> None:
        by_state, items, _ = await self.repo.progress(job["_id"])
        total = sum(by_state.values())
        if total and job.get("package_count") == total and by_state[State.ACCEPTED] == total:
            uow = UnitOfWork(source=self.source)
            uow.emit(JobCompleted(job_id=job["_id"], package_count=total, item_count=items),
                     subject=f"jobs/{job['_id']}")
            await self.outbox.commit(uow, key=f"completed:{job['_id']}")  # once per job
