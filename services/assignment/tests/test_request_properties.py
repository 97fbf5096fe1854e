"""Properties of the assignment and acceptance APIs under random and hostile requests, through
the real server on the fake database: every RPC answers OK or a client error (never UNKNOWN
or INTERNAL), a refused call changes nothing, and no answer key reaches the database as an
operator."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from hypothesis import event, given, settings
from hypothesis import strategies as st

from labelops.assignment.v1 import acceptance_pb2 as apb
from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from services.assignment.adapters.repository import PACKAGES
from services.assignment.tests.conftest import ANSWER, Harness
from services.assignment.tests.fakes import FakeDatabase
from tests.proto_strategies import (
    JSON_TEXT,
    OPERATOR_KEYS,
    RPC_FUZZ,
    TEXT,
    Request,
    judge_refusal,
    requests,
    short,
    snapshot,
    stored_operator_keys,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def db() -> FakeDatabase:
    """The in-memory database only: the properties compare every document before and after
    a call, which the fake shows (the real database's variant is the conftest's)."""
    return FakeDatabase()


def _methods(module: Any, service: str) -> dict[str, tuple[str, type[Any]]]:
    return {m.name: (service, message_factory.GetMessageClass(m.input_type))
            for m in module.DESCRIPTOR.services_by_name[service].methods}


METHODS = {**_methods(pb, "AssignmentService"), **_methods(apb, "AcceptanceService")}
ANSWERS = st.one_of(
    st.just(json.dumps(ANSWER)),
    st.sampled_from([{"label": "pos", "$where": "1"}, {"label": {"$gt": ""}},
                     {"label": "neg", "tags": ["x"], "a.b": 1}, {"$set": {"label": "pos"}},
                     {"label": "pos", "tags": [{"$ne": 1}]}, {"label.x": "pos"}]).map(json.dumps),
    st.dictionaries(st.sampled_from(["label", "tags", *OPERATOR_KEYS]),
                    st.sampled_from(["pos", "neg", ["x"], ["x", "y"], {"$gt": ""}, None]),
                    max_size=3).map(json.dumps),
    JSON_TEXT)


class Seeded:
    """A published job whose first package lea holds, and its items."""

    def __init__(self, job_id: str, package_id: str, items: list[str]) -> None:
        self.job_id, self.package_id, self.items = job_id, package_id, items


async def seeded(harness: Harness) -> Seeded:
    found: Seeded | None = getattr(harness, "fuzz_seed", None)
    if found is None:
        job_id = await harness.publish_job(items=10, package_size=5, labelers=["lea"])
        lea = harness.client("lea", auth.LABELER)
        package = await lea.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id,
                                                                stage=pb.STAGE_LABEL))
        detail = await lea.GetPackage(pb.GetPackageRequest(package_id=package.id))
        found = Seeded(job_id, package.id, [i.item_id for i in detail.items])
        harness.fuzz_seed = found  # type: ignore[attr-defined]
    return found


def hints(seed: Seeded) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "job_id": st.just(seed.job_id) | TEXT,
        "package_id": st.just(seed.package_id) | TEXT,
        "item_id": st.sampled_from(seed.items) | TEXT,
        "answer_json": ANSWERS,
        "to": st.sampled_from(["lea", "lee"]) | TEXT,
    }


def clients(harness: Harness, service: str) -> list[Any]:
    stub = harness.acceptance if service == "AcceptanceService" else None
    return [harness.client("lea", auth.LABELER, stub=stub),
            harness.client("cho", auth.CHECKER, stub=stub),
            harness.client("acc", auth.ACCEPTER, stub=stub),
            harness.client("ada", auth.ANNOTATION_ADMIN, stub=stub)]


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


@settings(RPC_FUZZ, max_examples=250)
@given(data=st.data(), method=st.sampled_from(sorted(METHODS)))
async def test_any_request_is_answered_ok_or_a_client_error(harness: Harness, data: st.DataObject,
                                                            method: str) -> None:
    seed = await seeded(harness)
    service, cls = METHODS[method]
    request = data.draw(requests(cls, **hints(seed)), label=method)
    client = data.draw(st.sampled_from(clients(harness, service)))
    event(f"{method}: {(await call(harness, client, method, request)).name}")
    assert stored_operator_keys(harness.db) == []


@RPC_FUZZ
@given(answer=ANSWERS, item=st.integers(0, 4))
async def test_a_saved_answer_is_valid_or_refused_and_never_an_operator(
        harness: Harness, answer: str, item: int) -> None:
    seed = await seeded(harness)
    lea = harness.client("lea", auth.LABELER)
    request = Request(pb.SaveAnnotationRequest(package_id=seed.package_id,
                                               item_id=seed.items[item], answer_json=answer))
    code = await call(harness, lea, "SaveAnnotation", request)
    event(code.name)
    if code == grpc.StatusCode.OK:  # what was saved is what GetPackage gives back
        detail = await lea.GetPackage(pb.GetPackageRequest(package_id=seed.package_id))
        saved = next(i for i in detail.items if i.item_id == seed.items[item])
        assert json.loads(saved.answer_json) == json.loads(answer)
    else:
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert stored_operator_keys(harness.db) == []
    assert seed.package_id in harness.db[PACKAGES].docs


@pytest.mark.parametrize(("answer", "invalid", "reason"), [
    ("[" * 5000, False, "nested more than"), ("[" * 5000, True, "nested more than"),
    ('{"label": ' * 70 + '"pos"' + "}" * 70, True, "nested more than"),
    ('{"label": NaN}', True, "NaN is not valid JSON"),
    ('{"label": -Infinity}', False, "-Infinity is not valid JSON"),
    ('{"label": "pos"', False, "not valid JSON"),
])
async def test_answer_text_that_no_reader_can_keep_is_refused(
        harness: Harness, answer: str, invalid: bool, reason: str) -> None:
    seed = await seeded(harness)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("lea", auth.LABELER).SaveAnnotation(pb.SaveAnnotationRequest(
            package_id=seed.package_id, item_id=seed.items[0], answer_json=answer,
            invalid=invalid))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert details.startswith("answer_json: ") and reason in details, short(details)
