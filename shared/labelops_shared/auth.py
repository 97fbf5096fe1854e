"""Bearer-token authentication and role authorisation for every gRPC call.

Tokens are signed JWTs (HS256) carrying the subject, workspace, roles and expiry. A server
interceptor checks the token and the method's allowed roles before the handler runs; the
handler reads the caller from :func:`principal`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import jwt

WORKSPACE_ADMIN = "workspace_admin"
ANNOTATION_ADMIN = "annotation_admin"
LABELER = "labeler"
CHECKER = "checker"
ACCEPTER = "accepter"
TEAM_MANAGER = "team_manager"
SERVICE = "service"  # another LabelOps service calling on behalf of the platform
ALL_ROLES = frozenset(
    {WORKSPACE_ADMIN, ANNOTATION_ADMIN, LABELER, CHECKER, ACCEPTER, TEAM_MANAGER, SERVICE}
)
ADMINS = frozenset({WORKSPACE_ADMIN, ANNOTATION_ADMIN})
ANYONE = ALL_ROLES
MEMBERS = ALL_ROLES - {SERVICE}

_ALGORITHM = "HS256"
# Calls any caller may make: health checks and reflection (probes, grpcurl).
_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class Principal:
    subject: str
    workspace: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMINS)

    def has(self, role: str) -> bool:
        return role in self.roles


_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("labelops_principal")


def principal() -> Principal:
    """The authenticated caller of the current gRPC call."""
    return _current.get()


async def visible_or_abort(
    doc: dict[str, Any] | None, context: grpc.aio.ServicerContext, what: str
) -> dict[str, Any]:
    """The document if it exists in the caller's workspace (platform services see every
    workspace); otherwise the call ends with NOT_FOUND, so another workspace's objects are
    not even revealed to exist."""
    caller = principal()
    if doc is None or caller.workspace not in ("*", doc.get("workspace")):
        await context.abort(grpc.StatusCode.NOT_FOUND, f"{what} not found")
    assert doc is not None
    return doc


def issue_token(
    secret: str, *, subject: str, workspace: str, roles: Iterable[str], ttl_seconds: int = 3600
) -> str:
    roles = sorted(set(roles))
    unknown = set(roles) - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    now = int(time.time())
    claims = {"sub": subject, "ws": workspace, "roles": roles, "iat": now,
              "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    claims = jwt.decode(
        token, secret, algorithms=[_ALGORITHM], options={"require": ["sub", "exp", "ws"]}
    )
    return Principal(str(claims["sub"]), str(claims["ws"]), frozenset(claims.get("roles", [])))


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Rejects calls without a valid token (UNAUTHENTICATED) or without one of the method's
    roles (PERMISSION_DENIED) before the handler runs; a method without a declared role
    set is refused too, so a new RPC is closed until someone decides who may call it."""

    def __init__(self, secret: str, allowed_roles: Mapping[str, frozenset[str]]) -> None:
        self._secret = secret
        self._allowed = dict(allowed_roles)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(_PUBLIC_PREFIXES):
            return handler
        return _wrap(handler, self._guard(method))

    def _guard(self, method: str) -> Callable[[grpc.aio.ServicerContext], Awaitable[None]]:
        async def guard(context: grpc.aio.ServicerContext) -> None:
            metadata = dict(context.invocation_metadata() or ())
            header = metadata.get("authorization", "")
            if not header.startswith("Bearer "):
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
            try:
                who = verify_token(self._secret, header[len("Bearer ") :])
            except jwt.PyJWTError as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"invalid token: {exc}")
            allowed = self._allowed.get(method, frozenset())
            if not who.roles & allowed:
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method.rsplit('/', 1)[-1]} needs one of: {', '.join(sorted(allowed))}",
                )
            _current.set(who)

        return guard


def _wrap(
    handler: grpc.RpcMethodHandler,
    guard: Callable[[grpc.aio.ServicerContext], Awaitable[None]],
) -> grpc.RpcMethodHandler:
    if handler.unary_unary:
        inner_uu = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await guard(context)
            return await inner_uu(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await guard(context)
            async for response in inner_us(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, handler.request_deserializer, handler.response_serializer
        )
    raise TypeError("streaming-request RPCs are not used by LabelOps")
