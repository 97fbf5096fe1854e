"""Every service's gRPC server answers reflection (what grpcurl uses) without a token,
lists its service beside health and reflection, describes its methods, and measures every
call by method and status code."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from prometheus_client import REGISTRY
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError
from urllib3.exceptions import MaxRetryError

from labelops_shared import metrics
from labelops_shared.auth import issue_token
from labelops_shared.grpc_server import GrpcService, bearer, start_server

SECRET = "ops-test-secret-of-at-least-32-bytes!"
SERVICES = {
    "dataset": "DatasetService", "jobs": "JobsService", "assignment": "AssignmentService",
    "prelabel": "PrelabelService", "export": "ExportService",
}


def _grpc_service(service: str) -> GrpcService:
    """The service's contract, roles and registration, over a servicer whose methods are the
    generated stubs' (UNIMPLEMENTED): reflection and interceptors do not call the servicer."""
    name = SERVICES[service]
    stubs: Any = importlib.import_module(f"labelops.{service}.v1.{service}_pb2_grpc")
    roles = importlib.import_module(f"services.{service}.api").ROLES
    return GrpcService(f"labelops.{service}.v1.{name}", getattr(stubs, f"{name}Servicer")(),
                       getattr(stubs, f"add_{name}Servicer_to_server"), roles)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_reflection_lists_and_describes_the_service(service: str) -> None:
    svc = _grpc_service(service)
    server, port, _ = await start_server([svc], host="127.0.0.1", port=0, jwt_secret=SECRET)
    try:
        def reflect() -> tuple[list[str], list[str]]:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                database = ProtoReflectionDescriptorDatabase(channel)
                names = sorted(database.get_services())
                pool = descriptor_pool.DescriptorPool(database)
                methods = [m.name for m in pool.FindServiceByName(svc.full_name).methods]
            return names, methods

        names, methods = await asyncio.to_thread(reflect)
    finally:
        await server.stop(None)
    assert names == sorted([svc.full_name, "grpc.health.v1.Health",
                            "grpc.reflection.v1alpha.ServerReflection"])
    assert set(methods) == set(svc.roles), "every method has declared roles"


async def test_calls_are_counted_by_method_and_code() -> None:
    svc = _grpc_service("export")
    server, port, _ = await start_server([svc], host="127.0.0.1", port=0, jwt_secret=SECRET)
    method = "GetExport"

    def count(code: str) -> float:
        value = metrics.GRPC_HANDLED.labels(grpc_service=svc.full_name, grpc_method=method,
                                            grpc_code=code)._value.get()
        return float(value)

    before = {code: count(code) for code in ("UNAUTHENTICATED", "UNIMPLEMENTED")}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(f"/{svc.full_name}/{method}",
                                       request_serializer=lambda _: b"",
                                       response_deserializer=lambda b: b)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(b"")
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            token = issue_token(SECRET, subject="u", workspace="w", roles=["workspace_admin"])
            with pytest.raises(grpc.aio.AioRpcError) as unimplemented:
                await call(b"", metadata=bearer(token))
            assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(None)
    assert count("UNAUTHENTICATED") == before["UNAUTHENTICATED"] + 1
    assert count("UNIMPLEMENTED") == before["UNIMPLEMENTED"] + 1
    seconds = metrics.GRPC_SECONDS.labels(grpc_service=svc.full_name, grpc_method=method)
    assert seconds._sum.get() > 0


@pytest.mark.parametrize(("error", "code"), [
    (ServerSelectionTimeoutError("localhost:27117: connection refused"),
     grpc.StatusCode.UNAVAILABLE),
    (MaxRetryError(None, "/labelops-exports", "connection refused"),  # type: ignore[arg-type]
     grpc.StatusCode.UNAVAILABLE),
    (OperationFailure("[db.go:167 fsql.(*DB).InTransaction] sql: transaction has already "
                      "been committed or rolled back", code=1),  # FerretDB stopping
     grpc.StatusCode.UNAVAILABLE),
    (OperationFailure("[msg_find.go:344 handler.handleMaxTimeMSError] [collection.go:82 "
                      "sqlite.(*collection).Query] context canceled", code=1),  # a read, too
     grpc.StatusCode.UNAVAILABLE),
    (OperationFailure("unknown operator: $where", code=2), grpc.StatusCode.UNKNOWN),
    (KeyError("a bug, not an outage"), grpc.StatusCode.UNKNOWN),
])
async def test_an_outage_of_a_backing_server_answers_unavailable(
        error: Exception, code: grpc.StatusCode) -> None:
    """A client retries UNAVAILABLE; an outage must not look like a bug (UNKNOWN), and a bug
    must not invite retries."""
    stubs: Any = importlib.import_module("labelops.export.v1.export_pb2_grpc")
    pb: Any = importlib.import_module("labelops.export.v1.export_pb2")
    roles = importlib.import_module("services.export.api").ROLES

    class Failing(stubs.ExportServiceServicer):  # type: ignore[misc,name-defined]
        async def GetExport(self, request: Any, context: Any) -> Any:  # noqa: N802
            raise error

    svc = GrpcService("labelops.export.v1.ExportService", Failing(),
                      stubs.add_ExportServiceServicer_to_server, roles)
    server, port, _ = await start_server([svc], host="127.0.0.1", port=0, jwt_secret=SECRET)
    token = issue_token(SECRET, subject="u", workspace="w", roles=["workspace_admin"])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stubs.ExportServiceStub(channel).GetExport(
                    pb.GetExportRequest(export_id="e1"), metadata=bearer(token))
    finally:
        await server.stop(None)
    assert failed.value.code() == code
    if code == grpc.StatusCode.UNAVAILABLE:
        assert "retry" in (failed.value.details() or "")


async def test_admission_bounds_the_calls_running_and_lets_first_methods_pass_the_line(
) -> None:
    """With LABELOPS_GRPC_MAX_CONCURRENT_CALLS=1: one call runs; of the calls waiting, the
    service's ``first`` method (ListExports here, ClaimPackage in the assignment service)
    runs before the others that came earlier; a refused token never takes a place."""
    stubs: Any = importlib.import_module("labelops.export.v1.export_pb2_grpc")
    pb: Any = importlib.import_module("labelops.export.v1.export_pb2")
    roles = importlib.import_module("services.export.api").ROLES
    gate = asyncio.Event()
    ran: list[str] = []

    class Recording(stubs.ExportServiceServicer):  # type: ignore[misc,name-defined]
        async def GetExport(self, request: Any, context: Any) -> Any:  # noqa: N802
            ran.append(request.export_id)
            await gate.wait()
            return pb.Export(id=request.export_id)

        async def ListExports(self, request: Any, context: Any) -> Any:  # noqa: N802
            ran.append("list")
            return pb.ListExportsResponse()

    svc = GrpcService("labelops.export.v1.ExportService", Recording(),
                      stubs.add_ExportServiceServicer_to_server, roles,
                      first=frozenset({"ListExports"}))
    server, port, _ = await start_server([svc], host="127.0.0.1", port=0, jwt_secret=SECRET,
                                         max_concurrent_calls=1)
    token = issue_token(SECRET, subject="u", workspace="w", roles=["workspace_admin"])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = stubs.ExportServiceStub(channel)

            def get(export_id: str) -> Any:
                return asyncio.ensure_future(stub.GetExport(
                    pb.GetExportRequest(export_id=export_id), metadata=bearer(token)))

            calls = [get("holder")]
            await asyncio.sleep(0.2)
            calls += [get("second"), get("third")]
            await asyncio.sleep(0.2)
            with pytest.raises(grpc.aio.AioRpcError) as refused:  # not stuck in the line
                await asyncio.wait_for(stub.ListExports(pb.ListExportsRequest()), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            listed = asyncio.ensure_future(stub.ListExports(pb.ListExportsRequest(),
                                                            metadata=bearer(token)))
            await asyncio.sleep(0.2)
            assert ran == ["holder"]
            assert REGISTRY.get_sample_value("labelops_grpc_server_calls_waiting") == 3
            gate.set()
            await asyncio.wait_for(asyncio.gather(*calls, listed), timeout=10)
    finally:
        await server.stop(None)
    assert ran == ["holder", "list", "second", "third"]
