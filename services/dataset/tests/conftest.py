"""The dataset service in-process: its real gRPC server (auth interceptor and roles map),
importer and deleter, on the in-memory database and object storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from labelops.dataset.v1 import dataset_pb2_grpc
from labelops_shared import auth, outbox
from labelops_shared.grpc_server import GrpcService, bearer, start_server
from services.dataset.adapters.repository import INDEXES, Repository
from services.dataset.api import ROLES, DatasetServicer
from services.dataset.deleter import Deleter
from services.dataset.importer import Importer
from services.dataset.tests.fakes import DatasetDatabase, FakeStorage

SECRET = "dataset-test-secret-of-at-least-32-bytes"
WORKSPACE = "ws1"
SOURCE = "/labelops/dataset"


class Harness:
    def __init__(self, db: DatasetDatabase, storage: FakeStorage, stub: Any,
                 servicer: DatasetServicer) -> None:
        self.db, self.storage, self.stub, self.servicer = db, storage, stub, servicer
        self.deleter = servicer.deleter

    def client(self, subject: str, *roles: str, workspace: str = WORKSPACE) -> Any:
        metadata = bearer(auth.issue_token(SECRET, subject=subject, workspace=workspace,
                                           roles=roles))
        stub = self.stub

        class Client:
            def __getattr__(self, method: str) -> Callable[[Any], Any]:
                call = getattr(stub, method)

                async def invoke(request: Any) -> Any:
                    if method == "StreamItems":
                        return [i async for i in call(request, metadata=metadata, timeout=30)]
                    return await call(request, metadata=metadata, timeout=30)
                return invoke

        return Client()

    async def settled(self) -> None:
        """Imports started by earlier calls have finished (they run after the call answers)."""
        await asyncio.gather(*list(self.servicer._imports), return_exceptions=True)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    db, files = DatasetDatabase(), FakeStorage()
    for name, models in INDEXES.items():
        await db[name].create_indexes(models)  # the unique ones refuse as the real database
    repo, box = Repository(db), outbox.Outbox(db, owner="test")  # type: ignore[arg-type]
    servicer = DatasetServicer(repo, Importer(repo, box, files, SOURCE),  # type: ignore[arg-type]
                               Deleter(repo, box, files, SOURCE))  # type: ignore[arg-type]
    server, port, _ = await start_server(
        [GrpcService("labelops.dataset.v1.DatasetService", servicer,
                     dataset_pb2_grpc.add_DatasetServiceServicer_to_server, ROLES)],
        host="127.0.0.1", port=0, jwt_secret=SECRET)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    harness = Harness(db, files, dataset_pb2_grpc.DatasetServiceStub(channel), servicer)
    yield harness
    await harness.settled()
    await channel.close()
    await server.stop(None)
