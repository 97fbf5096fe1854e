"""Wire the prelabel service."""

from __future__ import annotations

from labelops.prelabel.v1 import prelabel_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.prelabel import handlers
from services.prelabel.adapters.dataset_client import DatasetClient
from services.prelabel.api import ROLES, PrelabelServicer


def build(rt: Runtime) -> ServiceParts:
    datasets = DatasetClient(rt.settings.dataset_addr, rt.service_token)
    handlers.register(rt.consumer, datasets)
    return ServiceParts(grpc_services=[GrpcService(
        "labelops.prelabel.v1.PrelabelService", PrelabelServicer(rt.db),
        prelabel_pb2_grpc.add_PrelabelServiceServicer_to_server, ROLES)])
