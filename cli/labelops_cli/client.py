"""gRPC clients of the five services, authenticated with a bearer token."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc

from labelops.assignment.v1 import assignment_pb2_grpc
from labelops.dataset.v1 import dataset_pb2_grpc
from labelops.export.v1 import export_pb2_grpc
from labelops.jobs.v1 import jobs_pb2_grpc
from labelops.prelabel.v1 import prelabel_pb2_grpc
from labelops_cli.services import SERVICES

# A unary call that names no deadline gets this one: a server that stopped answering is an
# error to report (DEADLINE_EXCEEDED), not a command or test that waits for ever. Streams
# (exports, item listings) run as long as they have data and keep no default.
UNARY_DEADLINE_SECONDS = 300.0


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def _details(self, details: grpc.ClientCallDetails,
                 default_timeout: float | None = None) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self._token()}")]
        timeout = details.timeout if details.timeout is not None else default_timeout
        # grpc passes its own namedtuple here; a copy with the token added keeps the rest.
        return details._replace(  # type: ignore[attr-defined,no-any-return]
            metadata=metadata, timeout=timeout)

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details, UNARY_DEADLINE_SECONDS), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)


@dataclass
class Clients:
    dataset: dataset_pb2_grpc.DatasetServiceStub
    jobs: jobs_pb2_grpc.JobsServiceStub
    assignment: assignment_pb2_grpc.AssignmentServiceStub
    prelabel: prelabel_pb2_grpc.PrelabelServiceStub
    export: export_pb2_grpc.ExportServiceStub
    channels: list[grpc.Channel]

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def connect(token: str | Callable[[], str], addrs: Mapping[str, str] | None = None) -> Clients:
    """Clients of the stack's services; ``addrs`` (service → gRPC target, for example
    ``ipv4:127.0.0.1:29053,127.0.0.1:29063`` for two replicas, tried in that order) replaces
    the addresses of the named ones."""
    token_fn = token if callable(token) else (lambda: token)  # type: ignore[return-value]
    targets = {**{name: spec.addr for name, spec in SERVICES.items()}, **(addrs or {})}

    def channel(name: str) -> grpc.Channel:
        return grpc.intercept_channel(
            grpc.insecure_channel(targets[name]), _Bearer(token_fn)  # type: ignore[arg-type]
        )

    channels = {name: channel(name) for name in SERVICES}
    return Clients(
        dataset=dataset_pb2_grpc.DatasetServiceStub(channels["dataset"]),
        jobs=jobs_pb2_grpc.JobsServiceStub(channels["jobs"]),
        assignment=assignment_pb2_grpc.AssignmentServiceStub(channels["assignment"]),
        prelabel=prelabel_pb2_grpc.PrelabelServiceStub(channels["prelabel"]),
        export=export_pb2_grpc.ExportServiceStub(channels["export"]),
        channels=list(channels.values()),
    )
