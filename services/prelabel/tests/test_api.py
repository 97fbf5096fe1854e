"""GetPrelabelStatus through the real server: roles and workspace checks."""

from __future__ import annotations

import grpc
import pytest

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared import auth
from services.prelabel.tests.conftest import Harness, spec


async def test_admins_and_services_read_the_status(harness: Harness) -> None:
    harness.items.add("d1", ["pos", "bad", "neg"])
    job = spec()
    await harness.publish(job)

    admin = harness.client("ada", auth.WORKSPACE_ADMIN)
    status = await admin.GetPrelabelStatus(pb.GetPrelabelStatusRequest(job_id=job.job_id))
    assert (status.state, status.items_seen, status.predictions, status.invalid) == (
        "done", 3, 2, 1)
    assert (status.field, status.missing, status.error) == ("label", 0, "")
    assert [(v.item_id, v.field, v.topic) for v in status.invalid_values] == [
        ("d1-i00001", "label", "label")]
    assert (status.mode, list(status.fields)) == ("offline", ["label"])
    service = harness.client("assignment", auth.SERVICE, workspace="*")
    again = await service.GetPrelabelStatus(pb.GetPrelabelStatusRequest(job_id=job.job_id))
    assert again.predictions == 2


async def test_others_are_refused(harness: Harness) -> None:
    job = spec(prelabel_field="")
    await harness.publish(job)
    request = pb.GetPrelabelStatusRequest(job_id=job.job_id)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("lea", auth.LABELER).GetPrelabelStatus(request)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("eve", auth.ANNOTATION_ADMIN, workspace="ws2").GetPrelabelStatus(
            request)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("ada", auth.ANNOTATION_ADMIN).GetPrelabelStatus(
            pb.GetPrelabelStatusRequest(job_id="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "pre-label run of job 'nope' not found" in (info.value.details() or "")


def test_every_rpc_has_its_roles() -> None:
    from services.prelabel.api import ROLES

    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["PrelabelService"].methods}
    assert set(ROLES) == methods
    assert ROLES["StartAutoLabel"] == auth.ADMINS


async def test_invalid_values_are_paged_for_admins(harness: Harness) -> None:
    harness.items.add("d1", ["bad"] * 5 + ["pos"])
    job = spec()
    await harness.publish(job)
    admin = harness.client("ada", auth.WORKSPACE_ADMIN)
    first = await admin.ListInvalidPrelabels(
        pb.ListInvalidPrelabelsRequest(job_id=job.job_id, page_size=3))
    second = await admin.ListInvalidPrelabels(pb.ListInvalidPrelabelsRequest(
        job_id=job.job_id, page_size=3, page_token=first.next_page_token))
    assert (first.total, len(first.invalid_values), len(second.invalid_values)) == (5, 3, 2)
    assert second.next_page_token == ""
    assert [v.item_id for v in [*first.invalid_values, *second.invalid_values]] == [
        f"d1-i{n:05d}" for n in range(5)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.ListInvalidPrelabels(
            pb.ListInvalidPrelabelsRequest(job_id=job.job_id, page_size=5000))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_size: 1-1000" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("lea", auth.LABELER).ListInvalidPrelabels(
            pb.ListInvalidPrelabelsRequest(job_id=job.job_id))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
