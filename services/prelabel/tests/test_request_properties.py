"""Properties of the prelabel API under random and hostile requests, through the real server
on the fake database: every RPC answers OK or a client error (never UNKNOWN or INTERNAL), a
refused call changes nothing, and pre-labels read from item fields whose keys look like
operators are stored as data."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from hypothesis import event, given, settings
from hypothesis import strategies as st

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared import auth
from services.prelabel.tests.conftest import Harness, offline, spec
from services.prelabel.tests.fakes import FakeDatabase
from tests.proto_strategies import (
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

METHODS = {m.name: message_factory.GetMessageClass(m.input_type)
           for m in pb.DESCRIPTOR.services_by_name["PrelabelService"].methods}
RECORDS = [{"source": "text 0", "label": "pos", "$where": "sleep(1)", "a.b": {"$gt": ""}},
           {"source": "text 1", "label": {"$ne": "pos"}, "x.$y": [1]},
           {"source": "text 2", "label": "$where"},
           {"source": "text 3", "label": "neg"}]


async def seeded(harness: Harness) -> str:
    """A published job pre-labelled from item fields with operator-looking keys; made once."""
    job_id: str | None = getattr(harness, "fuzz_job", None)
    if job_id is None:
        harness.items.add_data("d1", RECORDS)
        job = spec("d1", prelabel=offline(("label", "label")))
        assert await harness.publish(job) == "handled"
        job_id = job.job_id
        harness.fuzz_job = job_id  # type: ignore[attr-defined]
    return job_id


async def settled(harness: Harness) -> None:
    """Auto-label runs started by a call have finished (their writes are not the next
    call's)."""
    await asyncio.gather(*list(harness.runs.tasks.values()), return_exceptions=True)


async def call(harness: Harness, client: Any, method: str, request: Request
               ) -> grpc.StatusCode:
    await settled(harness)
    before = snapshot(harness.db)
    try:
        await getattr(client, method)(request.message)
    except grpc.aio.AioRpcError as exc:
        judge_refusal(method, exc, harness.db, before)
        return exc.code()
    await settled(harness)
    return grpc.StatusCode.OK


@settings(RPC_FUZZ, max_examples=120)
@given(data=st.data(), method=st.sampled_from(sorted(METHODS)))
async def test_any_request_is_answered_ok_or_a_client_error(harness: Harness, data: st.DataObject,
                                                            method: str) -> None:
    job_id = await seeded(harness)
    request = data.draw(requests(METHODS[method], job_id=st.just(job_id) | TEXT), label=method)
    client = data.draw(st.sampled_from([harness.admin(), harness.client("lea", auth.LABELER)]))
    event(f"{method}: {(await call(harness, client, method, request)).name}")
    assert stored_operator_keys(harness.db) == []


async def test_prelabels_from_fields_with_operator_keys_are_data(harness: Harness) -> None:
    job_id = await seeded(harness)
    status = await harness.admin().GetPrelabelStatus(pb.GetPrelabelStatusRequest(job_id=job_id))
    assert status.job_id == job_id
    invalid = await harness.admin().ListInvalidPrelabels(
        pb.ListInvalidPrelabelsRequest(job_id=job_id))
    # {"$ne": "pos"} and "$where" are not options of the topic: refused as pre-labels, by item.
    assert invalid.total == 2
    assert stored_operator_keys(harness.db) == []
