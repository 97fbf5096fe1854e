"""gRPC servicer of the prelabel service: parse, load, call, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared import auth
from labelops_shared.mongo import Document
from services.prelabel import metrics, online
from services.prelabel.adapters.model_client import Models
from services.prelabel.adapters.repository import UNITS, Repository
from services.prelabel.domain import labor
from services.prelabel.domain.autolabel import Refused, TrainOn
from services.prelabel.runs import AutoLabeler, JobNotFound

_READERS = auth.ADMINS | {auth.SERVICE}
ROLES = {
    "GetPrelabelStatus": _READERS,
    "ListInvalidPrelabels": _READERS,
    "StartAutoLabel": auth.ADMINS,
    "GetAutoLabelRun": _READERS,
    "ListAutoLabelRuns": _READERS,
    "GetLaborSaved": _READERS,
}
TRAIN_ON_TO_PB = {TrainOn.ACCEPTED.value: pb.TRAIN_ON_ACCEPTED,
                  TrainOn.SUBMITTED.value: pb.TRAIN_ON_SUBMITTED}
PB_TO_TRAIN_ON = {pb.TRAIN_ON_ACCEPTED: TrainOn.ACCEPTED, pb.TRAIN_ON_SUBMITTED: TrainOn.SUBMITTED}
MAX_PAGE = 1000


def _time(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else ""


def _invalid(v: dict[str, Any]) -> pb.InvalidValue:
    return pb.InvalidValue(item_id=v.get("item_id", ""), field=v.get("field", ""),
                           reason=v.get("reason", ""), topic=v.get("topic", ""))


def run_pb(doc: Document) -> pb.AutoLabelRun:
    return pb.AutoLabelRun(
        run_id=doc["_id"], job_id=doc["job_id"], state=doc["state"],
        model_version=doc.get("model_version", ""), algorithm=doc.get("algorithm", ""),
        train_on=TRAIN_ON_TO_PB.get(doc.get("train_on", ""), pb.TRAIN_ON_UNSPECIFIED),
        topic=doc.get("topic", ""), accuracy=doc.get("accuracy") or 0.0,
        baseline_accuracy=doc.get("baseline_accuracy") or 0.0,
        train_items=doc.get("train_items", 0), held_out_items=doc.get("held_out_items", 0),
        labeled=doc.get("labeled", 0), hard_examples=doc.get("hard_examples", 0),
        confidence_threshold=doc.get("confidence_threshold", 0.0),
        margin_threshold=doc.get("margin_threshold", 0.0), error=doc.get("error", ""),
        requested_by=doc.get("requested_by", ""), started_at=_time(doc.get("started_at")),
        finished_at=_time(doc.get("finished_at")), failed=doc.get("failed", 0))


class PrelabelServicer:
    def __init__(self, repo: Repository, runs: AutoLabeler, models: Models) -> None:
        self.repo, self.runs, self.models = repo, runs, models

    async def _job(self, job_id: str, context: Any) -> Document:
        return await auth.visible_or_abort(await self.repo.job(job_id), context,
                                           f"job {job_id!r}")

    async def GetPrelabelStatus(
        self, request: pb.GetPrelabelStatusRequest, context: Any
    ) -> pb.PrelabelStatus:
        # NOT_FOUND also while the job's JobPublished event has not been handled yet.
        doc = await auth.visible_or_abort(
            await self.repo.status(request.job_id), context,
            f"pre-label run of job {request.job_id!r}")
        fields: dict[str, Any] = {
            "job_id": doc["_id"], "state": doc["state"], "mode": doc.get("mode", ""),
            "error": doc.get("error", ""), "items_seen": doc.get("items_seen", 0),
            "predictions": doc.get("predictions", 0), "invalid": doc.get("invalid", 0),
            "missing": doc.get("missing", 0), "field": doc.get("field", ""),
            "fields": doc.get("fields", []),
            "invalid_values": [_invalid(v) for v in doc.get("invalid_values", [])]}
        if doc.get("mode") == online.SOURCE:
            units = await self.repo.db[UNITS].find({"job_id": doc["_id"]}).to_list(None)
            found = online.summary(units)
            state = doc["state"]
            if state in ("queueing", "running"):
                state = ("done" if state == "running"
                         and found["units_done"] == found["units_total"] else "running")
            endpoint = doc.get("endpoint", "")
            fields.update(found, state=state, endpoint=endpoint,
                          breaker=self.models.breaker_state(endpoint),
                          invalid_values=[_invalid(v) for v in await self.repo.invalid_page(
                              doc["_id"], "", 20)])
        return pb.PrelabelStatus(**fields)

    async def ListInvalidPrelabels(
        self, request: pb.ListInvalidPrelabelsRequest, context: Any
    ) -> pb.ListInvalidPrelabelsResponse:
        await auth.visible_or_abort(await self.repo.status(request.job_id), context,
                                    f"pre-label run of job {request.job_id!r}")
        size = request.page_size or 100
        if not 1 <= size <= MAX_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"page_size: 1-{MAX_PAGE}, got {request.page_size}")
        found = await self.repo.invalid_page(request.job_id, request.page_token, size + 1)
        page = found[:size]
        return pb.ListInvalidPrelabelsResponse(
            invalid_values=[_invalid(v) for v in page],
            next_page_token=page[-1]["_id"] if len(found) > size else "",
            total=await self.repo.count_invalid(request.job_id))

    async def StartAutoLabel(self, request: pb.StartAutoLabelRequest,
                             context: Any) -> pb.AutoLabelRun:
        await self._job(request.job_id, context)
        train_on = PB_TO_TRAIN_ON.get(request.train_on)
        if request.train_on and train_on is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"train_on: unknown value {request.train_on}")
        try:
            run = await self.runs.start(
                request.job_id, train_on=train_on,
                confidence=request.confidence_threshold, margin=request.margin_threshold,
                requested_by=auth.principal().subject)
        except JobNotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id!r} not found")
        except Refused as exc:
            metrics.AUTO_LABEL_RUNS.labels(state="refused").inc()
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return run_pb(run)

    async def GetAutoLabelRun(self, request: pb.GetAutoLabelRunRequest,
                              context: Any) -> pb.AutoLabelRun:
        doc = await auth.visible_or_abort(await self.repo.run(request.run_id), context,
                                          f"auto-labeling run {request.run_id!r}")
        return run_pb(doc)

    async def ListAutoLabelRuns(self, request: pb.ListAutoLabelRunsRequest,
                                context: Any) -> pb.ListAutoLabelRunsResponse:
        await self._job(request.job_id, context)
        return pb.ListAutoLabelRunsResponse(
            runs=[run_pb(d) for d in await self.repo.runs_of(request.job_id)])

    async def GetLaborSaved(self, request: pb.GetLaborSavedRequest,
                            context: Any) -> pb.LaborSaved:
        await self._job(request.job_id, context)
        counts = await self.repo.labor(request.job_id) or {}
        unchanged = int(counts.get("accepted_unchanged", 0))
        changed = int(counts.get("accepted_changed", 0))
        return pb.LaborSaved(
            job_id=request.job_id, prelabeled=await self.repo.count_predictions(request.job_id),
            accepted=unchanged + changed, accepted_unchanged=unchanged,
            accepted_changed=changed, rejected=int(counts.get("rejected", 0)),
            unchanged_ratio=labor.ratio(unchanged, unchanged + changed))
