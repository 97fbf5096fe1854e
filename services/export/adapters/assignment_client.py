"""The assignment service, as the export service reads it for reconciliation: a small
interface (so servicer tests use a fake) and its gRPC implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import grpc

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops.assignment.v1 import assignment_pb2_grpc
from labelops_shared.grpc_server import bearer, channel

TIMEOUT = 120.0


class Assignment(Protocol):
    async def accepted_items(self, job_id: str) -> int:
        """The job's accepted item count (items of its accepted packages), asked with the
        service's own token."""
        ...

    async def accepted_packages(self, job_id: str, caller_token: str) -> dict[str, int]:
        """The job's accepted packages with their item counts, asked on behalf of the
        caller (listing packages is an administrator's call)."""
        ...


class AssignmentClient:
    def __init__(self, addr: str, token: Callable[[], str]) -> None:
        self._addr = addr
        self._token = token
        self._channel: grpc.aio.Channel | None = None
        self._stub: assignment_pb2_grpc.AssignmentServiceStub | None = None

    @property
    def stub(self) -> assignment_pb2_grpc.AssignmentServiceStub:
        if self._stub is None:  # made on first use, inside the service's event loop
            self._channel = channel(self._addr)
            self._stub = assignment_pb2_grpc.AssignmentServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def accepted_items(self, job_id: str) -> int:
        progress = await self.stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job_id),
                                                  metadata=bearer(self._token()),
                                                  timeout=TIMEOUT)
        return int(progress.accepted_items)

    async def accepted_packages(self, job_id: str, caller_token: str) -> dict[str, int]:
        listed = await self.stub.ListPackages(
            pb.ListPackagesRequest(job_id=job_id, state=pb.PACKAGE_STATE_ACCEPTED),
            metadata=bearer(caller_token), timeout=TIMEOUT)
        return {p.id: int(p.item_count) for p in listed.packages}
