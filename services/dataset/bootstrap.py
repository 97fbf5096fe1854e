"""Wire the dataset service: repository, importer, servicer, indexes, start-up sweep."""

from __future__ import annotations

from labelops.dataset.v1 import dataset_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.dataset import handlers
from services.dataset.adapters.repository import INDEXES, Repository
from services.dataset.api import ROLES, DatasetServicer
from services.dataset.deleter import Deleter
from services.dataset.domain.model import VersionState
from services.dataset.importer import Importer


def build(rt: Runtime) -> ServiceParts:
    repo = Repository(rt.db)
    handlers.register(rt.consumer)
    importer = Importer(repo, rt.outbox, rt.storage, rt.source)
    deleter = Deleter(repo, rt.outbox, rt.storage, rt.source)
    servicer = DatasetServicer(repo, importer, deleter)

    async def finish_interrupted_work() -> None:
        # An import whose process died cannot be trusted half-way: its items are removed
        # and the version is marked failed with the reason, so nothing is half-imported.
        for version in await repo.versions_in_state(VersionState.IMPORTING):
            await importer.fail_interrupted(version["dataset_id"], version["version"])
        # Work that is safe to finish is finished: announcements and deletions.
        await importer.resume_announcements()
        await deleter.resume()

    return ServiceParts(
        grpc_services=[GrpcService(
            full_name="labelops.dataset.v1.DatasetService",
            servicer=servicer,
            register=dataset_pb2_grpc.add_DatasetServiceServicer_to_server,
            roles=ROLES,
        )],
        indexes=INDEXES,
        background=[finish_interrupted_work],
    )
