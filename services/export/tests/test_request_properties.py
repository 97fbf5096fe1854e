"""Properties of the export API under random and hostile requests, through the real server on
the fake database: every RPC answers OK or a client error (never UNKNOWN or INTERNAL), a
refused call changes nothing, and item data and answers whose keys look like operators
(``$where``, ``a.b``) are stored as data and exported unchanged."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from hypothesis import event, given, settings
from hypothesis import strategies as st

from labelops.export.v1 import export_pb2 as pb
from labelops_shared import auth
from labelops_shared.annotations import build_template
from labelops_shared.grpc_server import bearer
from services.export.tests.conftest import SECRET, WORKSPACE, Harness
from tests.proto_strategies import (
    RPC_FUZZ,
    TEXT,
    Request,
    judge_refusal,
    requests,
    short,
    snapshot,
    stored_operator_keys,
)

pytestmark = [pytest.mark.unit,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

METHODS = {m.name: message_factory.GetMessageClass(m.input_type)
           for m in pb.DESCRIPTOR.services_by_name["ExportService"].methods}
TEMPLATE = build_template("image_classification", [{"name": "cat"}, {"name": "$gt"}]).to_dict()
FORMATS = ["", "manifest", "coco", "yolo", "voc", "conll", "triplets", "classification_csv",
           "audio_segments", "audio_segments_csv", "transcripts", "label_studio"]
HOSTILE_DATA = {"source": "s3://b/1.jpg", "width": 10, "height": 10, "$where": "sleep(1)",
                "a.b": {"$gt": "", "c.d": [{"$ne": None}]}, "_id": "x", "meta": {"$set": 1}}


async def seeded(harness: Harness) -> str:
    """A job with one accepted item whose data keys look like operators; made once."""
    if not getattr(harness, "fuzz_seeded", False):
        await harness.create_job("j1", TEMPLATE, ["cat", "$gt"])
        await harness.accept("j1", "p1", [("ds1:1:0001", HOSTILE_DATA, {"label": "$gt"},
                                           "ann", 1),
                                          ("ds1:1:0002", {"source": "s3://b/2.jpg"},
                                           {"label": "cat"}, "a.b", 1)])
        harness.fuzz_seeded = True  # type: ignore[attr-defined]
    return "j1"


class Client:
    def __init__(self, harness: Harness, *roles: str) -> None:
        self.stub = harness.stub
        self.metadata = bearer(auth.issue_token(SECRET, subject="ada", workspace=WORKSPACE,
                                                roles=roles))

    async def send(self, method: str, request: Any) -> Any:
        return await getattr(self.stub, method)(request, metadata=self.metadata, timeout=30)


async def call(harness: Harness, client: Client, method: str, request: Request
               ) -> grpc.StatusCode:
    """The call's status; a refused call must leave every document as it was. A started
    export is awaited, so its writer is done before the next call is judged."""
    before = snapshot(harness.db)
    try:
        answer = await client.send(method, request.message)
    except grpc.aio.AioRpcError as exc:
        judge_refusal(method, exc, harness.db, before)
        return exc.code()
    if method == "StartExport":
        finished = await harness.finished(answer.id)
        assert finished.state in (pb.EXPORT_STATE_COMPLETED, pb.EXPORT_STATE_FAILED)
    return grpc.StatusCode.OK


@settings(RPC_FUZZ, max_examples=150)
@given(data=st.data(), method=st.sampled_from(sorted(METHODS)))
async def test_any_request_is_answered_ok_or_a_client_error(harness: Harness, data: st.DataObject,
                                                            method: str) -> None:
    job_id = await seeded(harness)
    request = data.draw(requests(
        METHODS[method], job_id=st.just(job_id) | TEXT, format=st.sampled_from(FORMATS) | TEXT,
        labels=st.sampled_from(["cat", "$gt"]) | TEXT,
        accepted_from=st.sampled_from(["2026-01-01T00:00:00Z", "2026-13-01", "yesterday"])
        | TEXT), label=method)
    client = Client(harness, data.draw(st.sampled_from([auth.ANNOTATION_ADMIN, auth.LABELER,
                                                        auth.ACCEPTER])))
    event(f"{method}: {(await call(harness, client, method, request)).name}")
    assert stored_operator_keys(harness.db) == []


async def test_operator_keys_in_items_are_stored_as_data_and_exported_unchanged(
        harness: Harness) -> None:
    await seeded(harness)
    assert stored_operator_keys(harness.db) == []
    export = await harness.finished((await harness.start("j1", "manifest")).id)
    assert export.state == pb.EXPORT_STATE_COMPLETED
    lines = [json.loads(line) for line in harness.file(export).decode().splitlines()]
    exported = {json.dumps(line, sort_keys=True) for line in lines}
    assert any('"$where": "sleep(1)"' in line and '"c.d"' in line for line in exported), \
        short(exported)
    assert stored_operator_keys(harness.db) == []
