"""The jobs service in-process: its real gRPC server (with the auth interceptor and roles
map), outbox and consumer, on an in-memory database and a fake dataset service; and on the
real FerretDB at LABELOPS_MONGO_URL for the tests marked integration."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from labelops.jobs.v1 import jobs_pb2_grpc
from labelops_shared import auth, mongo, outbox
from labelops_shared.events import new_event
from labelops_shared.grpc_server import GrpcService, bearer, start_server
from labelops_shared.kafka import EventConsumer
from services.jobs import handlers
from services.jobs.adapters.dataset_client import DatasetInfo, DatasetNotFound, VersionInfo
from services.jobs.adapters.repository import INDEXES, Repository
from services.jobs.api import ROLES, JobsServicer
from services.jobs.tests.fakes import FakeDatabase

SECRET = "jobs-test-secret-of-at-least-32-bytes-long"
WORKSPACE = "ws1"


@pytest.fixture(params=["fake", pytest.param("ferretdb", marks=pytest.mark.integration)])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "fake":
        yield FakeDatabase()
        return
    url = os.environ.get("LABELOPS_MONGO_URL")
    if not url:  # start (or reuse) the local stack rather than skip
        from labelops_cli.stack.servers import up_infra

        url = up_infra()["LABELOPS_MONGO_URL"]
    client = mongo.connect(url, app_name="jobs-tests")
    database = client[f"labelops_jobs_test_{uuid.uuid4().hex[:10]}"]
    await mongo.ensure_indexes(database, {**INDEXES, **outbox.INDEXES})
    yield database
    await client.drop_database(database.name)
    await client.close()


class FakeDatasets:
    """The dataset service's GetDataset/GetVersion, as the jobs service sees them."""

    def __init__(self) -> None:
        self.datasets: dict[str, DatasetInfo] = {}
        self.versions: dict[tuple[str, int], VersionInfo] = {}

    def add(self, dataset_id: str, *, workspace: str = WORKSPACE, kind: str = "text",
            versions: tuple[tuple[int, bool, int], ...] = ((1, True, 10),)) -> None:
        """versions: (number, ready, item count); the latest ready one is the latest."""
        ready = [n for n, ok, _ in versions if ok]
        self.datasets[dataset_id] = DatasetInfo(dataset_id, workspace, kind, max(ready, default=0))
        for number, ok, count in versions:
            self.versions[(dataset_id, number)] = VersionInfo(number, ok, count)

    async def dataset(self, dataset_id: str) -> DatasetInfo:
        if dataset_id not in self.datasets:
            raise DatasetNotFound(f"dataset {dataset_id!r} not found")
        return self.datasets[dataset_id]

    async def version(self, dataset_id: str, version: int) -> VersionInfo:
        if (dataset_id, version) not in self.versions:
            raise DatasetNotFound(f"dataset {dataset_id!r} has no version {version}")
        return self.versions[(dataset_id, version)]


class Client:
    """The service's stub, calling as one user."""

    def __init__(self, stub: Any, token: str) -> None:
        self._stub = stub
        self._metadata = bearer(token)

    def __getattr__(self, method: str) -> Any:
        call = getattr(self._stub, method)

        async def invoke(request: Any) -> Any:
            return await call(request, metadata=self._metadata, timeout=60)

        return invoke


class Harness:
    def __init__(self, db: Any, channel: grpc.aio.Channel, consumer: EventConsumer,
                 datasets: FakeDatasets, servicer: JobsServicer) -> None:
        self.db, self.channel, self.consumer, self.datasets = db, channel, consumer, datasets
        self.servicer = servicer
        self.stub = jobs_pb2_grpc.JobsServiceStub(channel)

    def client(self, subject: str, *roles: str, workspace: str = WORKSPACE) -> Client:
        token = auth.issue_token(SECRET, subject=subject, workspace=workspace, roles=roles)
        return Client(self.stub, token)

    def admin(self, workspace: str = WORKSPACE) -> Client:
        return self.client("ada", auth.ANNOTATION_ADMIN, workspace=workspace)

    def owner(self, workspace: str = WORKSPACE) -> Client:
        """A workspace administrator (may force deletions)."""
        return self.client("wanda", auth.WORKSPACE_ADMIN, workspace=workspace)

    async def deliver(self, data: Any) -> str:
        raw = new_event(data, source="/labelops/test").to_bytes()
        outcome: str = await self.consumer.handle(raw, topic=data.TOPIC)
        return outcome

    async def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Events committed so far (none are relayed in these tests), in commit order."""
        records = await self.db[outbox.COLLECTION].find({}).sort("seq", 1).to_list(None)
        found = [json.loads(e["value"]) for r in records for e in r["events"]]
        return [e for e in found if event_type is None or e["type"] == event_type]


@pytest.fixture
async def harness(db: Any) -> AsyncIterator[Harness]:
    box = outbox.Outbox(db, owner="test")
    consumer = EventConsumer("jobs", box, max_attempts=2)

    async def no_dead_letters(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        raise AssertionError(f"dead-lettered: {headers.get('x-labelops-reason')}")

    consumer._dead_letter = no_dead_letters
    datasets = FakeDatasets()
    repo = Repository(db)
    handlers.register(consumer, repo)
    servicer = JobsServicer(repo, box, datasets, "/labelops/jobs")
    server, port, _ = await start_server(
        [GrpcService("labelops.jobs.v1.JobsService", servicer,
                     jobs_pb2_grpc.add_JobsServiceServicer_to_server, ROLES)],
        host="127.0.0.1", port=0, jwt_secret=SECRET)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Harness(db, channel, consumer, datasets, servicer)
    await channel.close()
    await server.stop(None)
