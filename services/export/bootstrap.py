"""Wire the export service."""

from __future__ import annotations

from labelops.export.v1 import export_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.export import handlers
from services.export.adapters.assignment_client import AssignmentClient
from services.export.adapters.repository import INDEXES, Repository
from services.export.api import ROLES, ExportServicer
from services.export.writer import ExportWriter


def build(rt: Runtime) -> ServiceParts:
    handlers.register(rt.consumer)
    repo = Repository(rt.db)
    writer = ExportWriter(repo, rt.outbox, rt.storage, rt.source)
    assignment = AssignmentClient(rt.settings.assignment_addr, rt.service_token)
    return ServiceParts(
        grpc_services=[GrpcService("labelops.export.v1.ExportService",
                                   ExportServicer(repo, writer, assignment),
                                   export_pb2_grpc.add_ExportServiceServicer_to_server, ROLES)],
        indexes=INDEXES,
        background=[writer.fail_interrupted],
    )
