"""The gRPC server every service runs: health checking, reflection (so ``grpcurl`` lists and
describes every service), the metrics interceptor and the auth interceptor.

Clients: :func:`channel` opens a channel to a peer with the service's own token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from labelops_shared import metrics
from labelops_shared.admission import Admission
from labelops_shared.auth import AuthInterceptor
from labelops_shared.outages import is_outage


@dataclass(frozen=True)
class GrpcService:
    """One servicer, how to register it, and who may call each of its methods."""

    full_name: str  # e.g. "labelops.dataset.v1.DatasetService"
    servicer: Any
    register: Callable[[Any, grpc.aio.Server], None]
    roles: Mapping[str, frozenset[str]]  # method name → roles allowed
    # methods a person waits on before they can work: admitted ahead of the others
    first: frozenset[str] = frozenset()

    def allowed_roles(self) -> dict[str, frozenset[str]]:
        return {f"/{self.full_name}/{m}": r for m, r in self.roles.items()}

    def first_methods(self) -> set[str]:
        return {f"/{self.full_name}/{m}" for m in self.first}


async def start_server(
    services: Sequence[GrpcService], *, host: str, port: int, jwt_secret: str,
    max_concurrent_calls: int = 0,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """``max_concurrent_calls``: unary calls running at once (0: no limit); the rest wait
    in line, each service's ``first`` methods ahead (see labelops_shared.admission)."""
    allowed: dict[str, frozenset[str]] = {}
    first: set[str] = set()
    for svc in services:
        allowed.update(svc.allowed_roles())
        first |= svc.first_methods()
    interceptors: list[grpc.aio.ServerInterceptor] = [
        MetricsInterceptor(), AuthInterceptor(jwt_secret, allowed)]
    if max_concurrent_calls:
        # after the token check, so refused calls never take a place in line
        interceptors.append(AdmissionInterceptor(Admission(max_concurrent_calls),
                                                 frozenset(first)))
    server = grpc.aio.server(interceptors=interceptors)
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


_CODES = {code.value[0]: code for code in grpc.StatusCode}
_UNMEASURED = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Error details travel in a trailer, which clients refuse beyond 16 KiB (percent-encoded), and
# they quote what the client sent (ids, names): an unbounded quote would turn a NOT_FOUND into
# RESOURCE_EXHAUSTED "stream removed". 1000 characters stay under the limit in any script.
MAX_DETAILS = 1000


def bounded_details(details: str) -> str:
    return details if len(details) <= MAX_DETAILS else details[:MAX_DETAILS - 1] + "…"


class _BoundedContext:
    """The servicer context, whose error details never outgrow the trailer."""

    __slots__ = ("_context",)

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def abort(self, code: grpc.StatusCode, details: str = "",
                    trailing_metadata: Any = ()) -> None:
        await self._context.abort(code, bounded_details(details), trailing_metadata)

    def set_details(self, details: str) -> None:
        self._context.set_details(bounded_details(details))


def _code_name(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> str:
    """The status the call ends with: the one set or aborted with, else ``default``."""
    try:
        code = context.code()
    except (AttributeError, NotImplementedError):
        code = None
    if isinstance(code, int):
        code = _CODES.get(code)
    chosen: grpc.StatusCode = code if isinstance(code, grpc.StatusCode) else default
    return str(chosen.name)


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts every unary-request call by method and status code and times it
    (``labelops_grpc_server_handled_total``, ``labelops_grpc_server_handling_seconds``), and
    bounds the details of its errors (``MAX_DETAILS``).
    Placed before the auth interceptor, so refused calls are counted too. Health checks and
    reflection (probes and tools, with their own calling styles) pass through unmeasured."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if (handler is None or handler.request_streaming
                or details.method.startswith(_UNMEASURED)):
            return handler
        service, _, method = details.method.lstrip("/").rpartition("/")
        return _measured(handler, service or "unknown", method)


async def _unavailable(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """A server the call needs is down: UNAVAILABLE tells the client to try again."""
    await context.abort(grpc.StatusCode.UNAVAILABLE,
                        f"a server this call needs is unavailable ({type(exc).__name__}); retry")


def _measured(handler: grpc.RpcMethodHandler, service: str, method: str) -> grpc.RpcMethodHandler:
    def done(started: float, code: str) -> None:
        metrics.GRPC_HANDLED.labels(grpc_service=service, grpc_method=method,
                                    grpc_code=code).inc()
        metrics.GRPC_SECONDS.labels(grpc_service=service, grpc_method=method).observe(
            time.perf_counter() - started)

    if handler.unary_unary:
        inner_uu = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                response = await inner_uu(request, _BoundedContext(context))
            except asyncio.CancelledError:
                done(started, grpc.StatusCode.CANCELLED.name)
                raise
            except Exception as exc:
                if is_outage(exc):
                    done(started, grpc.StatusCode.UNAVAILABLE.name)
                    await _unavailable(context, exc)
                done(started, _code_name(context, grpc.StatusCode.UNKNOWN))
                raise
            done(started, _code_name(context, grpc.StatusCode.OK))
            return response

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer)
    if handler.unary_stream:
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext
                               ) -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                async for response in inner_us(request, _BoundedContext(context)):
                    yield response
            except asyncio.CancelledError:
                done(started, grpc.StatusCode.CANCELLED.name)
                raise
            except Exception as exc:
                if is_outage(exc):
                    done(started, grpc.StatusCode.UNAVAILABLE.name)
                    await _unavailable(context, exc)
                done(started, _code_name(context, grpc.StatusCode.UNKNOWN))
                raise
            done(started, _code_name(context, grpc.StatusCode.OK))

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, handler.request_deserializer, handler.response_serializer)
    return handler


class AdmissionInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Runs unary calls through an :class:`Admission`; streams (long exports, uploads) and
    health checks pass beside it, so they neither hold places nor wait."""

    def __init__(self, admission: Admission, first: frozenset[str]) -> None:
        self.admission = admission
        self._first = first
        metrics.GRPC_WAITING.set_function(lambda: admission.waiting)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not handler.unary_unary or details.method.startswith(_UNMEASURED):
            return handler
        inner = handler.unary_unary
        admission, first = self.admission, details.method in self._first
        waited = metrics.GRPC_ADMISSION_SECONDS.labels(lane="first" if first else "other")

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            arrived = time.perf_counter()
            async with admission.slot(first=first):
                waited.observe(time.perf_counter() - arrived)
                return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer)


def channel(addr: str) -> grpc.aio.Channel:
    """An async channel to a peer service (local, insecure transport)."""
    return grpc.aio.insecure_channel(
        addr, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a token; pass it as ``metadata=`` on every call."""
    return (("authorization", f"Bearer {token}"),)
