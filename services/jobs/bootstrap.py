"""Wire the jobs service."""

from __future__ import annotations

from labelops.jobs.v1 import jobs_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.jobs import handlers, metrics
from services.jobs.adapters.dataset_client import DatasetClient
from services.jobs.adapters.repository import INDEXES, Repository
from services.jobs.api import ROLES, JobsServicer
from services.jobs.settings import JobsSettings


def build(rt: Runtime) -> ServiceParts:
    repo = Repository(rt.db)
    handlers.register(rt.consumer, repo)
    servicer = JobsServicer(repo, rt.outbox,
                            DatasetClient(rt.settings.dataset_addr, rt.service_token), rt.source,
                            JobsSettings().limits())
    return ServiceParts(
        grpc_services=[GrpcService("labelops.jobs.v1.JobsService", servicer,
                                   jobs_pb2_grpc.add_JobsServiceServicer_to_server, ROLES)],
        indexes=INDEXES,
        background=[lambda: metrics.refresh_job_counts(repo.count_by_state)],
    )
