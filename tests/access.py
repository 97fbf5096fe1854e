"""Helpers of the object-level access tests (``services/*/tests/test_object_access.py``): a
refused call changes no stored document, every RPC of a service is placed in the matrix,
and every role a method does not allow is refused before anything happens.

The cross-workspace caller holds every member role, so the interceptor lets each call
through and what refuses it is the service's own check of the object's workspace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory

from labelops_shared import auth
from tests.proto_strategies import snapshot

OTHER_WORKSPACE = "ws-other"
EVERY_MEMBER_ROLE = tuple(sorted(auth.MEMBERS))
HIDDEN = frozenset({grpc.StatusCode.NOT_FOUND})
# The assignment service's held-package check answers PERMISSION_DENIED for a package that
# is not the caller's, whether it exists or not: existence is not revealed either way.
HIDDEN_OR_DENIED = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED})


async def refused_unchanged(db: Any, call: Awaitable[Any], codes: Collection[grpc.StatusCode],
                            *, secrets: Iterable[str] = ()) -> str:
    """The call fails with one of ``codes``, its details quote none of ``secrets`` (names
    of the other workspace's objects), and no stored document changed; the details."""
    before = snapshot(db)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    details = caught.value.details() or ""
    assert caught.value.code() in codes, f"{caught.value.code()}: {details}"
    for secret in secrets:
        assert secret not in details, details
    assert snapshot(db) == before, "a refused call changed stored documents"
    return details


def request_types(module: Any, service: str) -> dict[str, type[Any]]:
    """Each method of the service with its request message class."""
    return {m.name: message_factory.GetMessageClass(m.input_type)
            for m in module.DESCRIPTOR.services_by_name[service].methods}


def assert_every_method_placed(module: Any, service: str, matrix: Mapping[str, Any],
                               without_object: Collection[str]) -> None:
    """Every RPC of the service either names an object (and is attacked in the matrix) or
    is listed as naming none (it acts in the caller's own workspace only): a new RPC fails
    here until someone decides which."""
    methods = set(request_types(module, service))
    placed = set(matrix) | set(without_object)
    assert methods == placed, (f"not placed: {sorted(methods - placed)}; "
                               f"unknown: {sorted(placed - methods)}")
    assert not set(matrix) & set(without_object)


async def assert_roles_refused(db: Any, module: Any, service: str,
                               roles: Mapping[str, frozenset[str]],
                               client: Callable[[str], Any]) -> int:
    """Each method called (with an empty request) by a caller holding one role it does not
    allow answers PERMISSION_DENIED and changes nothing; ``client(role)`` is a stub calling
    with that single role. The number of refusals checked."""
    checked = 0
    for method, request_type in request_types(module, service).items():
        for role in sorted(auth.ALL_ROLES - roles[method]):
            await refused_unchanged(db, getattr(client(role), method)(request_type()),
                                    {grpc.StatusCode.PERMISSION_DENIED})
            checked += 1
    return checked
