"""The CLI's clients give a unary call that names no deadline a default one: a service that
stopped answering is reported, not waited on for ever."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli import client


@pytest.fixture
def silent_service() -> Iterator[str]:
    """A gRPC server whose every method answers only when the test ends."""
    released = threading.Event()

    def never_answers(request: bytes, context: Any) -> bytes:
        released.wait(30)
        return b""

    class Silent(grpc.GenericRpcHandler):
        def service(self, details: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(never_answers)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[Silent()])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    released.set()
    server.stop(0)


def test_a_unary_call_without_a_deadline_gets_the_default_one(
    silent_service: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client, "UNARY_DEADLINE_SECONDS", 0.5)
    clients = client.connect("token", {"jobs": silent_service})
    try:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            clients.jobs.GetJob(jpb.GetJobRequest(job_id="j1"))
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 5
        # A deadline the caller names is kept.
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            clients.jobs.GetJob(jpb.GetJobRequest(job_id="j1"), timeout=1.5)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert 1.4 < time.monotonic() - started < 5
    finally:
        clients.close()
