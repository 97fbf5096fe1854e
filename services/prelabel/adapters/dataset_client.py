"""The dataset service, as the prelabel service reads it (gRPC). Handlers see only the small
`ItemSource` interface, so tests give them an in-memory stand-in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import grpc

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops.dataset.v1 import dataset_pb2_grpc
from labelops_shared.grpc_server import bearer, channel

# Answers that retrying cannot change: the run fails (UNAVAILABLE etc. are retried).
_PERMANENT = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
              grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT)
GET_ITEMS_MAX = 1000  # ids per GetItems call


class ItemsUnavailable(Exception):
    """The dataset version cannot be read, and asking again will not help."""


class ItemSource(Protocol):
    def items(self, dataset_id: str, version: int) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(item id, item data) of a READY version, in import order."""
        ...

    async def get_items(self, dataset_id: str, item_ids: Sequence[str]
                        ) -> dict[str, dict[str, Any]]:
        """The data of these items (deleted or unknown ones are left out)."""
        ...


class DatasetClient:
    def __init__(self, addr: str, token: Callable[[], str]) -> None:
        self._stub = dataset_pb2_grpc.DatasetServiceStub(channel(addr))
        self._token = token

    async def items(
        self, dataset_id: str, version: int
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        request = pb.StreamItemsRequest(dataset_id=dataset_id, version=version)
        try:
            async for item in self._stub.StreamItems(request, metadata=bearer(self._token())):
                yield item.id, json.loads(item.data_json or "{}")
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _PERMANENT:
                raise ItemsUnavailable(
                    f"dataset {dataset_id!r} version {version}: {exc.details()}") from exc
            raise

    async def get_items(self, dataset_id: str, item_ids: Sequence[str]
                        ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(item_ids), GET_ITEMS_MAX):
            request = pb.GetItemsRequest(dataset_id=dataset_id,
                                         item_ids=list(item_ids[start:start + GET_ITEMS_MAX]))
            try:
                reply = await self._stub.GetItems(request, metadata=bearer(self._token()),
                                                  timeout=60)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _PERMANENT:
                    raise ItemsUnavailable(f"dataset {dataset_id!r}: {exc.details()}") from exc
                raise
            for item in reply.items:
                found[item.id] = json.loads(item.data_json or "{}")
        return found
