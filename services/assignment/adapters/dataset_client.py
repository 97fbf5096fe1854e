"""The dataset service, as the assignment service reads it: a small interface (so handler
and servicer tests use a fake) and its gRPC implementation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops.dataset.v1 import dataset_pb2_grpc
from labelops_shared.grpc_server import bearer, channel

GET_ITEMS_BATCH = 500


class Datasets(Protocol):
    def item_ids(self, dataset_id: str, version: int) -> AsyncIterator[str]:
        """The version's item ids in import order, streamed."""
        ...

    async def items(self, dataset_id: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The data records of these items, by id."""
        ...

    def item_values(self, dataset_id: str, version: int,
                    field: str) -> AsyncIterator[tuple[str, Any]]:
        """The version's item ids in import order, each with its value of ``field``
        (None where the item has none)."""
        ...


class DatasetClient:
    def __init__(self, addr: str, token: Callable[[], str]) -> None:
        self._stub = dataset_pb2_grpc.DatasetServiceStub(channel(addr))
        self._token = token

    async def item_ids(self, dataset_id: str, version: int) -> AsyncIterator[str]:
        request = pb.StreamItemsRequest(dataset_id=dataset_id, version=version)
        async for item in self._stub.StreamItems(request, metadata=bearer(self._token())):
            yield item.id

    async def item_values(self, dataset_id: str, version: int,
                          field: str) -> AsyncIterator[tuple[str, Any]]:
        request = pb.StreamItemsRequest(dataset_id=dataset_id, version=version)
        async for item in self._stub.StreamItems(request, metadata=bearer(self._token())):
            yield item.id, field_value(json.loads(item.data_json), field)

    async def items(self, dataset_id: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(item_ids), GET_ITEMS_BATCH):
            reply = await self._stub.GetItems(pb.GetItemsRequest(
                dataset_id=dataset_id, item_ids=list(item_ids[start:start + GET_ITEMS_BATCH])),
                timeout=30, metadata=bearer(self._token()))
            found.update({item.id: json.loads(item.data_json) for item in reply.items})
        return found


def field_value(data: dict[str, Any], field: str) -> Any:
    """A record's value of a field: a top-level key, else a dotted path into objects."""
    if field in data:
        return data[field]
    value: Any = data
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
