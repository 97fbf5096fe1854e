"""Wire the dataset service: repository, importer, servicer, indexes, start-up sweep."""

from __future__ import annotations

from labelops.dataset.v1 import dataset_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.dataset.adapters.repository import INDEXES, Repository
from services.dataset.api import ROLES, DatasetServicer
from services.dataset.domain.model import VersionState
from services.dataset.importer import Importer


def build(rt: Runtime) -> ServiceParts:
    repo = Repository(rt.db)
    importer = Importer(repo, rt.outbox, rt.storage, rt.source)
    servicer = DatasetServicer(repo, importer)

    async def fail_interrupted_imports() -> None:
        # An import whose process died cannot be trusted half-way: its items are removed
        # and the version is marked failed with the reason, so nothing is half-imported.
        for version in await repo.versions_in_state(VersionState.IMPORTING):
            await importer.fail_interrupted(version["dataset_id"], version["version"])

    return ServiceParts(
        grpc_services=[GrpcService(
            full_name="labelops.dataset.v1.DatasetService",
            servicer=servicer,
            register=dataset_pb2_grpc.add_DatasetServiceServicer_to_server,
            roles=ROLES,
        )],
        indexes=INDEXES,
        background=[fail_interrupted_imports],
    )
