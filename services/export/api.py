"""gRPC servicer of the export service."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
from pymongo.errors import DuplicateKeyError

from labelops.export.v1 import export_pb2 as pb
from labelops_shared import auth, storage
from labelops_shared.contracts import ExportStarted
from labelops_shared.mongo import Document
from labelops_shared.outbox import UnitOfWork
from services.export.adapters.assignment_client import Assignment
from services.export.adapters.repository import EXPORTS, Repository
from services.export.domain.formats import FORMATS
from services.export.domain.plan import (
    DEFAULT_FORMAT,
    PlanError,
    filter_document,
    filter_from_document,
    plan_export,
)
from services.export.domain.reconcile import Reconciliation, reconcile
from services.export.writer import ExportWriter, object_key

_STATE = {"running": pb.EXPORT_STATE_RUNNING, "completed": pb.EXPORT_STATE_COMPLETED,
          "failed": pb.EXPORT_STATE_FAILED}

ROLES = {
    "StartExport": auth.ADMINS,
    "GetExport": auth.ADMINS,
    "ListExports": auth.ADMINS,
    "GetLabeledView": auth.ADMINS | {auth.SERVICE},
    "ReconcileJob": auth.ADMINS,
}


class ExportServicer:
    def __init__(self, repo: Repository, writer: ExportWriter, assignment: Assignment) -> None:
        self.repo = repo
        self.writer = writer
        self.assignment = assignment

    async def _job(self, job_id: str, context: Any) -> Document:
        return await auth.visible_or_abort(await self.repo.job(job_id), context,
                                           f"job {job_id!r}")

    async def _export_pb(self, doc: Document) -> pb.Export:
        url = ""
        if doc["state"] == "completed":
            url = await asyncio.to_thread(self.writer.presigned_url, doc)
        where = filter_from_document(doc.get("filter"))
        fmt = FORMATS.get(doc["format"])
        return pb.Export(
            id=doc["_id"], job_id=doc["job_id"], format=doc["format"], version=doc["version"],
            state=_STATE[doc["state"]], items_written=doc.get("items_written", 0),
            items_total=doc.get("items_total", 0), bucket=doc["bucket"],
            object_key=doc["object_key"] if doc["state"] == "completed" else "",
            size_bytes=doc.get("size_bytes", 0), sha256=doc.get("sha256", ""),
            download_url=url, error=doc.get("error", ""),
            created_at=doc["created_at"].isoformat(),
            filter=pb.ExportFilter(
                labels=sorted(where.labels), labelers=sorted(where.labelers),
                hard_only=where.hard_only,
                accepted_from=where.accepted_from.isoformat() if where.accepted_from else "",
                accepted_to=where.accepted_to.isoformat() if where.accepted_to else ""),
            incremental=bool(doc.get("incremental", False)),
            since=doc["since"].isoformat() if doc.get("since") else "",
            objects_written=doc.get("objects_written", 0),
            skipped=[pb.SkippedObjects(reason=s["reason"], count=s["count"])
                     for s in doc.get("skipped", [])],
            content_type=fmt.content_type if fmt else "",
        )

    async def StartExport(self, request: pb.StartExportRequest, context: Any) -> pb.Export:
        fmt = request.format or DEFAULT_FORMAT
        if fmt not in FORMATS:  # before the job: the request is wrong whatever the job
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"format: {fmt!r} is unknown; one of {', '.join(FORMATS)}")
        job = await self._job(request.job_id, context)
        wanted = request.filter
        try:
            plan = plan_export(fmt, topics=job.get("topics", []), content=job.get("content", []),
                               labels=list(wanted.labels), labelers=list(wanted.labelers),
                               hard_only=wanted.hard_only, accepted_from=wanted.accepted_from,
                               accepted_to=wanted.accepted_to, incremental=request.incremental)
        except PlanError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # abort raises; this keeps the type checker informed
        since = None
        if plan.incremental:
            previous = await self.repo.last_completed(job["_id"])
            since = previous["created_at"] if previous else None
        while True:  # versions 1, 2, … per job, taken by a unique insert
            version = await self.repo.last_version(job["_id"]) + 1
            record: Document = {
                "_id": uuid.uuid4().hex, "job_id": job["_id"], "workspace": job["workspace"],
                "format": plan.fmt, "version": version,
                "filter": filter_document(plan.where), "incremental": plan.incremental,
                "since": since,
                "state": "running", "items_written": 0, "items_total": 0,
                "bucket": storage.EXPORTS_BUCKET, "created_at": datetime.now(UTC),
                "requested_by": auth.principal().subject,
                "owner": self.writer.owner,  # the process writing it (see writer.sweep)
            }
            record["object_key"] = object_key(record)
            try:
                await self.repo.db[EXPORTS].insert_one(record)
                break
            except DuplicateKeyError:
                continue
        uow = UnitOfWork(source=self.writer.source)
        uow.emit(ExportStarted(job_id=job["_id"], export_id=record["_id"],
                               format=record["format"], version=version),
                 subject=f"jobs/{job['_id']}/exports/{record['_id']}")
        await self.writer.outbox.commit(uow)
        self.writer.start(record)
        return await self._export_pb(record)

    async def _export_for_caller(self, export_id: str, context: Any) -> Document:
        return await auth.visible_or_abort(await self.repo.export(export_id), context,
                                           f"export {export_id!r}")

    async def GetExport(self, request: pb.GetExportRequest, context: Any) -> pb.Export:
        return await self._export_pb(await self._export_for_caller(request.export_id, context))

    async def ListExports(
        self, request: pb.ListExportsRequest, context: Any
    ) -> pb.ListExportsResponse:
        job = await self._job(request.job_id, context)
        docs = await self.repo.exports_of(job["_id"])
        return pb.ListExportsResponse(exports=[await self._export_pb(d) for d in docs])

    async def GetLabeledView(
        self, request: pb.GetLabeledViewRequest, context: Any
    ) -> pb.LabeledView:
        job = await self._job(request.job_id, context)
        return pb.LabeledView(job_id=job["_id"],
                              item_count=await self.repo.labeled_count(job["_id"]))

    async def ReconcileJob(
        self, request: pb.ReconcileJobRequest, context: Any
    ) -> pb.Reconciliation:
        job = await self._job(request.job_id, context)
        # The view first: an acceptance relayed meanwhile shows as the view being behind
        # (the usual direction of a passing difference), not ahead.
        view = await self.repo.labeled_by_package(job["_id"])
        try:
            accepted = await self.assignment.accepted_items(job["_id"])
            packages = None
            if request.by_package:
                packages = await self.assignment.accepted_packages(
                    job["_id"], _caller_token(context))
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                code = grpc.StatusCode.UNAVAILABLE
            await context.abort(code, f"assignment service: {exc.details()}")
            raise
        return _reconciliation_pb(reconcile(job["_id"], view, accepted, packages))


def _caller_token(context: Any) -> str:
    header = dict(context.invocation_metadata() or ()).get("authorization", "")
    return str(header).removeprefix("Bearer ")


def _reconciliation_pb(found: Reconciliation) -> pb.Reconciliation:
    return pb.Reconciliation(
        job_id=found.job_id, view_items=found.view_items,
        assignment_items=found.assignment_items, difference=found.difference,
        matches=found.matches, checked_at=datetime.now(UTC).isoformat(),
        view_packages=found.view_packages, accepted_packages=found.accepted_packages,
        differing_packages=found.differing_packages,
        packages=[pb.PackageDifference(package_id=d.package_id, view_items=d.view_items,
                                       assignment_items=d.assignment_items,
                                       accepted=d.accepted) for d in found.packages])
