"""Wire the assignment service."""

from __future__ import annotations

from labelops.assignment.v1 import assignment_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.assignment import handlers
from services.assignment.adapters.dataset_client import DatasetClient
from services.assignment.adapters.repository import INDEXES, Repository
from services.assignment.api import ROLES, AssignmentServicer
from services.assignment.moves import Packages
from services.assignment.settings import AssignmentSettings


def build(rt: Runtime) -> ServiceParts:
    repo = Repository(rt.db)
    datasets = DatasetClient(rt.settings.dataset_addr, rt.service_token)
    packages = Packages(repo, rt.outbox, rt.source, AssignmentSettings())
    handlers.register(rt.consumer, repo, datasets, packages)
    servicer = AssignmentServicer(repo, rt.outbox, datasets, rt.source, packages)
    return ServiceParts(
        grpc_services=[GrpcService(
            "labelops.assignment.v1.AssignmentService", servicer,
            assignment_pb2_grpc.add_AssignmentServiceServicer_to_server, ROLES)],
        indexes=INDEXES,
        background=[packages.run],
    )
