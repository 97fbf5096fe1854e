"""The dataset service, as the jobs service asks it (gRPC). The servicer sees only the small
`Datasets` interface, so tests give it an in-memory stand-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc

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


class DatasetNotFound(LookupError):
    """The dataset (or the version) does not exist, or is not visible to us."""


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    workspace: str
    kind: str  # text | image | video | audio | multi | unknown
    latest_version: int  # latest READY version, 0 when none


@dataclass(frozen=True)
class VersionInfo:
    version: int
    ready: bool
    item_count: int


class Datasets(Protocol):
    async def dataset(self, dataset_id: str) -> DatasetInfo: ...

    async def version(self, dataset_id: str, version: int) -> VersionInfo: ...


class DatasetClient:
    def __init__(self, addr: str, token: Callable[[], str]) -> None:
        self._stub = dataset_pb2_grpc.DatasetServiceStub(channel(addr))
        self._token = token

    async def dataset(self, dataset_id: str) -> DatasetInfo:
        try:
            d = await self._stub.GetDataset(pb.GetDatasetRequest(dataset_id=dataset_id),
                                            timeout=10, metadata=bearer(self._token()))
        except grpc.aio.AioRpcError as exc:
            raise _not_found(exc) from exc
        return DatasetInfo(d.id, d.workspace, _KINDS.get(d.kind, "unknown"), d.latest_version)

    async def version(self, dataset_id: str, version: int) -> VersionInfo:
        try:
            v = await self._stub.GetVersion(
                pb.GetVersionRequest(dataset_id=dataset_id, version=version),
                timeout=10, metadata=bearer(self._token()))
        except grpc.aio.AioRpcError as exc:
            raise _not_found(exc) from exc
        return VersionInfo(v.version, v.state == pb.VERSION_STATE_READY, v.item_count)


def _not_found(exc: grpc.aio.AioRpcError) -> Exception:
    """NOT_FOUND becomes DatasetNotFound; anything else (UNAVAILABLE...) stays as it is."""
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return DatasetNotFound(exc.details() or "not found")
    return exc
