"""The dataset service, as the prelabel service reads it (gRPC, streamed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops.dataset.v1 import dataset_pb2_grpc
from labelops_shared.grpc_server import bearer, channel


class DatasetClient:
    def __init__(self, addr: str, token: Callable[[], str]) -> None:
        self._stub = dataset_pb2_grpc.DatasetServiceStub(channel(addr))
        self._token = token

    async def items(
        self, dataset_id: str, version: int
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        request = pb.StreamItemsRequest(dataset_id=dataset_id, version=version)
        async for item in self._stub.StreamItems(request, metadata=bearer(self._token())):
            yield item.id, json.loads(item.data_json)
