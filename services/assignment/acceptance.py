"""gRPC servicer of job-level acceptance (``AcceptanceService``) and of administrators'
revisions of accepted items. The rules are in ``domain/acceptance.py``.

Every package change goes through ``Packages.move`` (the ticket of the package's next
version settles races):

- starting takes each waiting package into the session (holder ``acceptance:<session>``,
  no lease); a package another change took first is left out. The session's id is its
  job's next number, so of two acceptances started at once only one is created;
- finishing moves each package of the session once: accepted (one PackageAccepted with the
  final answers) or back to its labeler (PackageRejected with the reasons). Each move's
  ticket owner is fixed by (session, package, version), so calling FinishAcceptance again
  after a crash completes the packages left without moving any twice. The finish choice
  (scope, policy) is recorded by a unique insert before the first move, so every package
  of a session is finished the same way.

An item passed by an acceptance while its package went back for rework keeps its accepted
answer as an annotation of stage ``accept`` (label renames and deletions rewrite it like
any answer); the overwrite policy of a later acceptance keeps or replaces it. A revision
by an administrator is stored the same way, on an accepted package.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import grpc

from labelops.assignment.v1 import acceptance_pb2 as pb
from labelops.assignment.v1 import assignment_pb2 as apb
from labelops_shared import auth, jsontext
from labelops_shared.contracts import ItemRejection, ItemRevised, PackageClaimed, PackageRejected
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.assignment.adapters.acceptances import (
    ACCEPTANCES,
    OUTCOMES,
    SAMPLED,
    Acceptances,
    outcome_id,
    sampled_id,
)
from services.assignment.adapters.dataset_client import Datasets
from services.assignment.adapters.repository import (
    ANNOTATIONS,
    ANSWER_JSON,
    Repository,
    annotation_id,
    answer_of,
    dump_answer,
)
from services.assignment.domain import acceptance as ac
from services.assignment.domain import workflow as wf
from services.assignment.domain.answers import TopicsCache
from services.assignment.domain.workflow import Stage, State
from services.assignment.moves import LostRace, Packages, emit_accepted

ACCEPTING = auth.ADMINS | {auth.ACCEPTER}
ROLES = {
    "StartAcceptance": ACCEPTING,
    "GetAcceptance": ACCEPTING,
    "DecideItems": ACCEPTING,
    "FinishAcceptance": ACCEPTING,
    "ListAcceptances": ACCEPTING,
    "ReviseAcceptedItem": auth.ADMINS,
}

_STATE_TO_PB = {s: getattr(pb, f"ACCEPTANCE_STATE_{s.name}") for s in ac.SessionState}
_SCOPE_TO_PB = {s: getattr(pb, f"ACCEPTANCE_SCOPE_{s.name}") for s in ac.Scope}
_PB_TO_SCOPE = {v: k for k, v in _SCOPE_TO_PB.items()}
_OVERWRITE_TO_PB = {o: getattr(pb, f"OVERWRITE_POLICY_{o.name}") for o in ac.Overwrite}
_PB_TO_OVERWRITE = {v: k for k, v in _OVERWRITE_TO_PB.items()}
_VERDICT_TO_PB = {ac.Verdict.PASS: pb.VERDICT_PASS, ac.Verdict.REJECT: pb.VERDICT_REJECT}
_PB_TO_VERDICT = {v: k.value for k, v in _VERDICT_TO_PB.items()}
_RATING_TO_PB = {"A": apb.RATING_A, "B": apb.RATING_B, "C": apb.RATING_C, "D": apb.RATING_D}
_PB_TO_RATING = {v: k for k, v in _RATING_TO_PB.items()}

PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
SAMPLE_WRITES_PER_COMMIT = 500
CONCURRENT_MOVES = 8
MOVE_ATTEMPTS = 5
# A session still taking its packages in after this long lost its starter (a crash): the
# next call that reads it takes them in instead (the same moves, so nothing twice).
STARTING_STALE = timedelta(seconds=60)

Complete = Callable[[Document], Awaitable[Any]]


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("context.abort raises")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rfc3339(moment: datetime | None) -> str:
    return _aware(moment).isoformat() if moment else ""


def _report_pb(report: ac.Report) -> pb.AcceptanceReport:
    return pb.AcceptanceReport(pass_rate=report.pass_rate, sampled=report.sampled,
                               pending=report.pending, accepted=report.accepted,
                               passed=report.passed, rejected=report.rejected)


def _item_pb(doc: Document) -> pb.AcceptanceItem:
    return pb.AcceptanceItem(
        item_id=doc["item_id"], package_id=doc["package_id"],
        verdict=_VERDICT_TO_PB.get(doc.get("verdict", ""), pb.VERDICT_UNSPECIFIED),
        rating=_RATING_TO_PB.get(doc.get("rating", ""), apb.RATING_UNSPECIFIED),
        reason=doc.get("reason", ""), decided_by=doc.get("by", ""))


def _stored_outcome(doc: Document) -> ac.PackageOutcome:
    return ac.PackageOutcome(tuple(
        ac.ItemOutcome(i["item_id"], passed=i["passed"], rating=i.get("rating", ""),
                       reason=i.get("reason", ""), kept=i.get("kept", False))
        for i in doc["items"]))


class AcceptanceServicer:
    def __init__(self, repo: Repository, sessions: Acceptances, outbox: Outbox,
                 datasets: Datasets, source: str, packages: Packages,
                 complete: Complete | None = None) -> None:
        self.repo = repo
        self.sessions = sessions
        self.outbox = outbox
        self.datasets = datasets
        self.source = source
        self.packages = packages
        # The job-completion check of the assignment servicer (JobCompleted once every
        # package is accepted), called after a finish accepted packages.
        self.complete = complete
        self.topics = TopicsCache()

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(source=self.source)

    # --- access ---------------------------------------------------------------------

    async def _job(self, job_id: str, context: Any) -> Document:
        """The job, if the caller's workspace holds it (else NOT_FOUND) and the caller
        accepts for it (an administrator, or one of the job's accepters)."""
        job = await self.repo.job(job_id)
        caller = auth.principal()
        if job is None or caller.workspace not in ("*", job["workspace"]):
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"job_id: job {job_id!r} not found")
        if not caller.is_admin and not wf.may_work(job["members"], "accepters",
                                                   caller.subject):
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         "job_id: you are not one of the accepters of this job")
        return job

    async def _session(self, session_id: str, context: Any) -> tuple[Document, Document]:
        """The session and its job, under the same rules as the job."""
        session = await self.sessions.session(session_id)
        caller = auth.principal()
        if session is None or caller.workspace not in ("*", session["workspace"]):
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"acceptance_id: acceptance {session_id!r} not found")
        job = await self._job(session["job_id"], context)
        return await self._settled(session), job

    @staticmethod
    async def _working(job: Document, context: Any) -> None:
        refusal = wf.work_refusal(job["_id"], job.get("status", ""))
        if refusal:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, refusal)

    async def _settled(self, session: Document) -> Document:
        """The session, its taking-in completed if its starter died meanwhile."""
        stalled = (session["state"] == ac.SessionState.STARTING and
                   datetime.now(UTC) - _aware(session["started_at"]) > STARTING_STALE)
        return await self._take_in(session) if stalled else session

    # --- the session as an answer ---------------------------------------------------

    async def _report(self, session: Document) -> ac.Report:
        stored = session.get("report")
        if session["state"] == ac.SessionState.FINISHED and stored:
            return ac.Report(**stored)
        verdicts = [d.get("verdict", "") async for d in
                    self.sessions.all_sampled(session["_id"])]
        return ac.report(session.get("sampled", 0), verdicts)

    async def _session_pb(self, session: Document, *, items: Iterable[pb.AcceptanceItem] = (),
                          next_token: str = "") -> pb.Acceptance:
        sampling = session["sampling"]
        found = pb.Acceptance(
            id=session["_id"], job_id=session["job_id"],
            state=_STATE_TO_PB[ac.SessionState(session["state"])],
            started_by=session["started_by"], started_at=_rfc3339(session["started_at"]),
            package_ids=session.get("package_ids", []),
            item_count=session.get("item_count", 0),
            report=_report_pb(await self._report(session)),
            finished_by=session.get("finished_by", ""),
            finished_at=_rfc3339(session.get("finished_at")),
            items=list(items), next_page_token=next_token)
        if sampling["by"] == "percent":
            found.percent = sampling["value"]
        else:
            found.quantity = int(sampling["value"])
        if session.get("scope"):
            found.scope = _SCOPE_TO_PB[ac.Scope(session["scope"])]
            found.overwrite = _OVERWRITE_TO_PB[ac.Overwrite(session["overwrite"])]
        if session.get("outcome"):
            found.outcome.CopyFrom(pb.AcceptanceOutcome(**session["outcome"]))
        return found

    # --- start ----------------------------------------------------------------------

    async def StartAcceptance(self, request: pb.StartAcceptanceRequest,
                              context: Any) -> pb.Acceptance:
        which = request.WhichOneof("sample")
        sampling = ac.Sampling(which or "", float(getattr(request, which)) if which else 0.0)
        try:
            sampling.validate()
        except ac.AcceptanceError as exc:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        job = await self._job(request.job_id, context)
        refusal = wf.claim_refusal(job["_id"], job.get("status", ""))
        if refusal:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, refusal)
        latest = await self.sessions.latest(job["_id"])
        if latest is not None:
            latest = await self._settled(latest)
            if latest["state"] != ac.SessionState.FINISHED:
                await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, _in_progress(latest))
        waiting = await self.sessions.waiting_packages(job["_id"], State.TO_ACCEPT.value)
        if not waiting:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"job_id: no package of job {job['_id']} waits for acceptance")
        number = (latest["number"] if latest else 0) + 1
        session: Document = {
            "_id": ac.session_id(job["_id"], number), "job_id": job["_id"],
            "workspace": job["workspace"], "number": number,
            "state": ac.SessionState.STARTING.value,
            "started_by": auth.principal().subject, "started_at": datetime.now(UTC),
            "sampling": {"by": sampling.by, "value": sampling.value},
            "candidates": [{"package_id": d["_id"], "version": d.get("version", 0)}
                           for d in waiting],
            "package_ids": [], "item_count": 0, "sampled": 0,
        }
        if not await self.sessions.create(session):
            other = await self.sessions.latest(job["_id"]) or session
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, _in_progress(other))
        return await self._session_pb(await self._take_in(session))

    async def _take_in(self, session: Document) -> Document:
        """Take the session's candidate packages (those waiting when it started) into it,
        sample their items and open the session for decisions. Re-running it (a starter
        that died) repeats the same moves under the same ticket owners: a package is
        taken once, and the sample is the same."""
        sid, who = session["_id"], ac.holder(session["_id"])
        limit = asyncio.Semaphore(CONCURRENT_MOVES)

        async def take(package_id: str) -> Document | None:
            async with limit:
                doc = await self.repo.package(package_id)
                for _ in range(MOVE_ATTEMPTS):
                    if doc is None or doc["holder"] == who:
                        return doc
                    if doc["state"] != State.TO_ACCEPT:
                        return None  # claimed, released... by someone else: left out
                    uow = self._uow()
                    uow.emit(PackageClaimed(job_id=doc["job_id"], package_id=doc["_id"],
                                            stage=Stage.ACCEPT.value, holder=who),
                             subject=f"packages/{doc['_id']}")
                    fields = {"state": State.ACCEPTING.value, "stage": Stage.ACCEPT.value,
                              "holder": who, "lease_until": None,
                              "claimed_at": datetime.now(UTC)}
                    owner = f"{who}:take:{doc['_id']}:v{doc.get('version', 0)}"
                    try:
                        return await self.packages.move(
                            doc, fields, uow, action="acceptance take",
                            actor=session["started_by"], owner=owner)
                    except LostRace:
                        doc = await self.repo.package(package_id)
                return None

        found = await asyncio.gather(*(take(c["package_id"]) for c in session["candidates"]),
                                     return_exceptions=True)
        failed = [e for e in found if isinstance(e, BaseException)]
        if failed:  # every move ended first: a re-run finds a settled state
            raise failed[0]
        taken = [d for d in found if isinstance(d, dict) and d["holder"] == who]
        by = session["sampling"]
        items = [(i, d["_id"]) for d in taken for i in d["item_ids"]]
        chosen = ac.sample(sid, [i for i, _ in items], ac.Sampling(by["by"], by["value"]))
        package_of = dict(items)
        for start in range(0, len(chosen), SAMPLE_WRITES_PER_COMMIT):
            uow = self._uow()
            for item_id in chosen[start:start + SAMPLE_WRITES_PER_COMMIT]:
                uow.insert(SAMPLED, {
                    "_id": sampled_id(sid, item_id), "session_id": sid,
                    "job_id": session["job_id"], "package_id": package_of[item_id],
                    "item_id": item_id, "verdict": "", "rating": "", "reason": "", "by": "",
                    "decided_at": None})
            await self.outbox.commit(uow, key=f"acceptance:{sid}:sample:{start}")
        opened = {"state": ac.SessionState.ONGOING.value,
                  "package_ids": [d["_id"] for d in taken], "item_count": len(items),
                  "sampled": len(chosen)}
        uow = self._uow()
        uow.set(ACCEPTANCES, sid, opened)
        await self.outbox.commit(uow, key=f"acceptance:{sid}:opened")
        return await self.sessions.session(sid) or {**session, **opened}

    # --- continue -------------------------------------------------------------------

    async def GetAcceptance(self, request: pb.GetAcceptanceRequest,
                            context: Any) -> pb.Acceptance:
        if request.acceptance_id:
            session, job = await self._session(request.acceptance_id, context)
        elif request.job_id:
            job = await self._job(request.job_id, context)
            latest = await self.sessions.latest(job["_id"])
            if latest is None:
                await _abort(context, grpc.StatusCode.NOT_FOUND,
                             f"job_id: job {job['_id']} has no acceptance")
            session = await self._settled(latest)
        else:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "acceptance_id: name the acceptance (or its job)")
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"page_size: 1 to {MAX_PAGE_SIZE} (0: {PAGE_SIZE})")
        size = request.page_size or PAGE_SIZE
        if request.page_token and not request.page_token.startswith(f"{session['_id']}:"):
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "page_token: not a page of this acceptance")
        page = await self.sessions.sampled_page(session["_id"], request.page_token, size + 1,
                                                request.pending_only)
        next_token = page[size - 1]["_id"] if len(page) > size else ""
        page = page[:size]
        data = await self.datasets.items(job["dataset_id"], [d["item_id"] for d in page])
        answers: dict[str, Any] = {}
        for package_id in dict.fromkeys(d["package_id"] for d in page):
            answers.update(wf.latest_answers(await self.repo.annotations(package_id)))
        items = []
        for doc in page:
            item = _item_pb(doc)
            item.data_json = json.dumps(data.get(doc["item_id"], {}), ensure_ascii=False)
            latest = answers.get(doc["item_id"])
            if latest:
                item.answer_json = json.dumps(answer_of(latest), ensure_ascii=False)
            items.append(item)
        return await self._session_pb(session, items=items, next_token=next_token)

    async def ListAcceptances(self, request: pb.ListAcceptancesRequest,
                              context: Any) -> pb.ListAcceptancesResponse:
        job = await self._job(request.job_id, context)
        found = [await self._session_pb(await self._settled(s))
                 for s in await self.sessions.sessions(job["_id"])]
        return pb.ListAcceptancesResponse(acceptances=found)

    async def DecideItems(self, request: pb.DecideItemsRequest, context: Any) -> pb.Acceptance:
        session, job = await self._session(request.acceptance_id, context)
        await self._working(job, context)
        state = session["state"]
        if state == ac.SessionState.ONGOING and await self.sessions.finish_choice(
                session["_id"]) is not None:
            state = ac.SessionState.FINISHING.value  # the finish chose its scope already
        if state != ac.SessionState.ONGOING:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"acceptance {session['_id']} is {state}; items are decided while "
                         "it is ongoing")
        if not request.decisions or len(request.decisions) > ac.MAX_DECISIONS:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"decisions: 1 to {ac.MAX_DECISIONS} item decisions")
        sampled = await self.sessions.sampled(session["_id"],
                                              [d.item_id for d in request.decisions])
        decided: dict[str, ac.Decision] = {}
        errors = []
        for d in request.decisions:
            try:
                decided[d.item_id] = ac.decision(
                    d.item_id, _PB_TO_VERDICT.get(d.verdict, ""),
                    _PB_TO_RATING.get(d.rating, ""), d.reason, sampled)
            except ac.AcceptanceError as exc:
                errors.append(str(exc))
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        by, now = auth.principal().subject, datetime.now(UTC)
        uow = self._uow()
        for item_id, choice in decided.items():
            uow.set(SAMPLED, sampled_id(session["_id"], item_id), {
                "verdict": choice.verdict.value, "rating": choice.rating,
                "reason": choice.reason, "by": by, "decided_at": now})
        await self.outbox.commit(uow)
        return await self._session_pb(await self.sessions.session(session["_id"]) or session)

    # --- finish ---------------------------------------------------------------------

    async def FinishAcceptance(self, request: pb.FinishAcceptanceRequest,
                               context: Any) -> pb.Acceptance:
        scope = _PB_TO_SCOPE.get(request.scope)
        overwrite = _PB_TO_OVERWRITE.get(request.overwrite)
        errors = ([] if scope else ["scope: ALL_PASS, ALL_REJECT, REMAINING_PASS or "
                                    "REMAINING_REJECT"]) + (
            [] if overwrite else ["overwrite: KEEP or OVERWRITE"])
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        assert scope is not None and overwrite is not None
        session, job = await self._session(request.acceptance_id, context)
        sid = session["_id"]
        if session["state"] == ac.SessionState.STARTING:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"acceptance {sid} is still taking its packages in; try again")
        if session["state"] == ac.SessionState.FINISHED:
            if (session["scope"], session["overwrite"]) == (scope, overwrite):
                return await self._session_pb(session)  # a retry of a finish that ended
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"acceptance {sid} is finished (scope {session['scope']}, "
                         f"{session['overwrite']})")
        await self._working(job, context)
        by = auth.principal().subject
        choice = await self.sessions.choose_finish(sid, scope.value, overwrite.value, by)
        if (choice["scope"], choice["overwrite"]) != (scope, overwrite):
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"acceptance {sid} is being finished with scope {choice['scope']} "
                         f"and policy {choice['overwrite']} (by {choice['by']}); finish it "
                         "again with those to complete it")
        if session["state"] == ac.SessionState.ONGOING:
            uow = self._uow()
            fields = {"state": ac.SessionState.FINISHING.value, "scope": scope.value,
                      "overwrite": overwrite.value, "finished_by": choice["by"]}
            uow.set(ACCEPTANCES, sid, fields)
            await self.outbox.commit(uow, key=f"acceptance:{sid}:finishing")
            session = {**session, **fields}
        try:
            finished = await self._finish(session, job, scope, overwrite, choice["by"])
        except LostRace as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE,
                         f"{exc}; call FinishAcceptance again to complete it")
        return await self._session_pb(finished)

    async def _finish(self, session: Document, job: Document, scope: ac.Scope,
                      overwrite: ac.Overwrite, by: str) -> Document:
        """Move every package of the session that is still its own, then close it."""
        sid = session["_id"]
        decisions: dict[str, ac.Decision] = {}
        verdicts: list[str] = []
        async for doc in self.sessions.all_sampled(sid):
            verdicts.append(doc.get("verdict", ""))
            if doc.get("verdict"):
                decisions[doc["item_id"]] = ac.Decision(
                    ac.Verdict(doc["verdict"]), doc.get("rating", ""), doc.get("reason", ""))
        limit = asyncio.Semaphore(CONCURRENT_MOVES)

        async def finish(package_id: str) -> None:
            async with limit:
                await self._finish_package(package_id, session, job, decisions, scope,
                                           overwrite, by)

        failed = [e for e in await asyncio.gather(
            *(finish(p) for p in session["package_ids"]), return_exceptions=True)
            if isinstance(e, BaseException)]
        if failed:
            raise failed[0]
        outcomes = [_stored_outcome(d) for d in await self.sessions.outcomes(sid)]
        total = ac.total_outcome(outcomes, len(session["package_ids"]) - len(outcomes))
        report = ac.report(session.get("sampled", 0), verdicts)
        uow = self._uow()
        uow.set(ACCEPTANCES, sid, {
            "state": ac.SessionState.FINISHED.value, "finished_at": datetime.now(UTC),
            "outcome": asdict(total),
            "report": {"sampled": report.sampled, "passed": report.passed,
                       "rejected": report.rejected}})
        await self.outbox.commit(uow, key=f"acceptance:{sid}:finished")
        if total.packages_accepted and self.complete is not None:
            await self.complete(job)
        return await self.sessions.session(sid) or session

    async def _finish_package(self, package_id: str, session: Document, job: Document,
                              decisions: dict[str, ac.Decision], scope: ac.Scope,
                              overwrite: ac.Overwrite, by: str) -> None:
        """Accept the package or send it back, once: a package no longer the session's
        (finished before a crash, or released or transferred away) is left as it is."""
        sid, who = session["_id"], ac.holder(session["_id"])
        for _ in range(MOVE_ATTEMPTS):
            doc = await self.repo.package(package_id)
            if doc is None or doc["holder"] != who or doc["state"] != State.ACCEPTING:
                return
            saved = await self.repo.annotations(package_id)
            latest = wf.latest_answers(saved)
            earlier = {a["item_id"]: a for a in saved  # passed by an earlier acceptance
                       if a["stage"] == Stage.ACCEPT and a.get("acceptance") not in (None, sid)}
            outcome = ac.package_outcome(
                doc["item_ids"], decisions, scope, overwrite,
                {i: a.get("rating", "") for i, a in earlier.items()}, sid)
            version = doc.get("version", 0)
            uow = self._uow()
            if outcome.accepted:
                fields = await self._accept(uow, job, doc, outcome, latest, earlier, by)
            else:
                fields = self._send_back(uow, doc, outcome, latest, earlier, overwrite, by, sid)
            uow.put(OUTCOMES, {
                "_id": outcome_id(sid, package_id), "session_id": sid,
                "package_id": package_id, "accepted": outcome.accepted,
                "items": [asdict(o) for o in outcome.items]})
            try:
                await self.packages.move(doc, fields, uow, action="acceptance finish",
                                         actor=by, owner=f"{who}:finish:{package_id}:v{version}")
                return
            except LostRace:
                continue
        raise LostRace(f"package {package_id} kept changing while acceptance {sid} finished")

    async def _accept(self, uow: UnitOfWork, job: Document, doc: Document,
                      outcome: ac.PackageOutcome, latest: dict[str, Any],
                      earlier: dict[str, Document], by: str) -> Document:
        """Every item passed: the package is accepted with the final answers (a kept
        item's earlier accepted answer, else the latest; invalid items have none)."""
        now = datetime.now(UTC)
        finals = []
        for o in outcome.items:
            source = earlier[o.item_id] if o.kept else latest.get(o.item_id)
            if source is None or source.get("invalid"):
                continue
            finals.append((o.item_id, answer_of(source), bool(source.get("hard"))))
            if o.kept:  # the accepted answer is the latest one again
                uow.set(ANNOTATIONS, source["_id"], {"saved_at": now})
        await emit_accepted(uow, self.datasets, job, doc, finals, accepter=by)
        return {"state": State.ACCEPTED.value, "stage": wf.stage_of(State.ACCEPTED),
                "holder": "", "accepter": by, "lease_until": None, "accepted_at": now}

    def _send_back(self, uow: UnitOfWork, doc: Document, outcome: ac.PackageOutcome,
                   latest: dict[str, Any], earlier: dict[str, Document],
                   overwrite: ac.Overwrite, by: str, sid: str) -> Document:
        """Items rejected: the package goes back to its labeler with the reasons (as a
        rejection at acceptance does). Items passed keep their accepted answer for the
        next acceptance; under overwrite a rejected item loses an earlier one."""
        rejections = outcome.rejections
        fields = wf.back_to_labeler(doc["labeler"], doc["rework_count"], rejections)
        fields["stage"] = wf.stage_of(fields["state"])
        held = bool(fields["holder"])
        fields["lease_until"] = self.packages.lease_until() if held else None
        if held:
            fields["claimed_at"] = datetime.now(UTC)
        now, revision = datetime.now(UTC), doc.get("version", 0) + 1
        for o in outcome.items:
            accept_id = annotation_id(doc["_id"], o.item_id, Stage.ACCEPT.value)
            if o.passed and not o.kept and o.item_id in latest:
                source = latest[o.item_id]
                uow.put(ANNOTATIONS, {
                    "_id": accept_id, "package_id": doc["_id"], "job_id": doc["job_id"],
                    "item_id": o.item_id, "stage": Stage.ACCEPT.value,
                    ANSWER_JSON: dump_answer(answer_of(source)), "revision": revision,
                    "invalid": bool(source.get("invalid")), "hard": bool(source.get("hard")),
                    "by": by, "saved_at": now, "rating": o.rating, "acceptance": sid})
            elif not o.passed and o.item_id in earlier and overwrite is ac.Overwrite.OVERWRITE:
                uow.delete(ANNOTATIONS, accept_id)
        uow.emit(PackageRejected(
            job_id=doc["job_id"], package_id=doc["_id"], stage=Stage.ACCEPT.value, by=by,
            rejections=[ItemRejection(item_id=i, reason=r) for i, r in rejections]),
            subject=f"packages/{doc['_id']}")
        return fields

    # --- revisions ------------------------------------------------------------------

    async def ReviseAcceptedItem(self, request: pb.ReviseAcceptedItemRequest,
                                 context: Any) -> pb.ItemRevision:
        caller = auth.principal()
        doc = await self.repo.package(request.package_id)
        if doc is None or caller.workspace not in ("*", doc["workspace"]):
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"package_id: package {request.package_id!r} not found")
        job = await self._job(doc["job_id"], context)
        await self._working(job, context)
        if doc["state"] != State.ACCEPTED:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                         f"package_id: package is {doc['state']}; only the items of an "
                         "accepted package are revised (until then its workers change them)")
        errors = [] if request.item_id in doc["item_ids"] else [
            f"item_id: {request.item_id!r} is not in this package"]
        if not request.reason.strip():
            errors.append("reason: say why the accepted answer is changed")
        try:
            answer = jsontext.parse(request.answer_json)
            if not isinstance(answer, dict):
                errors.append("answer_json: an object of answers by topic")
        except jsontext.JsonTextError as exc:
            errors.append(f"answer_json: {exc}")
        if errors:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors))
        item_id = request.item_id
        data = (await self.datasets.items(job["dataset_id"], [item_id])).get(item_id, {})
        compiled = self.topics.get(job["_id"], job["topics"])
        invalid = compiled.validate(answer, data if compiled.needs_item else None)
        if invalid:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "answer_json: " + "; ".join(invalid))
        previous = wf.latest_answers(await self.repo.annotations(doc["_id"])).get(item_id)
        hard = bool(previous.get("hard")) if previous else False
        revision, now, reason = doc.get("version", 0) + 1, datetime.now(UTC), request.reason.strip()
        uow = self._uow()
        uow.put(ANNOTATIONS, {
            "_id": annotation_id(doc["_id"], item_id, Stage.ACCEPT.value),
            "package_id": doc["_id"], "job_id": doc["job_id"], "item_id": item_id,
            "stage": Stage.ACCEPT.value, ANSWER_JSON: dump_answer(answer),
            "revision": revision, "invalid": False, "hard": hard, "by": caller.subject,
            "saved_at": now, "reason": reason})
        uow.emit(ItemRevised(job_id=doc["job_id"], package_id=doc["_id"], item_id=item_id,
                             answer=answer, revision=revision, by=caller.subject,
                             reason=reason, data=data, labeler=doc["labeler"], hard=hard),
                 subject=f"packages/{doc['_id']}")
        fields = {"revised_at": now, "revisions": doc.get("revisions", 0) + 1}
        try:
            await self.packages.move(doc, fields, uow, action="revise accepted item",
                                     actor=caller.subject)
        except LostRace as exc:
            await _abort(context, grpc.StatusCode.ABORTED,
                         f"package_id: {exc}; read it again and retry")
        return pb.ItemRevision(package_id=doc["_id"], item_id=item_id,
                               answer_json=request.answer_json, revision=revision,
                               by=caller.subject, reason=reason, revised_at=_rfc3339(now))


def _in_progress(session: Document) -> str:
    return (f"job_id: acceptance {session['_id']} of job {session['job_id']} is "
            f"{session['state']} (started by {session['started_by']}); continue or finish "
            "it before starting another")
