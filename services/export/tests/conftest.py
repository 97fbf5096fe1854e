"""The export service in-process: its real gRPC server (with the auth interceptor and roles
map), outbox and event handlers, on the in-memory database and object storage fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from labelops.export.v1 import export_pb2 as pb
from labelops.export.v1 import export_pb2_grpc
from labelops_shared import auth, outbox
from labelops_shared.contracts import (
    AcceptedItem,
    JobCreated,
    JobMembers,
    JobSpec,
    LabelDef,
    PackageAccepted,
)
from labelops_shared.events import new_event
from labelops_shared.grpc_server import GrpcService, bearer, start_server
from labelops_shared.kafka import EventConsumer
from services.export import handlers
from services.export.adapters.repository import Repository
from services.export.api import ROLES, ExportServicer
from services.export.tests.fakes import ExportDatabase, FakeAssignment, FakeStorage
from services.export.writer import ExportWriter

SECRET = "export-test-secret-of-at-least-32-bytes-long"
WORKSPACE = "ws1"


class Harness:
    def __init__(self, db: ExportDatabase, storage: FakeStorage, consumer: EventConsumer,
                 channel: grpc.aio.Channel, port: int, writer: ExportWriter,
                 assignment: FakeAssignment) -> None:
        self.db, self.storage, self.consumer = db, storage, consumer
        self.port, self.writer, self.assignment = port, writer, assignment
        self.stub = export_pb2_grpc.ExportServiceStub(channel)
        self.token = auth.issue_token(SECRET, subject="ada", workspace=WORKSPACE,
                                      roles=(auth.ANNOTATION_ADMIN,))
        self.metadata = bearer(self.token)

    async def deliver(self, data: Any) -> str:
        raw = new_event(data, source="/labelops/test").to_bytes()
        outcome: str = await self.consumer.handle(raw, topic=data.TOPIC)
        return outcome

    async def create_job(self, job_id: str, template: dict[str, Any], labels: list[str],
                         name: str = "job") -> None:
        spec = JobSpec(job_id=job_id, workspace=WORKSPACE, name=name, dataset_id="ds1",
                       dataset_version=1, template="custom", topics=template["topics"],
                       content=template["content"], labels=[LabelDef(name=n) for n in labels],
                       workflow="label", package_size=10, check_ratio=1.0,
                       members=JobMembers())
        await self.deliver(JobCreated(job_id=job_id, job=spec))

    async def accept(self, job_id: str, package: str,
                     items: list[tuple[str, dict[str, Any], dict[str, Any], str, int]],
                     hard: frozenset[str] = frozenset()) -> None:
        await self.deliver(PackageAccepted(
            job_id=job_id, package_id=package, accepter="acc",
            items=[AcceptedItem(item_id=i, data=d, answer=a, labeler=who, revision=rev,
                                hard=i in hard)
                   for i, d, a, who, rev in items]))

    async def start(self, job_id: str, fmt: str = "", **request: Any) -> pb.Export:
        export: pb.Export = await self.stub.StartExport(
            pb.StartExportRequest(job_id=job_id, format=fmt, **request),
            metadata=self.metadata, timeout=30)
        return export

    async def finished(self, export_id: str) -> pb.Export:
        for _ in range(500):
            found: pb.Export = await self.stub.GetExport(
                pb.GetExportRequest(export_id=export_id), metadata=self.metadata, timeout=30)
            if found.state != pb.EXPORT_STATE_RUNNING:
                return found
            await asyncio.sleep(0.01)
        raise AssertionError(f"export {export_id} still running")

    def file(self, export: pb.Export) -> bytes:
        return self.storage.objects[(export.bucket, export.object_key)][0]


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    db = ExportDatabase()
    box = outbox.Outbox(db, owner="test")  # type: ignore[arg-type]
    consumer = EventConsumer("export", box, max_attempts=2)

    async def no_dead_letters(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        raise AssertionError(f"dead-lettered: {headers.get('x-labelops-reason')}")

    consumer._dead_letter = no_dead_letters  # type: ignore[method-assign]
    handlers.register(consumer)
    storage = FakeStorage()
    repo = Repository(db)  # type: ignore[arg-type]
    writer = ExportWriter(repo, box, storage, "/labelops/export")  # type: ignore[arg-type]
    assignment = FakeAssignment()
    server, port, _ = await start_server(
        [GrpcService("labelops.export.v1.ExportService",
                     ExportServicer(repo, writer, assignment),
                     export_pb2_grpc.add_ExportServiceServicer_to_server, ROLES)],
        host="127.0.0.1", port=0, jwt_secret=SECRET)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Harness(db, storage, consumer, channel, port, writer, assignment)
    await channel.close()
    await server.stop(None)
