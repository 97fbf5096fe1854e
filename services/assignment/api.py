"""gRPC servicer of the assignment service: claims, labeling, check and acceptance.

Each state change is one unit of work (the package's new fields + its event). Claims are
settled by unique inserts, and after a claim only the package's holder changes it, so there
are no racing writers even though the database's conditional updates are not atomic.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth, jsontext
from labelops_shared.contracts import (
    ItemRejection,
    PackageChecked,
    PackageRejected,
    PackageReleased,
    PackageSubmitted,
    PackageTransferred,
    SubmittedItem,
)
from labelops_shared.label_rewrites import labels_in
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.assignment import metrics
from services.assignment.adapters.dataset_client import Datasets
from services.assignment.adapters.repository import (
    ANSWER_JSON,
    PACKAGES,
    Repository,
    annotation_id,
    answer_of,
    dump_answer,
)
from services.assignment.claims import ClaimGroups, claim_change
from services.assignment.domain import workflow as wf
from services.assignment.domain.answers import TopicsCache
from services.assignment.domain.board import Slot
from services.assignment.domain.stats import person_stats
from services.assignment.domain.workflow import Stage, State
from services.assignment.moves import (
    LostRace,
    Packages,
    emit_accepted,
    released_fields,
)

_STAGE = {pb.STAGE_LABEL: Stage.LABEL, pb.STAGE_CHECK: Stage.CHECK, pb.STAGE_ACCEPT: Stage.ACCEPT}
_STAGE_ROLE = {Stage.LABEL: auth.LABELER, Stage.CHECK: auth.CHECKER, Stage.ACCEPT: auth.ACCEPTER}
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MEMBERS = {Stage.LABEL: "labelers", Stage.CHECK: "checkers", Stage.ACCEPT: "accepters"}
_STATE_TO_PB = {s: getattr(pb, f"PACKAGE_STATE_{s.name}") for s in State}
_PB_TO_STATE = {v: k for k, v in _STATE_TO_PB.items()}
_RATING_TO_PB = {"A": pb.RATING_A, "B": pb.RATING_B, "C": pb.RATING_C, "D": pb.RATING_D}
_PB_TO_RATING = {v: k for k, v in _RATING_TO_PB.items()}
WORKERS = frozenset({auth.LABELER, auth.CHECKER, auth.ACCEPTER})
# A claim that keeps losing races (other replicas with a stale board) gives up after this
# many candidates and answers UNAVAILABLE: the client retries.
CLAIM_ATTEMPTS = 64
ACCEPTANCE_HOLDER = "acceptance:"  # a job-level acceptance holds its packages

ROLES = {
    "ListPackages": auth.ADMINS | WORKERS,
    "ClaimPackage": WORKERS,
    "GetPackage": auth.ADMINS | WORKERS,
    "SaveAnnotation": frozenset({auth.LABELER, auth.CHECKER, auth.ACCEPTER}),
    "SubmitPackage": frozenset({auth.LABELER}),
    "ReviewPackage": frozenset({auth.CHECKER}),
    "AcceptPackage": frozenset({auth.ACCEPTER}),
    "GetJobProgress": auth.ADMINS | {auth.SERVICE},
    "RenewClaim": WORKERS,
    "ReleasePackage": auth.ADMINS | WORKERS,
    "TransferPackage": auth.ADMINS,
    "GetWorkerStats": auth.ADMINS | WORKERS,
}


def _rfc3339(moment: datetime | None) -> str:
    return _aware(moment).isoformat() if moment else ""


def _package_pb(doc: Document) -> pb.Package:
    targets = doc.get("targets") or {}
    return pb.Package(
        id=doc["_id"], job_id=doc["job_id"], index=doc["index"],
        state=_STATE_TO_PB[State(doc["state"])], holder=doc["holder"], labeler=doc["labeler"],
        item_count=doc["item_count"], rework_count=doc["rework_count"],
        rating=_RATING_TO_PB.get(doc["rating"], pb.RATING_UNSPECIFIED),
        version=doc.get("version", 0), lease_until=_rfc3339(doc.get("lease_until")),
        group=str(doc.get("group", "")), targets=targets.get("people", []),
        target_teams=targets.get("teams", []), claimed_at=_rfc3339(doc.get("claimed_at")),
    )


def _moved(state: State, **fields: Any) -> Document:
    """The package fields of a move to this state (the stage follows the state)."""
    return {"state": state.value, "stage": wf.stage_of(state), **fields}


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("context.abort raises")


class AssignmentServicer:
    def __init__(self, repo: Repository, outbox: Outbox, datasets: Datasets,
                 source: str, packages: Packages) -> None:
        self.repo = repo
        self.outbox = outbox
        self.datasets = datasets
        self.source = source
        self.packages = packages
        self.claims = ClaimGroups(packages)
        self.topics = TopicsCache()

    # --- helpers --------------------------------------------------------------------

    async def _job(self, job_id: str, context: Any) -> Document:
        job = await self.repo.recent_job(job_id)
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

    async def _commit(self, context: Any, doc: Document, fields: Document, uow: UnitOfWork,
                      action: str) -> Document:
        """The package's next version; a change that came first makes this one ABORTED
        (nothing of it happened)."""
        try:
            return await self.packages.move(doc, fields, uow, action=action,
                                            actor=auth.principal().subject)
        except LostRace as exc:
            await _abort(context, grpc.StatusCode.ABORTED,
                         f"package_id: {exc}; read it again and retry")

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
        if request.mine:  # what the caller holds, labeled, checked or accepted
            docs = [d for d in docs if caller.subject in (
                d["holder"], d["labeler"], d.get("checker"), d.get("accepter"))]
        if request.labeler:
            docs = [d for d in docs if d["labeler"] == request.labeler]
        if request.holder:
            docs = [d for d in docs if d["holder"] == request.holder]
        if request.hard or request.label:
            job = await self._job(request.job_id, context)
            marked = await self._packages_marked(job, request.hard, request.label)
            docs = [d for d in docs if d["_id"] in marked]
        return pb.ListPackagesResponse(packages=[_package_pb(d) for d in docs])

    async def GetPackage(self, request: pb.GetPackageRequest, context: Any) -> pb.PackageDetail:
        doc = await self._held(request.package_id, context, admin_ok=True)
        job = await self._job(doc["job_id"], context)
        # side by side: the items' records, their pre-labels and the answers saved so far
        data, (prelabels, marks), saved = await asyncio.gather(
            self.datasets.items(job["dataset_id"], doc["item_ids"]),
            self.repo.prelabels_and_marks(doc["job_id"], doc["item_ids"]),
            self.repo.annotations(doc["_id"]))
        answers = wf.latest_answers(saved)
        labeled = {a["item_id"]: a for a in saved if a["stage"] == Stage.LABEL}
        inspect = set(doc["to_inspect"])
        rejected = {r["item_id"]: r["reason"] for r in doc.get("rejections", [])}

        def as_json(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False)

        def item(item_id: str) -> pb.PackageItem:
            latest = answers.get(item_id) or {}
            mark = marks.get(item_id) or {}
            own = labeled.get(item_id)  # shown beside a checker's or accepter's version
            beside = own is not None and latest.get("stage") != Stage.LABEL
            return pb.PackageItem(
                prelabel_to_confirm=bool(mark.get("to_confirm")),
                prelabel_hard=bool(mark.get("hard")),
                prelabel_confidence=float(mark.get("confidence") or 0.0),
                prelabel_source=str(mark.get("source", "")),
                item_id=item_id, data_json=as_json(data.get(item_id, {})),
                prelabel_json=as_json(prelabels[item_id]) if item_id in prelabels else "",
                answer_json=as_json(answer_of(latest)) if latest else "",
                to_inspect=item_id in inspect, invalid=bool(latest.get("invalid")),
                hard=bool(latest.get("hard")), needs_relabel=bool(latest.get("needs_relabel")),
                relabel_reason=latest.get("relabel_reason", ""),
                rejection_reason=rejected.get(item_id, ""),
                labeler_answer_json=as_json(answer_of(own)) if own and beside else "")

        return pb.PackageDetail(package=_package_pb(doc),
                                items=[item(i) for i in doc["item_ids"]])

    async def GetJobProgress(
        self, request: pb.GetJobProgressRequest, context: Any
    ) -> pb.JobProgress:
        job = await self._job(request.job_id, context)
        by_state, items, accepted = await self.repo.progress(job["_id"])
        completed = await self.maybe_complete(job, by_state, items)
        return pb.JobProgress(
            job_id=job["_id"], package_count=sum(by_state.values()), item_count=items,
            packages_by_state=dict(by_state), accepted_items=accepted, completed=completed,
        )

    async def _packages_marked(self, job: Document, hard: bool, label: str) -> set[str]:
        """Packages of the job with an item whose latest answer is marked hard and/or uses
        the label (read from the job's annotations; labels never reach the query)."""
        latest: dict[tuple[str, str], Document] = {}
        async for doc in self.repo.job_annotations(job["_id"]):
            key = (doc["package_id"], doc["item_id"])
            seen = latest.get(key)
            if seen is None or wf.latest_answers([seen, doc])[doc["item_id"]] is doc:
                latest[key] = doc
        return {pkg for (pkg, _), doc in latest.items()
                if (not hard or doc.get("hard"))
                and (not label or label in labels_in(job["topics"], answer_of(doc)))}

    async def GetWorkerStats(self, request: pb.GetWorkerStatsRequest,
                             context: Any) -> pb.WorkerStats:
        job = await self._job(request.job_id, context)
        caller = auth.principal()
        people = person_stats(await self.repo.packages(job["_id"]), system=[wf.SYSTEM_LABELER])
        if not caller.is_admin:
            people = [p for p in people if p.subject == caller.subject]
        return pb.WorkerStats(job_id=job["_id"], people=[pb.PersonStats(
            subject=p.subject, items_labeled=p.items_labeled, items_checked=p.items_checked,
            items_accepted=p.items_accepted, rejections_received=p.rejections_received,
            rejection_rate=p.rejection_rate, mean_rating=p.mean_rating,
            mean_rating_letter=p.mean_rating_letter,
            median_seconds_per_item=p.median_seconds_per_item) for p in people])

    # --- claim ----------------------------------------------------------------------

    async def _may_claim(self, slot: Slot, stage: Stage, subject: str) -> bool:
        if stage is Stage.CHECK and slot.labeler == subject:
            return False  # a checker never checks their own package
        if stage is Stage.LABEL and (slot.targets or slot.target_teams):
            return subject in slot.targets or (
                bool(slot.target_teams)
                and subject in await self.repo.team_labelers(slot.target_teams))
        return True

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
        request_key = ""
        if request.request_id:
            if not _REQUEST_ID.fullmatch(request.request_id):
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                             "request_id: 1-64 of A-Z a-z 0-9 _ -")
            request_key = f"{caller.subject}:{request.request_id}"
            earlier = await self.repo.claimed_by_request(request_key)
            if (earlier is not None and earlier["job_id"] == job["_id"]
                    and earlier["holder"] == caller.subject
                    and earlier["state"] == wf.WORKING[stage].value):
                return _package_pb(earlier)  # the answer to the first attempt was lost
        try:
            won = await self._claim_next(job, stage, caller.subject, request_key)
        except LostRace as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, f"{exc}; retry")
        if won is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no open package of job {job['_id']!r} left to {stage}")
        return _package_pb(won)

    async def _claim_next(self, job: Document, stage: Stage, subject: str,
                          request_key: str = "") -> Document | None:
        """Take candidates off the claim board in package order and try them: the board
        saves the scan, the package's ticket settles the race."""
        board = self.packages.board
        waiting = wf.CLAIMABLE[stage].value
        # Packages reserved for others are passed over on the board, so however many come
        # first they never use up the attempts: the caller's membership of the teams the
        # job's rule names is read once (a team not known here is checked by _may_claim).
        rule_teams = (job.get("package_rule") or {}).get("teams") or []
        member = {t: subject in await self.repo.team_labelers([t])
                  for t in (rule_teams if stage is Stage.LABEL else [])}
        await self.packages.ensure_built()
        tried: set[str] = set()

        def allowed(s: Slot) -> bool:
            if s.package_id in tried or (stage is Stage.CHECK and s.labeler == subject):
                return False
            if stage is not Stage.LABEL or not (s.targets or s.target_teams):
                return True
            return subject in s.targets or any(member.get(t, True) for t in s.target_teams)

        for _ in range(CLAIM_ATTEMPTS):
            slot = board.take(job["_id"], waiting, allowed)
            if slot is None:
                # Nothing here waits on a rebuild: what this replica changed is on its board
                # already, and other replicas' changes arrive with the next periodic rebuild.
                return None
            tried.add(slot.package_id)
            try:
                if not await self._may_claim(slot, stage, subject):
                    continue  # given back below
                outcome = await self.claims.claim(slot, stage, subject, job, request_key)
                doc, won = outcome.doc, outcome.won
                if doc is None:
                    board.forget(slot.package_id)
                    continue
                if won is None and not outcome.contested:
                    self.packages.show(doc)  # it moved on meanwhile
                    metrics.CLAIM_CONFLICTS.inc()
                    continue
                if won is None:  # a ticket in the way: settled the single way
                    fields, uow = claim_change(self.packages, job, doc, stage, subject,
                                               request_key)
                    try:
                        won = await self.packages.move(doc, fields, uow,
                                                       action=f"claim {stage}", actor=subject)
                    except LostRace:
                        metrics.CLAIM_CONFLICTS.inc()
                        continue  # move() showed the board the package as it now is
                since = doc.get("waiting_since")
                if since is not None:
                    metrics.WAIT_SECONDS.labels(stage.value).observe(
                        (datetime.now(UTC) - _aware(since)).total_seconds())
                return won
            finally:
                board.give_back(slot)
        raise LostRace(f"job {job['_id']}: every candidate was taken meanwhile")

    # --- leases, release, transfer --------------------------------------------------

    async def RenewClaim(self, request: pb.RenewClaimRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        await self._lease_alive(doc, context)
        until = self.packages.lease_until()
        uow = self._uow()
        uow.set(PACKAGES, doc["_id"], {"lease_until": until})
        await self.outbox.commit(uow)
        self.packages.board.renew(doc["_id"], doc.get("version", 0), until.timestamp())
        return _package_pb({**doc, "lease_until": until})

    async def _lease_alive(self, doc: Document, context: Any) -> None:
        lease = doc.get("lease_until")
        if lease is not None and _aware(lease) <= datetime.now(UTC):
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"package_id: your claim of {doc['_id']} expired at "
                         f"{_rfc3339(lease)}; claim a package again")

    @staticmethod
    async def _not_in_acceptance(doc: Document, context: Any) -> None:
        """A package a job-level acceptance took in moves only when that acceptance ends."""
        if doc["holder"].startswith(ACCEPTANCE_HOLDER):
            session = doc["holder"].removeprefix(ACCEPTANCE_HOLDER)
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"package_id: {doc['_id']} is in acceptance {session}; finish "
                         "that acceptance first")

    async def ReleasePackage(self, request: pb.ReleasePackageRequest,
                             context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context, admin_ok=True)
        if not request.reason.strip():
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "reason: say why the package is released")
        await self._job(doc["job_id"], context)
        await self._not_in_acceptance(doc, context)
        stage = wf.working_stage(doc["state"])
        try:
            fields = released_fields(doc)
        except wf.WorkflowError as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        assert stage is not None
        uow = self._uow()
        uow.emit(PackageReleased(job_id=doc["job_id"], package_id=doc["_id"], stage=stage,
                                 holder=doc["holder"], by=auth.principal().subject,
                                 reason=request.reason.strip()),
                 subject=f"packages/{doc['_id']}")
        return _package_pb(await self._commit(context, doc, fields, uow, "release"))

    async def TransferPackage(self, request: pb.TransferPackageRequest,
                              context: Any) -> pb.Package:
        caller = auth.principal()
        doc = await self.repo.package(request.package_id)
        if doc is None or caller.workspace not in ("*", doc["workspace"]):
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"package_id: package {request.package_id!r} not found")
        to, reason = request.to.strip(), request.reason.strip()
        errors = ([] if to else ["to: name the worker who takes the package"]) + (
            [] if reason else ["reason: say why the package is transferred"])
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        job = await self._working_job(doc, context)
        await self._not_in_acceptance(doc, context)
        try:
            stage, state = wf.transfer(doc["state"])
        except wf.WorkflowError as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        if to == doc["holder"]:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"to: {to} holds the package already")
        if not wf.may_work(job["members"], _MEMBERS[stage], to):
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"to: {to} is not one of the {_MEMBERS[stage]} of this job")
        if stage is Stage.CHECK and to == doc["labeler"]:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"to: {to} labeled this package and cannot check it")
        fields: Document = {"state": state.value, "stage": wf.stage_of(state), "holder": to,
                            "lease_until": self.packages.lease_until(),
                            "claimed_at": datetime.now(UTC)}
        if stage is Stage.LABEL:
            fields["labeler"] = to
        if stage is Stage.CHECK and doc["state"] == State.TO_CHECK:
            fields["to_inspect"] = wf.check_sample(doc["_id"], doc["item_ids"],
                                                   job["check_ratio"])
            fields["check_started_at"] = fields["claimed_at"]
        uow = self._uow()
        uow.emit(PackageTransferred(job_id=doc["job_id"], package_id=doc["_id"], stage=stage,
                                    from_holder=doc["holder"], to_holder=to,
                                    by=caller.subject, reason=reason),
                 subject=f"packages/{doc['_id']}")
        return _package_pb(await self._commit(context, doc, fields, uow, "transfer"))

    # --- labeling -------------------------------------------------------------------

    async def SaveAnnotation(
        self, request: pb.SaveAnnotationRequest, context: Any
    ) -> pb.Annotation:
        # A package read for this holder's last save serves (at most RECENT_SECONDS old, and
        # any move made here drops it); whatever it would refuse is judged on a fresh read.
        recent = await self.repo.recent_package(request.package_id)
        doc = recent if recent is not None and _saveable(recent, request.item_id) else (
            await self._held(request.package_id, context))
        try:
            stage = wf.editing_stage(doc["state"])
        except wf.WorkflowError as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        await self._lease_alive(doc, context)
        if request.item_id not in doc["item_ids"]:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"item_id: {request.item_id!r} is not in this package")
        job = await self._working_job(doc, context)
        if request.invalid and not request.answer_json.strip():
            answer: Any = {}
        else:
            try:
                answer = jsontext.parse(request.answer_json)
            except jsontext.JsonTextError as exc:
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"answer_json: {exc}")
            # An item marked invalid needs no answer, but one that comes with it is
            # checked like any other: what is stored always fits the template.
            if not request.invalid or answer:
                await self._validate(job, request.item_id, answer, context)
        # Working keeps the claim, but the lease is written only once half of it is gone:
        # a write per saved answer would double the busiest writes for nothing.
        until = self.packages.lease_until()
        lease = doc.get("lease_until")
        renew = lease is None or (_aware(lease) - datetime.now(UTC)).total_seconds() < (
            self.packages.settings.lease_seconds / 2)
        revision = await self.repo.save_answer({
            "_id": annotation_id(doc["_id"], request.item_id, stage), "package_id": doc["_id"],
            "job_id": doc["job_id"], "item_id": request.item_id, "stage": stage.value,
            ANSWER_JSON: dump_answer(answer),
            "invalid": request.invalid, "hard": request.hard,
            "by": auth.principal().subject, "saved_at": datetime.now(UTC),
        }, doc.get("version", 0), until if renew else None)
        if renew:
            self.packages.board.renew(doc["_id"], doc.get("version", 0), until.timestamp())
        return pb.Annotation(package_id=doc["_id"], item_id=request.item_id,
                             answer_json=request.answer_json, revision=revision)

    async def SubmitPackage(self, request: pb.SubmitPackageRequest, context: Any) -> pb.Package:
        # The answers are read beside the package (they go nowhere unless it is the caller's).
        doc, labeled = await asyncio.gather(
            self._held(request.package_id, context),
            self.repo.annotations(request.package_id, Stage.LABEL))
        job = await self._working_job(doc, context)
        state = await self._move(context, wf.after_submit, doc["state"], job["workflow"])
        await self._lease_alive(doc, context)
        saved = {a["item_id"]: a for a in labeled}
        answered = {i for i, a in saved.items() if not a.get("needs_relabel")}
        missing = [i for i in doc["item_ids"] if i not in answered]
        if missing:
            first = missing[0]
            reason = saved.get(first, {}).get("relabel_reason", "")
            why = f": {reason}" if reason else ""
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"{len(missing)} of {len(doc['item_ids'])} items have no answer "
                         f"(first: {first}{why})")
        fields = _moved(state, holder="", lease_until=None, submitted_at=datetime.now(UTC))
        uow = self._uow()
        uow.emit(PackageSubmitted(
            job_id=doc["job_id"], package_id=doc["_id"], labeler=doc["labeler"],
            item_count=doc["item_count"],
            items=[SubmittedItem(item_id=i, answer=answer_of(saved[i]),
                                 hard=bool(saved[i].get("hard")),
                                 invalid=bool(saved[i].get("invalid")))
                   for i in doc["item_ids"]]),
            subject=f"packages/{doc['_id']}")
        if state is State.ACCEPTED:
            await self._accepted(uow, doc, job, accepter="")
        moved = await self._commit(context, doc, fields, uow, "submit")
        metrics.ITEMS.labels("label", "labeled").inc(doc["item_count"])
        if state is State.ACCEPTED:
            await self.maybe_complete(job)
        return _package_pb(moved)

    # --- check and acceptance -------------------------------------------------------

    async def _rejections(self, doc: Document, items: Any, context: Any) -> list[ItemRejection]:
        pairs = [(r.item_id, r.reason) for r in items]
        errors = wf.validate_rejections(doc["item_ids"], pairs)
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        return [ItemRejection(item_id=i, reason=r) for i, r in pairs]

    def _back_to_labeler(self, doc: Document, rejections: list[ItemRejection]) -> Document:
        """The labeler holds the package again, with a fresh lease, to rework it."""
        fields = wf.back_to_labeler(doc["labeler"], doc["rework_count"],
                                    [(r.item_id, r.reason) for r in rejections])
        fields["stage"] = wf.stage_of(fields["state"])
        held = bool(fields["holder"])
        fields["lease_until"] = self.packages.lease_until() if held else None
        if held:
            fields["claimed_at"] = datetime.now(UTC)
        return fields

    async def ReviewPackage(self, request: pb.ReviewPackageRequest, context: Any) -> pb.Package:
        # The checker's own versions are read beside the package (nothing is shown unless
        # the package is the caller's).
        doc, checked = await asyncio.gather(
            self._held(request.package_id, context),
            self.repo.annotations(request.package_id, Stage.CHECK))
        job = await self._working_job(doc, context)
        state = await self._move(context, wf.after_review, doc["state"], job["workflow"],
                                 request.passed)
        checker = auth.principal().subject
        subject = f"packages/{doc['_id']}"
        started = doc.get("check_started_at") or doc.get("claimed_at")
        modified = [a["item_id"] for a in checked
                    if started is None or _aware(a["saved_at"]) >= _aware(started)]
        verdicts, errors, missing = wf.inspection(
            doc["item_ids"], doc.get("to_inspect", []), list(request.approved), modified,
            [r.item_id for r in request.rejections], request.passed)
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        uow = self._uow()
        if request.passed:
            rating = _PB_TO_RATING.get(request.rating)
            if rating is None:
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                             "rating: a passed package needs a rating A-D")
            if missing:
                await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                             f"approved: {len(missing)} of the {len(doc['to_inspect'])} "
                             f"sampled items have no verdict (first: {missing[0]}); approve "
                             "each, save your version of it, or reject the package")
            fields = _moved(state, holder="", rating=rating, checker=checker,
                            lease_until=None, checked_at=datetime.now(UTC),
                            inspection=verdicts)
            uow.emit(PackageChecked(job_id=doc["job_id"], package_id=doc["_id"],
                                    checker=checker, passed=True, rating=rating,
                                    approved=verdicts["approved"],
                                    modified=verdicts["modified"]),
                     subject=subject)
            if state is State.ACCEPTED:  # no acceptance step: the check accepts
                await self._accepted(uow, doc, job, accepter=checker)
        else:
            rejections = await self._rejections(doc, request.rejections, context)
            fields = {**self._back_to_labeler(doc, rejections), "checker": checker,
                      "inspection": verdicts}
            # one event per transition: the failed check itself says where it went
            uow.emit(PackageChecked(job_id=doc["job_id"], package_id=doc["_id"],
                                    checker=checker, passed=False, rejections=rejections,
                                    approved=verdicts["approved"],
                                    modified=verdicts["modified"]),
                     subject=subject)
        moved = await self._commit(context, doc, fields, uow, "review")
        if request.passed:
            metrics.ITEMS.labels("check", "passed").inc(doc["item_count"])
        else:
            metrics.ITEMS.labels("check", "rejected").inc(len(request.rejections))
        if state is State.ACCEPTED:
            await self.maybe_complete(job)
        return _package_pb(moved)

    async def AcceptPackage(self, request: pb.AcceptPackageRequest, context: Any) -> pb.Package:
        doc = await self._held(request.package_id, context)
        job = await self._working_job(doc, context)
        state = await self._move(context, wf.after_acceptance, doc["state"], request.accepted)
        accepter = auth.principal().subject
        uow = self._uow()
        if state is State.ACCEPTED:
            fields = _moved(state, holder="", accepter=accepter, lease_until=None,
                            accepted_at=datetime.now(UTC))
            await self._accepted(uow, doc, job, accepter=accepter)
        else:
            rejections = await self._rejections(doc, request.rejections, context)
            fields = self._back_to_labeler(doc, rejections)
            uow.emit(PackageRejected(job_id=doc["job_id"], package_id=doc["_id"],
                                     stage="accept", by=accepter, rejections=rejections),
                     subject=f"packages/{doc['_id']}")
        moved = await self._commit(context, doc, fields, uow, "acceptance")
        if request.accepted:
            metrics.ITEMS.labels("accept", "accepted").inc(doc["item_count"])
        else:
            metrics.ITEMS.labels("accept", "rejected").inc(len(request.rejections))
        if state is State.ACCEPTED:
            await self.maybe_complete(job)
        return _package_pb(moved)

    async def _accepted(self, uow: UnitOfWork, doc: Document, job: Document,
                        accepter: str) -> None:
        """The accepted event of the package: each item's latest answer (items marked
        invalid have none and are left out)."""
        final = wf.latest_answers(await self.repo.annotations(doc["_id"]))
        await emit_accepted(uow, self.datasets, job, doc, [
            (i, answer_of(final[i]), bool(final[i].get("hard")))
            for i in doc["item_ids"] if i in final and not final[i].get("invalid")],
            accepter=accepter)

    async def maybe_complete(self, job: Document, by_state: Any = None,
                              items: int = 0) -> bool:
        """Emit JobCompleted once all the job's packages are accepted or closed."""
        return await self.packages.complete_if_done(job, by_state, items)


def _saveable(doc: Document, item_id: str) -> bool:
    """Everything a save checks of the package holds for the caller (held, being edited,
    lease alive, the item is in it)."""
    caller = auth.principal()
    lease = doc.get("lease_until")
    return (caller.workspace == doc["workspace"] and doc["holder"] == caller.subject
            and State(doc["state"]) in wf.EDITING
            and (lease is None or _aware(lease) > datetime.now(UTC))
            and item_id in doc["item_ids"])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
