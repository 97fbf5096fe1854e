"""gRPC servicer of the jobs service."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import JobCreated, JobMembers, JobPublished, JobSpec, LabelDef
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.jobs.adapters.dataset_client import (
    DatasetInfo,
    DatasetNotFound,
    Datasets,
    VersionInfo,
)
from services.jobs.adapters.repository import JOBS, Repository
from services.jobs.domain import model

_WORKFLOW_TO_PB = {
    model.Workflow.LABEL: pb.WORKFLOW_LABEL,
    model.Workflow.LABEL_CHECK: pb.WORKFLOW_LABEL_CHECK,
    model.Workflow.LABEL_CHECK_ACCEPT: pb.WORKFLOW_LABEL_CHECK_ACCEPT,
}
_PB_TO_WORKFLOW = {v: k for k, v in _WORKFLOW_TO_PB.items()}
_STATE_TO_PB = {model.JobState.DRAFT: pb.JOB_STATE_DRAFT,
                model.JobState.PUBLISHED: pb.JOB_STATE_PUBLISHED}

ROLES = {
    "CreateJob": auth.ADMINS,
    "PublishJob": auth.ADMINS,
    "GetJob": auth.ANYONE,
    "ListJobs": auth.MEMBERS,
}


def _job_pb(doc: Document) -> pb.Job:
    return pb.Job(
        id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
        description=doc["description"], dataset_id=doc["dataset_id"],
        dataset_version=doc["dataset_version"], template=doc["template"],
        topics_json=json.dumps(doc["topics"]), layout_json=json.dumps(doc.get("layout", {})),
        labels=[pb.Label(name=label["name"], color=label["color"]) for label in doc["labels"]],
        workflow=_WORKFLOW_TO_PB[model.Workflow(doc["workflow"])],
        package_size=doc["package_size"], check_ratio=doc["check_ratio"],
        prelabel_field=doc["prelabel_field"], members=pb.Members(**doc["members"]),
        state=_STATE_TO_PB[model.JobState(doc["state"])], item_count=doc["item_count"],
        created_at=doc["created_at"].isoformat(),
    )


def job_spec(doc: Document) -> JobSpec:
    return JobSpec(
        job_id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
        dataset_id=doc["dataset_id"], dataset_version=doc["dataset_version"],
        template=doc["template"], topics=doc["topics"],
        labels=[LabelDef(**label) for label in doc["labels"]], workflow=doc["workflow"],
        package_size=doc["package_size"], check_ratio=doc["check_ratio"],
        prelabel_field=doc["prelabel_field"], members=JobMembers(**doc["members"]),
    )


class JobsServicer:
    def __init__(self, repo: Repository, outbox: Outbox, datasets: Datasets,
                 source: str) -> None:
        self.repo = repo
        self.outbox = outbox
        self.datasets = datasets
        self.source = source

    async def _job_for_caller(self, job_id: str, context: Any) -> Document:
        return await auth.visible_or_abort(await self.repo.job(job_id), context,
                                           f"job {job_id!r}")

    async def CreateJob(self, request: pb.CreateJobRequest, context: Any) -> pb.Job:
        caller = auth.principal()
        labels = [model.Label(label.name, label.color) for label in request.labels]
        workflow = _PB_TO_WORKFLOW.get(request.workflow)
        try:
            model.validate_name(request.name)
            model.validate_labels(labels)
            if workflow is None:
                raise model.JobError("workflow: one of label, label_check, label_check_accept")
            size = model.package_size(request.package_size)
            ratio = model.check_ratio(request.check_ratio)
            if not request.dataset_id:
                raise model.JobError("dataset_id: required")
            if request.dataset_version < 0:
                raise model.JobError("dataset_version: 0 (latest ready) or a version number")
        except model.JobError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        dataset, version = await self._ready_dataset(request, context)
        try:
            template = model.template_for(request.template, dataset.kind)
            model.validate_prelabel_field(
                request.prelabel_field, await self._item_fields(dataset.id, version.version))
        except model.JobError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        doc = {
            "_id": uuid.uuid4().hex, "workspace": caller.workspace, "name": request.name,
            "description": request.description, "dataset_id": dataset.id,
            "dataset_version": version.version, "template": request.template,
            "layout": template.layout(), "topics": template.topics([lb.name for lb in labels]),
            "labels": [{"name": lb.name, "color": lb.color} for lb in labels],
            "workflow": str(workflow), "package_size": size, "check_ratio": ratio,
            "prelabel_field": request.prelabel_field,
            "members": {"labelers": list(request.members.labelers),
                        "checkers": list(request.members.checkers),
                        "accepters": list(request.members.accepters)},
            "state": model.JobState.DRAFT.value, "item_count": version.item_count,
            "created_at": datetime.now(UTC), "created_by": caller.subject,
        }
        uow = UnitOfWork(source=self.source)
        uow.put(JOBS, doc)
        uow.emit(JobCreated(job_id=doc["_id"], job=job_spec(doc)), subject=f"jobs/{doc['_id']}")
        await self.outbox.commit(uow)
        return _job_pb(doc)

    async def _ready_dataset(
        self, request: pb.CreateJobRequest, context: Any
    ) -> tuple[DatasetInfo, VersionInfo]:
        """The dataset version the job labels: it must exist in the caller's workspace and be
        READY; version 0 means the latest READY one."""
        missing = f"dataset_id: dataset {request.dataset_id!r} not found"
        try:
            dataset = await self.datasets.dataset(request.dataset_id)
            if dataset.workspace != auth.principal().workspace:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, missing)
            number = request.dataset_version or dataset.latest_version
            if not number:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                    f"dataset_id: dataset {request.dataset_id!r} has no "
                                    "ready version yet")
            version = await self.datasets.version(dataset.id, number)
        except DatasetNotFound:
            if request.dataset_version:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"dataset_version: dataset {request.dataset_id!r} has no "
                                    f"version {request.dataset_version}")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, missing)
        if not version.ready:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"dataset_version: version {version.version} is not ready")
        return dataset, version

    async def _item_fields(self, dataset_id: str, version: int) -> list[str] | None:
        """The item fields of this version, when the import event told us (else None)."""
        known = await self.repo.dataset(dataset_id)
        if known is None or known.get("latest_version") != version:
            return None
        fields: list[str] = known.get("fields", [])
        return fields

    async def PublishJob(self, request: pb.PublishJobRequest, context: Any) -> pb.Job:
        doc = await self._job_for_caller(request.job_id, context)
        try:
            doc["state"] = model.publish(doc["state"])
        except model.JobError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        uow = UnitOfWork(source=self.source)
        uow.set(JOBS, doc["_id"], {"state": doc["state"], "published_at": datetime.now(UTC)})
        uow.emit(JobPublished(job_id=doc["_id"], job=job_spec(doc), item_count=doc["item_count"]),
                 subject=f"jobs/{doc['_id']}")
        # Keyed by job: a second publish of the same job can never emit a second event.
        if not await self.outbox.commit(uow, key=f"publish:{doc['_id']}"):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                "state: the job is already published")
        return _job_pb(doc)

    async def GetJob(self, request: pb.GetJobRequest, context: Any) -> pb.Job:
        return _job_pb(await self._job_for_caller(request.job_id, context))

    async def ListJobs(self, request: pb.ListJobsRequest, context: Any) -> pb.ListJobsResponse:
        docs = await self.repo.jobs_of(auth.principal().workspace)
        return pb.ListJobsResponse(jobs=[_job_pb(d) for d in docs])
