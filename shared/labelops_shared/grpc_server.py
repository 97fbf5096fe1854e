"""The gRPC server every service runs: health checking, reflection and the auth interceptor.

Clients: :func:`channel` opens a channel to a peer with the service's own token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from labelops_shared.auth import AuthInterceptor


@dataclass(frozen=True)
class GrpcService:
    """One servicer, how to register it, and who may call each of its methods."""

    full_name: str  # e.g. "labelops.dataset.v1.DatasetService"
    servicer: Any
    register: Callable[[Any, grpc.aio.Server], None]
    roles: Mapping[str, frozenset[str]]  # method name → roles allowed

    def allowed_roles(self) -> dict[str, frozenset[str]]:
        return {f"/{self.full_name}/{m}": r for m, r in self.roles.items()}


async def start_server(
    services: Sequence[GrpcService], *, host: str, port: int, jwt_secret: str
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    allowed: dict[str, frozenset[str]] = {}
    for svc in services:
        allowed.update(svc.allowed_roles())
    server = grpc.aio.server(interceptors=[AuthInterceptor(jwt_secret, allowed)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for svc in services:
        svc.register(svc.servicer, server)
    names = [svc.full_name for svc in services]
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, bound, health_servicer


def channel(addr: str) -> grpc.aio.Channel:
    """An async channel to a peer service (local, insecure transport)."""
    return grpc.aio.insecure_channel(
        addr, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a token; pass it as ``metadata=`` on every call."""
    return (("authorization", f"Bearer {token}"),)
