"""Every method of every service's server refuses a call without a valid token with
UNAUTHENTICATED before its handler runs: no header, another scheme, garbage, a signature of
another secret, a payload changed after signing, an expired token, the "none" algorithm,
another HMAC algorithm, or required claims left out. A valid token reaches the handler
(the control)."""

from __future__ import annotations

import base64
import importlib
import json
import time
from typing import Any

import grpc
import jwt
import pytest

from labelops_shared import auth
from labelops_shared.grpc_server import GrpcService, bearer, start_server

pytestmark = pytest.mark.unit
SECRET = "forgery-test-secret-long-enough-for-every-hmac-algorithm-even-sha512!"
SERVICES = {
    "dataset": ["DatasetService"], "jobs": ["JobsService"], "prelabel": ["PrelabelService"],
    "assignment": ["AssignmentService", "AcceptanceService"], "export": ["ExportService"],
}
ROLES_OF = {"AcceptanceService": ("services.assignment.acceptance", "acceptance_pb2_grpc")}


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "mallory", "ws": "ws1", "roles": sorted(auth.ALL_ROLES), "iat": now,
              "exp": now + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _tampered() -> str:
    head, _, sig = auth.issue_token(SECRET, subject="mallory", workspace="ws1",
                                    roles=[auth.LABELER]).split(".")
    return f"{head}.{_b64(_claims())}.{sig}"


FORGED: dict[str, tuple[tuple[str, str], ...]] = {
    "missing": (),
    "empty bearer": (("authorization", "Bearer "),),
    "basic scheme": (("authorization", "Basic bWFsbG9yeTpwdw=="),),
    "lower-case scheme": (("authorization", "bearer " + auth.issue_token(
        SECRET, subject="m", workspace="ws1", roles=[auth.WORKSPACE_ADMIN])),),
    "garbage": bearer("not.a.token"),
    "other secret": bearer(jwt.encode(_claims(), "another-secret-of-at-least-32-bytes!!",
                                      algorithm="HS256")),
    "tampered payload": bearer(_tampered()),
    "expired": bearer(jwt.encode(_claims(exp=int(time.time()) - 5), SECRET,
                                 algorithm="HS256")),
    "alg none": bearer(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."),
    "alg none signed": bearer(
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.{_tampered().split('.')[2]}"),
    "alg HS512": bearer(jwt.encode(_claims(), SECRET, algorithm="HS512")),
    "no workspace": bearer(jwt.encode(_claims(ws=None), SECRET, algorithm="HS256")),
    "no expiry": bearer(jwt.encode(_claims(exp=None), SECRET, algorithm="HS256")),
    "no subject": bearer(jwt.encode(_claims(sub=None), SECRET, algorithm="HS256")),
}


def _recording(stubs: Any, name: str, methods: list[str], calls: list[str]) -> Any:
    """A servicer whose every method records the call, then answers UNIMPLEMENTED."""
    def method(method_name: str) -> Any:
        def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            calls.append(method_name)
            context.set_code(grpc.StatusCode.UNIMPLEMENTED)
            raise NotImplementedError(method_name)
        return handler

    base = getattr(stubs, f"{name}Servicer")
    return type(f"Recording{name}", (base,), {m: method(m) for m in methods})()


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_forged_tokens_never_reach_a_handler(service: str) -> None:
    calls: list[str] = []
    grpc_services, paths = [], []
    for name in SERVICES[service]:
        module, stubs_name = ROLES_OF.get(name, (f"services.{service}.api",
                                                 f"{service}_pb2_grpc"))
        roles = importlib.import_module(module).ROLES
        stubs = importlib.import_module(f"labelops.{service}.v1.{stubs_name}")
        full = f"labelops.{service}.v1.{name}"
        grpc_services.append(GrpcService(full, _recording(stubs, name, list(roles), calls),
                                         getattr(stubs, f"add_{name}Servicer_to_server"), roles))
        paths += [f"/{full}/{m}" for m in roles]
    server, port, _ = await start_server(grpc_services, host="127.0.0.1", port=0,
                                         jwt_secret=SECRET)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for path in paths:
                call = channel.unary_unary(path, request_serializer=lambda _: b"",
                                           response_deserializer=lambda b: b)
                for forgery, metadata in FORGED.items():
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await call(b"", metadata=metadata, timeout=10)
                    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, (
                        path, forgery, refused.value.details())
                    assert SECRET not in (refused.value.details() or "")
            assert calls == [], "a handler ran for a forged token"
            # The control: the same call with a valid token of an allowed role runs.
            unary = next(p for p in paths if not p.endswith("/StreamItems"))
            token = auth.issue_token(SECRET, subject="ada", workspace="ws1",
                                     roles=auth.ALL_ROLES)
            with pytest.raises(grpc.aio.AioRpcError) as reached:
                await channel.unary_unary(unary, request_serializer=lambda _: b"",
                                          response_deserializer=lambda b: b)(
                    b"", metadata=bearer(token), timeout=10)
            assert reached.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert calls == [unary.rsplit("/", 1)[1]]
    finally:
        await server.stop(None)
