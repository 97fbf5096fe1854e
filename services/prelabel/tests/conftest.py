"""The prelabel service in-process: its real gRPC server (auth interceptor and roles map),
outbox, consumer, online worker and auto-labeler, on an in-memory database, a fake dataset
service and fake object storage; and on the real FerretDB at LABELOPS_MONGO_URL for the
tests marked integration."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from minio.error import S3Error

from labelops.prelabel.v1 import prelabel_pb2_grpc
from labelops_shared import auth, mongo, outbox
from labelops_shared.contracts import (
    FieldTopic,
    JobMembers,
    JobPublished,
    JobSpec,
    LabelDef,
    PrelabelSpec,
)
from labelops_shared.events import EventData, new_event
from labelops_shared.grpc_server import GrpcService, bearer, start_server
from labelops_shared.kafka import EventConsumer
from services.prelabel import handlers
from services.prelabel.adapters.dataset_client import ItemsUnavailable
from services.prelabel.adapters.media import ObjectMedia
from services.prelabel.adapters.model_client import Models
from services.prelabel.adapters.repository import INDEXES, STATUS, Repository
from services.prelabel.api import ROLES, PrelabelServicer
from services.prelabel.online import OnlineWorker
from services.prelabel.runs import AutoLabeler
from services.prelabel.settings import PrelabelSettings
from services.prelabel.tests.fakes import FakeDatabase

SECRET = "prelabel-test-secret-of-at-least-32-bytes"
WORKSPACE = "ws1"
SINGLE = {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}
MISSING = object()  # an item without the pre-label field


def fast_settings(**overrides: Any) -> PrelabelSettings:
    values: dict[str, Any] = {
        "model_batch_size": 8, "model_concurrency": 2, "model_timeout_seconds": 2.0,
        "model_attempts": 2, "model_backoff_seconds": 0.01, "breaker_failures": 3,
        "breaker_reset_seconds": 60.0, "worker_poll_seconds": 0.05,
        "run_heartbeat_seconds": 0.2, **overrides}
    return PrelabelSettings(**values)


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
    await mongo.ensure_indexes(database, {**outbox.INDEXES, **INDEXES})
    yield database
    await client.drop_database(database.name)
    await client.close()


class FakeItems:
    """The dataset service: StreamItems (item id, data) in import order and GetItems. A
    stream may be told to break off after some items, once (a transient failure)."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], list[tuple[str, dict[str, Any]]]] = {}
        self.break_after: int | None = None
        self.streams = 0

    def add(self, dataset_id: str, values: list[Any], *, field: str = "label") -> list[str]:
        """One item per value; the value `MISSING` leaves the field out."""
        return self.add_data(dataset_id, [{"source": f"text {n}",
                                           **({} if v is MISSING else {field: v})}
                                          for n, v in enumerate(values)])

    def add_data(self, dataset_id: str, records: list[dict[str, Any]],
                 version: int = 1) -> list[str]:
        found = self.versions.setdefault((dataset_id, version), [])
        start = len(found)
        found += [(f"{dataset_id}-v{version}-i{start + n:05d}" if version > 1
                   else f"{dataset_id}-i{start + n:05d}", record)
                  for n, record in enumerate(records)]
        return [i for i, _ in found[start:]]

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

    async def get_items(self, dataset_id: str, item_ids: Any) -> dict[str, dict[str, Any]]:
        every = {i: d for (ds, _), items in self.versions.items() if ds == dataset_id
                 for i, d in items}
        return {i: every[i] for i in item_ids if i in every}


class FakeObjectStore:
    """The few S3 calls item media make, on objects kept by URI; records what it was
    asked (an object never asked for was neither read nor shared)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.asked: list[str] = []

    def _body(self, bucket: str, key: str) -> bytes:
        uri = f"s3://{bucket}/{key}"
        self.asked.append(uri)
        if uri not in self.objects:
            raise S3Error(None, "NoSuchKey", "missing", key, "", "", bucket, key)  # type: ignore[arg-type]
        return self.objects[uri]

    def stat_object(self, bucket: str, key: str) -> Any:
        return SimpleNamespace(size=len(self._body(bucket, key)))

    def get_object(self, bucket: str, key: str) -> Any:
        body = self._body(bucket, key)
        return SimpleNamespace(read=lambda: body, close=lambda: None,
                               release_conn=lambda: None)

    def presigned_get_object(self, bucket: str, key: str, expires: Any) -> str:
        self.asked.append(f"s3://{bucket}/{key}")
        return f"http://objects.test/{bucket}/{key}"


class FakeMedia(ObjectMedia):
    """The service's item media on a fake object store: bytes by URI; a URL is the URI
    behind a fake host."""

    def __init__(self) -> None:
        self.store = FakeObjectStore()
        super().__init__(self.store, max_bytes=10 << 20)

    @property
    def objects(self) -> dict[str, bytes]:
        return self.store.objects


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
         topics: list[dict[str, Any]] | None = None, workspace: str = WORKSPACE,
         prelabel: PrelabelSpec | None = None, content: list[dict[str, Any]] | None = None,
         labels: list[str] | None = None, auto_sync: bool = False) -> JobSpec:
    topics = [SINGLE] if topics is None else topics
    names = labels or [o for t in topics for o in t.get("options", [])] or ["pos", "neg"]
    return JobSpec(
        job_id=uuid.uuid4().hex, workspace=workspace, name="job", dataset_id=dataset_id,
        dataset_version=1, template="text_classification", topics=topics,
        labels=[LabelDef(name=n) for n in dict.fromkeys(names)], workflow="label",
        package_size=100, check_ratio=1.0, prelabel_field=prelabel_field,
        members=JobMembers(), prelabel=prelabel or PrelabelSpec(),
        content=content if content is not None else [{"kind": "text", "field": "source"}],
        auto_sync=auto_sync)


def offline(*pairs: tuple[str, str]) -> PrelabelSpec:
    return PrelabelSpec(mode="offline", mapping=[FieldTopic(field=f, topic=t) for f, t in pairs],
                        stage="prelabel")


def online_spec(endpoint: str) -> PrelabelSpec:
    return PrelabelSpec(mode="online", endpoint=endpoint, stage="prelabel")


class Harness:
    def __init__(self, db: Any, channel: grpc.aio.Channel, consumer: EventConsumer,
                 items: FakeItems, media: FakeMedia, repo: Repository, worker: OnlineWorker,
                 runs: AutoLabeler, models: Models) -> None:
        self.db, self.channel, self.consumer, self.items = db, channel, consumer, items
        self.media, self.repo, self.worker, self.runs = media, repo, worker, runs
        self.models = models
        self.stub = prelabel_pb2_grpc.PrelabelServiceStub(channel)

    def client(self, subject: str, *roles: str, workspace: str = WORKSPACE) -> Client:
        token = auth.issue_token(SECRET, subject=subject, workspace=workspace, roles=roles)
        return Client(self.stub, token)

    def admin(self) -> Client:
        return self.client("ada", auth.ANNOTATION_ADMIN)

    async def deliver(self, data: EventData) -> str:
        raw = new_event(data, source="/labelops/test").to_bytes()
        outcome: str = await self.consumer.handle(raw, topic=data.TOPIC)
        return outcome

    async def publish(self, job: JobSpec) -> str:
        return await self.deliver(JobPublished(job_id=job.job_id, job=job, item_count=0))

    async def status(self, job_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = await self.db[STATUS].find_one({"_id": job_id})
        return doc

    async def events(self, kind: str = "predictions_ready") -> list[dict[str, Any]]:
        """Events of this type committed so far (none are relayed), in commit order."""
        records = await self.db[outbox.COLLECTION].find({}).sort("seq", 1).to_list(None)
        found = [json.loads(e["value"]) for r in records for e in r["events"]]
        return [e["data"] for e in found if e["type"] == f"labelops.prelabel.{kind}.v1"]

    async def predictions(self) -> list[dict[str, Any]]:
        return await self.events("predictions_ready")


@pytest.fixture
def settings() -> PrelabelSettings:
    return fast_settings()


@pytest.fixture
async def harness(db: Any, settings: PrelabelSettings) -> AsyncIterator[Harness]:
    box = outbox.Outbox(db, owner="test")
    consumer = EventConsumer("prelabel", box, max_attempts=2)

    async def no_dead_letters(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        raise AssertionError(f"dead-lettered: {headers.get('x-labelops-reason')}")

    consumer._dead_letter = no_dead_letters
    items, media, repo = FakeItems(), FakeMedia(), Repository(db)
    models = Models(settings)
    worker = OnlineWorker(repo, box, items, media, models, settings, "/labelops/prelabel",
                          "test-worker")
    runs = AutoLabeler(repo, box, items, media, settings, "/labelops/prelabel")
    handlers.register(consumer, items, repo, worker.wake)
    server, port, _ = await start_server(
        [GrpcService("labelops.prelabel.v1.PrelabelService",
                     PrelabelServicer(repo, runs, models),
                     prelabel_pb2_grpc.add_PrelabelServiceServicer_to_server, ROLES)],
        host="127.0.0.1", port=0, jwt_secret=SECRET)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Harness(db, channel, consumer, items, media, repo, worker, runs, models)
    for task in list(runs.tasks.values()):
        task.cancel()
    await channel.close()
    await server.stop(None)
    await models.close()
