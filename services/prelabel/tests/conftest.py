"""The prelabel service in-process: its real gRPC server (auth interceptor and roles map),
outbox and consumer, on an in-memory database and a fake dataset stream; and on the real
FerretDB at LABELOPS_MONGO_URL for the tests marked integration."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from labelops.prelabel.v1 import prelabel_pb2_grpc
from labelops_shared import auth, mongo, outbox
from labelops_shared.contracts import JobMembers, JobPublished, JobSpec, LabelDef
from labelops_shared.events import new_event
from labelops_shared.grpc_server import GrpcService, bearer, start_server
from labelops_shared.kafka import EventConsumer
from services.prelabel import handlers
from services.prelabel.adapters.dataset_client import ItemsUnavailable
from services.prelabel.api import ROLES, PrelabelServicer
from services.prelabel.tests.fakes import FakeDatabase

SECRET = "prelabel-test-secret-of-at-least-32-bytes"
WORKSPACE = "ws1"
SINGLE = {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}
MISSING = object()  # an item without the pre-label field


@pytest.fixture(params=["fake", pytest.param("ferretdb", marks=pytest.mark.integration)])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "fake":
        yield FakeDatabase()
        return
    url = os.environ.get("LABELOPS_MONGO_URL")
    if not url:  # start (or reuse) the local stack rather than skip
        from labelops_cli.stack.servers import up_infra

        url = up_infra()["LABELOPS_MONGO_URL"]
    client = mongo.connect(url, app_name="prelabel-tests")
    database = client[f"labelops_prelabel_test_{uuid.uuid4().hex[:10]}"]
    await mongo.ensure_indexes(database, outbox.INDEXES)
    yield database
    await client.drop_database(database.name)
    await client.close()


class FakeItems:
    """The dataset service's StreamItems: (item id, data) in import order. A stream may be
    told to break off after some items, once (a transient failure), or to be missing."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], list[tuple[str, dict[str, Any]]]] = {}
        self.break_after: int | None = None
        self.streams = 0

    def add(self, dataset_id: str, values: list[Any], *, field: str = "label") -> None:
        """One item per value; the value `MISSING` leaves the field out."""
        self.versions[(dataset_id, 1)] = [
            (f"{dataset_id}-i{n:05d}",
             {"source": f"text {n}", **({} if v is MISSING else {field: v})})
            for n, v in enumerate(values)]

    async def items(self, dataset_id: str,
                    version: int) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.streams += 1
        if (dataset_id, version) not in self.versions:
            raise ItemsUnavailable(f"dataset {dataset_id!r} version {version}: not found")
        for n, item in enumerate(self.versions[(dataset_id, version)]):
            if self.break_after is not None and n == self.break_after:
                self.break_after = None
                raise ConnectionError("dataset stream broke off")
            yield item


class Client:
    def __init__(self, stub: Any, token: str) -> None:
        self._stub = stub
        self._metadata = bearer(token)

    def __getattr__(self, method: str) -> Any:
        call = getattr(self._stub, method)

        async def invoke(request: Any) -> Any:
            return await call(request, metadata=self._metadata, timeout=60)

        return invoke


def spec(dataset_id: str = "d1", *, prelabel_field: str = "label",
         topics: list[dict[str, Any]] | None = None, workspace: str = WORKSPACE) -> JobSpec:
    return JobSpec(
        job_id=uuid.uuid4().hex, workspace=workspace, name="job", dataset_id=dataset_id,
        dataset_version=1, template="text_classification",
        topics=[SINGLE] if topics is None else topics,
        labels=[LabelDef(name="pos"), LabelDef(name="neg")], workflow="label",
        package_size=100, check_ratio=1.0, prelabel_field=prelabel_field,
        members=JobMembers())


class Harness:
    def __init__(self, db: Any, channel: grpc.aio.Channel, consumer: EventConsumer,
                 items: FakeItems) -> None:
        self.db, self.channel, self.consumer, self.items = db, channel, consumer, items
        self.stub = prelabel_pb2_grpc.PrelabelServiceStub(channel)

    def client(self, subject: str, *roles: str, workspace: str = WORKSPACE) -> Client:
        token = auth.issue_token(SECRET, subject=subject, workspace=workspace, roles=roles)
        return Client(self.stub, token)

    async def publish(self, job: JobSpec) -> str:
        raw = new_event(JobPublished(job_id=job.job_id, job=job, item_count=0),
                        source="/labelops/test").to_bytes()
        outcome: str = await self.consumer.handle(raw, topic=JobPublished.TOPIC)
        return outcome

    async def status(self, job_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = await self.db[handlers.STATUS].find_one({"_id": job_id})
        return doc

    async def predictions(self) -> list[dict[str, Any]]:
        """PredictionsReady events committed so far (none are relayed), in commit order."""
        records = await self.db[outbox.COLLECTION].find({}).sort("seq", 1).to_list(None)
        found = [json.loads(e["value"]) for r in records for e in r["events"]]
        return [e["data"] for e in found
                if e["type"] == "labelops.prelabel.predictions_ready.v1"]


@pytest.fixture
async def harness(db: Any) -> AsyncIterator[Harness]:
    box = outbox.Outbox(db, owner="test")
    consumer = EventConsumer("prelabel", box, max_attempts=2)

    async def no_dead_letters(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        raise AssertionError(f"dead-lettered: {headers.get('x-labelops-reason')}")

    consumer._dead_letter = no_dead_letters
    items = FakeItems()
    handlers.register(consumer, items)
    server, port, _ = await start_server(
        [GrpcService("labelops.prelabel.v1.PrelabelService", PrelabelServicer(db),
                     prelabel_pb2_grpc.add_PrelabelServiceServicer_to_server, ROLES)],
        host="127.0.0.1", port=0, jwt_secret=SECRET)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Harness(db, channel, consumer, items)
    await channel.close()
    await server.stop(None)
