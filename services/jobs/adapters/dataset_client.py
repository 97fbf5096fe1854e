"""The dataset service, as the jobs service asks it (gRPC)."""

from __future__ import annotations

from collections.abc import Callable

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops.dataset.v1 import dataset_pb2_grpc
from labelops_shared.grpc_server import bearer, channel

_KINDS = {
    pb.DATASET_KIND_TEXT: "text",
    pb.DATASET_KIND_IMAGE: "image",
    pb.DATASET_KIND_VIDEO: "video",
    pb.DATASET_KIND_AUDIO: "audio",
    pb.DATASET_KIND_MULTI: "multi",
}


class DatasetClient:
    def __init__(self, addr: str, token: Callable[[], str]) -> None:
        self._stub = dataset_pb2_grpc.DatasetServiceStub(channel(addr))
        self._token = token

    async def dataset(self, dataset_id: str) -> pb.Dataset:
        return await self._stub.GetDataset(
            pb.GetDatasetRequest(dataset_id=dataset_id), timeout=10, metadata=bearer(self._token())
        )

    async def version(self, dataset_id: str, version: int) -> pb.DatasetVersion:
        return await self._stub.GetVersion(
            pb.GetVersionRequest(dataset_id=dataset_id, version=version),
            timeout=10,
            metadata=bearer(self._token()),
        )

    @staticmethod
    def kind(dataset: pb.Dataset) -> str:
        return _KINDS.get(dataset.kind, "unknown")
