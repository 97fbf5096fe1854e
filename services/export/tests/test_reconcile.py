"""Reconciliation: the labeled view's accepted items against the assignment service's count,
in total and package by package (the pure comparison, then through the service with a fake
assignment client)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.assignment.v1 import assignment_pb2_grpc as apb_grpc
from labelops.export.v1 import export_pb2 as pb
from labelops_shared import auth
from labelops_shared.annotations import build_template
from labelops_shared.contracts import PackageItemsRemoved
from labelops_shared.grpc_server import bearer
from services.export.adapters.assignment_client import AssignmentClient
from services.export.domain.reconcile import PackageDifference, reconcile
from services.export.tests.conftest import SECRET, WORKSPACE, Harness

CLASSIFY = build_template("text_classification", [{"name": "pos"}, {"name": "neg"}]).to_dict()


def _texts(first: int, count: int,
           revision: int = 1) -> list[tuple[str, dict[str, Any], dict[str, Any], str, int]]:
    return [(f"ds1:1:{n:04d}", {"source": f"text {n}"}, {"label": "pos"}, "ann", revision)
            for n in range(first, first + count)]


def test_equal_counts_match() -> None:
    found = reconcile("j1", {"p1": 3, "p2": 2}, 5)
    assert (found.view_items, found.assignment_items, found.difference) == (5, 5, 0)
    assert found.matches and not found.by_package


def test_packages_that_differ_are_named_in_order_and_all_counted() -> None:
    found = reconcile("j1", {"p2": 2, "p1": 3, "p4": 1},
                      assignment_items=9, accepted_packages={"p1": 3, "p2": 4, "p3": 2},
                      listed=2)
    assert found.difference == -3 and not found.matches
    assert (found.view_packages, found.accepted_packages, found.differing_packages) == (3, 3, 3)
    assert found.packages == [PackageDifference("p2", 2, 4, True),
                              PackageDifference("p3", 0, 2, True)]  # p4 counted, not listed


def test_equal_totals_with_packages_swapped_do_not_match() -> None:
    found = reconcile("j1", {"p1": 2}, 2, accepted_packages={"p2": 2})
    assert found.difference == 0 and not found.matches
    assert found.packages == [PackageDifference("p1", 2, 0, False),
                              PackageDifference("p2", 0, 2, True)]


async def test_the_service_reports_both_counts_and_the_difference(harness: Harness) -> None:
    await harness.create_job("j1", CLASSIFY, ["pos", "neg"])
    await harness.accept("j1", "p1", _texts(0, 10))
    await harness.accept("j1", "p2", _texts(10, 10))
    await harness.accept("j1", "p1", _texts(0, 10))  # a redelivery counts once
    harness.assignment.accepted["j1"] = 25
    found = await harness.stub.ReconcileJob(pb.ReconcileJobRequest(job_id="j1"),
                                            metadata=harness.metadata)
    assert (found.view_items, found.assignment_items, found.difference) == (20, 25, -5)
    assert not found.matches and found.checked_at
    assert not found.packages and harness.assignment.tokens == []  # not asked by package

    harness.assignment.accepted["j1"] = 20
    found = await harness.stub.ReconcileJob(pb.ReconcileJobRequest(job_id="j1"),
                                            metadata=harness.metadata)
    assert found.matches and found.difference == 0


async def test_by_package_names_the_packages_that_differ(harness: Harness) -> None:
    await harness.create_job("j1", CLASSIFY, ["pos", "neg"])
    await harness.accept("j1", "p1", _texts(0, 10))
    await harness.accept("j1", "p2", _texts(10, 10))
    await harness.deliver(PackageItemsRemoved(job_id="j1", package_id="p2",
                                              item_ids=["ds1:1:0010"], reason="deleted"))
    harness.assignment.accepted["j1"] = 30
    harness.assignment.packages["j1"] = {"p1": 10, "p2": 10, "p3": 10}
    found = await harness.stub.ReconcileJob(pb.ReconcileJobRequest(job_id="j1",
                                                                   by_package=True),
                                            metadata=harness.metadata)
    assert (found.view_items, found.assignment_items, found.difference) == (19, 30, -11)
    assert (found.view_packages, found.accepted_packages, found.differing_packages) == (2, 3, 2)
    assert [(d.package_id, d.view_items, d.assignment_items, d.accepted)
            for d in found.packages] == [("p2", 9, 10, True), ("p3", 0, 10, True)]
    # listing packages is an administrator's call: asked with the caller's own token
    assert harness.assignment.tokens == [harness.token]


async def test_only_administrators_reconcile_and_only_their_workspace(
        harness: Harness) -> None:
    await harness.create_job("j1", CLASSIFY, ["pos", "neg"])
    for roles in ((auth.LABELER,), (auth.SERVICE,)):
        token = auth.issue_token(SECRET, subject="x", workspace=WORKSPACE, roles=roles)
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await harness.stub.ReconcileJob(pb.ReconcileJobRequest(job_id="j1"),
                                            metadata=bearer(token))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    other = auth.issue_token(SECRET, subject="x", workspace="ws2",
                             roles=(auth.WORKSPACE_ADMIN,))
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await harness.stub.ReconcileJob(pb.ReconcileJobRequest(job_id="j1"),
                                        metadata=bearer(other))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


class _Unreachable(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(),
                         grpc.aio.Metadata(), details="Deadline Exceeded")


async def test_an_unreachable_assignment_service_is_unavailable(harness: Harness) -> None:
    await harness.create_job("j1", CLASSIFY, ["pos", "neg"])
    harness.assignment.error = _Unreachable()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await harness.stub.ReconcileJob(pb.ReconcileJobRequest(job_id="j1"),
                                        metadata=harness.metadata)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert failed.value.details() == "assignment service: Deadline Exceeded"


class _Assignment(apb_grpc.AssignmentServiceServicer):
    """The two calls a reconciliation makes, recording who asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def _who(self, context: Any) -> str:
        return str(dict(context.invocation_metadata())["authorization"])

    async def GetJobProgress(self, request: Any, context: Any) -> apb.JobProgress:
        self.asked.append(("GetJobProgress", self._who(context)))
        return apb.JobProgress(job_id=request.job_id, accepted_items=42)

    async def ListPackages(self, request: Any, context: Any) -> apb.ListPackagesResponse:
        self.asked.append((f"ListPackages {apb.PackageState.Name(request.state)}",
                           self._who(context)))
        return apb.ListPackagesResponse(packages=[
            apb.Package(id="p1", job_id=request.job_id, item_count=40),
            apb.Package(id="p2", job_id=request.job_id, item_count=2)])


async def test_the_grpc_client_asks_progress_as_the_service_and_packages_as_the_caller(
) -> None:
    servicer = _Assignment()
    server = grpc.aio.server()
    apb_grpc.add_AssignmentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        client = AssignmentClient(f"127.0.0.1:{port}", lambda: "service-token")
        assert await client.accepted_items("j1") == 42
        assert await client.accepted_packages("j1", "caller-token") == {"p1": 40, "p2": 2}
        await client.close()
    finally:
        await server.stop(None)
    assert servicer.asked == [("GetJobProgress", "Bearer service-token"),
                              ("ListPackages PACKAGE_STATE_ACCEPTED", "Bearer caller-token")]
