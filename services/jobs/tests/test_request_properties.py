"""Properties of the jobs API under random and hostile requests, through the real server on
the fake database: every RPC answers OK or a client error (never UNKNOWN or INTERNAL), a
refused call changes nothing, and no user JSON reaches the database as an operator key."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from hypothesis import event, given, settings
from hypothesis import strategies as st

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared.annotations import PRESETS
from labelops_shared.grpc_server import MAX_DETAILS
from services.jobs.tests.conftest import Harness
from services.jobs.tests.fakes import FakeDatabase
from tests.proto_strategies import (
    JSON_TEXT,
    RPC_FUZZ,
    TEXT,
    Request,
    judge_refusal,
    requests,
    snapshot,
    stored_operator_keys,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def db() -> FakeDatabase:
    """The in-memory database only: the properties compare every document before and after
    a call, which the fake shows (the real database's variant is the conftest's)."""
    return FakeDatabase()

METHODS = pb.DESCRIPTOR.services_by_name["JobsService"].methods
REQUESTS = {m.name: message_factory.GetMessageClass(m.input_type) for m in METHODS}
OPTIONS = st.sampled_from(['{"multi_label": true}', '{"field": "a.b"}', '{"$where": 1}',
                           '{"topics": [{"name": "$x", "kind": "free_text"}], '
                           '"content": [{"kind": "text", "field": "$where"}]}',
                           '{"topics": [{"name": "t", "kind": "single_choice", '
                           '"options": ["a.b", "$gt"]}], "content": [{"kind": "text", '
                           '"field": "source"}]}'])


async def seeded(harness: Harness) -> list[str]:
    """A dataset and two jobs (one published) the requests may name; made once per harness."""
    ids: list[str] | None = getattr(harness, "fuzz_ids", None)
    if ids is None:
        harness.datasets.add("d1", versions=((1, True, 10),))
        harness.datasets.add("d2", kind="image")
        admin = harness.admin()
        created = []
        for template in ("text_classification", "named_entities"):
            job = await admin.CreateJob(pb.CreateJobRequest(
                name="seed", dataset_id="d1", template=template,
                labels=[pb.Label(name="pos"), pb.Label(name="neg")],
                workflow=pb.WORKFLOW_LABEL, members=pb.Members(labelers=["lea"])))
            created.append(job.id)
        await admin.PublishJob(pb.PublishJobRequest(job_id=created[0]))
        team = await admin.CreateTeam(pb.CreateTeamRequest(name="team-a"))
        ids = [*created, team.id]
        harness.fuzz_ids = ids  # type: ignore[attr-defined]
    return ids


def hints(ids: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    known = st.sampled_from(ids) | TEXT
    return {
        "job_id": known, "team_id": known,
        "dataset_id": st.sampled_from(["d1", "d2"]) | TEXT,
        "template": st.sampled_from(sorted(PRESETS)) | TEXT,
        "template_options_json": OPTIONS | JSON_TEXT,
        "name": st.sampled_from(["pos", "neg", "job-1", "ok name"]) | TEXT,
    }


async def call(harness: Harness, client: Any, method: str, request: Request
               ) -> grpc.StatusCode:
    """The call's status; a refused call must leave every document as it was."""
    before = snapshot(harness.db)
    try:
        await getattr(client, method)(request.message)
    except grpc.aio.AioRpcError as exc:
        judge_refusal(method, exc, harness.db, before)
        return exc.code()
    return grpc.StatusCode.OK


@settings(RPC_FUZZ, max_examples=300)
@given(data=st.data(), method=st.sampled_from(sorted(REQUESTS)))
async def test_any_request_is_answered_ok_or_a_client_error(harness: Harness, data: st.DataObject,
                                                            method: str) -> None:
    ids = await seeded(harness)
    request = data.draw(requests(REQUESTS[method], **hints(ids)), label=method)
    client = data.draw(st.sampled_from([harness.admin(), harness.owner(),
                                        harness.client("lea", "labeler")]))
    event(f"{method}: {(await call(harness, client, method, request)).name}")
    assert stored_operator_keys(harness.db) == []


@RPC_FUZZ
@given(request=requests(pb.CreateJobRequest, dataset_id=st.sampled_from(["d1", "d2"]),
                        template=st.sampled_from(sorted(PRESETS)),
                        template_options_json=OPTIONS | JSON_TEXT | st.just("")))
async def test_a_refused_create_leaves_no_job_and_no_event(harness: Harness,
                                                           request: Request) -> None:
    await seeded(harness)
    jobs = len(harness.db["jobs"].docs)
    events = len(await harness.events())
    code = await call(harness, harness.admin(), "CreateJob", request)
    created = 0 if code != grpc.StatusCode.OK else 1
    assert len(harness.db["jobs"].docs) == jobs + created
    assert len(await harness.events()) == events + created
    assert stored_operator_keys(harness.db) == []


async def test_a_huge_id_is_quoted_shortened_in_a_not_found(harness: Harness) -> None:
    """Details quote the request; the trailer carrying them has a hard size limit."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.admin().GetJob(pb.GetJobRequest(job_id="y" * 300_000))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    details = info.value.details() or ""
    assert details.startswith("job 'yyy") and len(details) == MAX_DETAILS
