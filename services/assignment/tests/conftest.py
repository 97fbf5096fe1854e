"""The assignment service in-process: its real gRPC server (with the auth interceptor and
roles map), outbox and consumer, on an in-memory database, and on the real FerretDB at
LABELOPS_MONGO_URL for the tests marked integration."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import acceptance_pb2_grpc, assignment_pb2_grpc
from labelops_shared import auth, mongo, outbox
from labelops_shared.contracts import JobMembers, JobPublished, JobSpec, LabelDef
from labelops_shared.events import new_event
from labelops_shared.grpc_server import GrpcService, bearer, start_server
from labelops_shared.kafka import EventConsumer
from services.assignment import acceptance, handlers
from services.assignment.adapters import acceptances
from services.assignment.adapters.repository import ANNOTATIONS, INDEXES, JOBS, Repository
from services.assignment.api import ROLES, AssignmentServicer
from services.assignment.moves import Packages
from services.assignment.settings import AssignmentSettings
from services.assignment.tests.fakes import FakeDatabase, FakeDatasets

SECRET = "assignment-test-secret-of-at-least-32-bytes"
WORKSPACE = "ws1"
TOPICS = [
    {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]},
    {"name": "tags", "kind": "multiple_choice", "options": ["x", "y", "z"]},
]
ANSWER = {"label": "pos", "tags": ["x"]}


@pytest.fixture(params=["fake", pytest.param("ferretdb", marks=pytest.mark.integration)])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "fake":
        yield FakeDatabase()
        return
    url = os.environ.get("LABELOPS_MONGO_URL")
    if not url:  # start (or reuse) the local stack rather than skip
        from labelops_cli.stack.servers import up_infra

        url = up_infra()["LABELOPS_MONGO_URL"]
    client = mongo.connect(url, app_name="assignment-tests")
    database = client[f"labelops_assignment_test_{uuid.uuid4().hex[:10]}"]
    await mongo.ensure_indexes(database, {**INDEXES, **acceptances.INDEXES, **outbox.INDEXES})
    yield database
    await client.drop_database(database.name)
    await client.close()


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
    def __init__(self, db: Any, port: int, channel: grpc.aio.Channel,
                 consumer: EventConsumer, datasets: FakeDatasets, repo: Repository,
                 packages: Packages) -> None:
        self.db, self.port, self.channel = db, port, channel
        self.answers = repo.answers  # the annotations, in their own database
        self.consumer, self.datasets, self.repo = consumer, datasets, repo
        self.packages = packages
        self.replicas: list[tuple[Any, grpc.aio.Channel]] = []
        self.replica_boards: list[Packages] = []  # each replica's packages (and board)
        self.stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
        # AcceptanceService on the same server (harness.client(..., stub=harness.acceptance))
        self.acceptance = acceptance_pb2_grpc.AcceptanceServiceStub(channel)
        self.accepting: acceptance.AcceptanceServicer | None = None

    def client(self, subject: str, *roles: str, workspace: str = WORKSPACE,
               stub: Any = None) -> Client:
        token = auth.issue_token(SECRET, subject=subject, workspace=workspace, roles=roles)
        return Client(stub or self.stub, token)

    async def replica(self) -> Any:
        """Another replica of the service on the same database: its own claim board,
        server and stub (stopped with the harness)."""
        packages = Packages(self.repo, self.packages.outbox, "/labelops/assignment",
                            self.packages.settings)
        self.replica_boards.append(packages)
        servicer = AssignmentServicer(self.repo, self.packages.outbox, self.datasets,
                                      "/labelops/assignment", packages)
        server, port, _ = await start_server(
            [GrpcService("labelops.assignment.v1.AssignmentService", servicer,
                         assignment_pb2_grpc.add_AssignmentServiceServicer_to_server, ROLES)],
            host="127.0.0.1", port=0, jwt_secret=SECRET)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.replicas.append((server, channel))
        return assignment_pb2_grpc.AssignmentServiceStub(channel)

    async def deliver(self, data: Any) -> str:
        """Deliver the event once (a new event id each call)."""
        return await self.deliver_raw(new_event(data, source="/labelops/test").to_bytes(),
                                      data.TOPIC)

    async def deliver_raw(self, raw: bytes, topic: str) -> str:
        """Deliver these bytes (the same event again, as a redelivery does)."""
        outcome: str = await self.consumer.handle(raw, topic=topic)
        return outcome

    async def spec(self, stored_id: str, **changes: Any) -> JobSpec:
        """The job's settings as stored here, with changes: what a job event carries."""
        job = await self.db[JOBS].find_one({"_id": stored_id})
        fields = {k: v for k, v in job.items() if k in JobSpec.model_fields}
        return JobSpec(**{**fields, **changes})

    async def publish_job(self, *, items: int = 25, package_size: int = 5,
                          workflow: str = "label_check_accept", check_ratio: float = 0.3,
                          labelers: list[str] | None = None,
                          topics: list[dict[str, Any]] | None = None,
                          labels: Sequence[str] = ("pos", "neg"),
                          template: str = "text_classification") -> str:
        job_id = uuid.uuid4().hex
        dataset_id = f"d{job_id[:6]}"
        self.datasets.add(dataset_id, 1, items)
        spec = JobSpec(
            job_id=job_id, workspace=WORKSPACE, name="job", dataset_id=dataset_id,
            dataset_version=1, template=template, topics=topics or TOPICS,
            labels=[LabelDef(name=n) for n in labels], workflow=workflow,
            package_size=package_size, check_ratio=check_ratio,
            members=JobMembers(labelers=labelers or []),
        )
        outcome = await self.deliver(JobPublished(job_id=job_id, job=spec, item_count=items))
        assert outcome == "handled"
        return job_id

    async def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Events committed so far (none are relayed in these tests), in commit order."""
        records = await self.db[outbox.COLLECTION].find({}).sort("seq", 1).to_list(None)
        found = [json.loads(e["value"]) for r in records for e in r["events"]]
        return [e for e in found if event_type is None or e["type"] == event_type]


@pytest.fixture
async def answers_db(db: Any) -> AsyncIterator[Any]:
    """The annotations' own database, as the service keeps them (``answers_database``)."""
    if isinstance(db, FakeDatabase):
        yield FakeDatabase()
        return
    answers = db.client[f"{db.name}_answers"]
    await mongo.ensure_indexes(answers, {ANNOTATIONS: INDEXES[ANNOTATIONS]})
    yield answers
    await db.client.drop_database(answers.name)


@pytest.fixture
async def harness(db: Any, answers_db: Any) -> AsyncIterator[Harness]:
    box = outbox.Outbox(db, owner="test")
    box.place(ANNOTATIONS, answers_db)
    consumer = EventConsumer("assignment", box, max_attempts=3)

    async def no_dead_letters(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        raise AssertionError(f"dead-lettered: {headers.get('x-labelops-reason')}")

    consumer._dead_letter = no_dead_letters
    datasets = FakeDatasets()
    repo = Repository(db, answers_db)
    packages = Packages(repo, box, "/labelops/assignment",
                        AssignmentSettings(lease_seconds=60, rescan_seconds=3600))
    handlers.register(consumer, repo, datasets, packages)
    servicer = AssignmentServicer(repo, box, datasets, "/labelops/assignment", packages)
    accepting = acceptance.AcceptanceServicer(
        repo, acceptances.Acceptances(db), box, datasets, "/labelops/assignment", packages,
        complete=servicer.maybe_complete)
    server, port, _ = await start_server(
        [GrpcService("labelops.assignment.v1.AssignmentService", servicer,
                     assignment_pb2_grpc.add_AssignmentServiceServicer_to_server, ROLES),
         GrpcService("labelops.assignment.v1.AcceptanceService", accepting,
                     acceptance_pb2_grpc.add_AcceptanceServiceServicer_to_server,
                     acceptance.ROLES)],
        host="127.0.0.1", port=0, jwt_secret=SECRET)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    harness = Harness(db, port, channel, consumer, datasets, repo, packages)
    harness.accepting = accepting
    yield harness
    for replica_server, replica_channel in harness.replicas:
        await replica_channel.close()
        await replica_server.stop(None)
    await channel.close()
    await server.stop(None)

