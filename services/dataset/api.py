"""gRPC servicer of the dataset service: thin — check the caller, call the domain, answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from minio.error import S3Error
from pymongo.errors import DuplicateKeyError

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops_shared import auth, storage
from labelops_shared.mongo import Document
from services.dataset.adapters.repository import DATASETS, VERSIONS, Repository, version_id
from services.dataset.domain.lines import ENCODINGS
from services.dataset.domain.media import MEDIA_KINDS, unsafe_key
from services.dataset.domain.model import (
    ImportFormat,
    Kind,
    VersionState,
    format_for,
    is_visible,
    validate_name,
)
from services.dataset.importer import Importer, ImportRequest

_KIND_TO_PB = {
    Kind.TEXT: pb.DATASET_KIND_TEXT, Kind.IMAGE: pb.DATASET_KIND_IMAGE,
    Kind.VIDEO: pb.DATASET_KIND_VIDEO, Kind.AUDIO: pb.DATASET_KIND_AUDIO,
    Kind.MULTI: pb.DATASET_KIND_MULTI,
}
_PB_TO_KIND = {v: k for k, v in _KIND_TO_PB.items()}
_STATE_TO_PB = {
    VersionState.IMPORTING: pb.VERSION_STATE_IMPORTING,
    VersionState.READY: pb.VERSION_STATE_READY,
    VersionState.FAILED: pb.VERSION_STATE_FAILED,
}
MAX_GET_ITEMS = 1000

ROLES = {
    "CreateDataset": auth.ADMINS,
    "ImportDataset": auth.ADMINS,
    "GetDataset": auth.ANYONE,
    "GetVersion": auth.ANYONE,
    "StreamItems": auth.ADMINS | {auth.SERVICE},
    "GetItems": auth.ADMINS | {auth.SERVICE},
}


def _dataset_pb(doc: Document) -> pb.Dataset:
    return pb.Dataset(
        id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
        kind=_KIND_TO_PB[Kind(doc["kind"])], latest_version=doc.get("latest_version", 0),
        item_count=doc.get("item_count", 0), created_at=doc["created_at"].isoformat(),
    )


def _version_pb(doc: Document) -> pb.DatasetVersion:
    return pb.DatasetVersion(
        dataset_id=doc["dataset_id"], version=doc["version"],
        state=_STATE_TO_PB[VersionState(doc["state"])], item_count=doc.get("item_count", 0),
        source_uri=doc.get("source_uri", ""), error=doc.get("error", ""),
        errors=[pb.ImportError(**e) for e in doc.get("errors", [])],
        error_count=doc.get("error_count", 0), format=doc.get("format", ""),
        error_report_uri=doc.get("error_report_uri", ""),
    )


def _item_pb(doc: Document) -> pb.Item:
    return pb.Item(
        id=doc["_id"], dataset_id=doc["dataset_id"], version=doc["version"], line=doc["line"],
        data_json=doc["data"],  # stored as JSON text, exactly as imported
    )


class DatasetServicer:
    def __init__(self, repo: Repository, importer: Importer) -> None:
        self.repo = repo
        self.importer = importer
        self._imports: set[asyncio.Task[None]] = set()

    async def _dataset_for_caller(self, dataset_id: str, context: Any) -> Document:
        return await auth.visible_or_abort(await self.repo.dataset(dataset_id), context,
                                           f"dataset {dataset_id!r}")

    async def CreateDataset(self, request: pb.CreateDatasetRequest, context: Any) -> pb.Dataset:
        problem = validate_name(request.name)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        kind = _PB_TO_KIND.get(request.kind)
        if kind is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "kind: one of text, image, video, audio, multi")
        doc = {
            "_id": uuid.uuid4().hex, "workspace": auth.principal().workspace,
            "name": request.name, "kind": str(kind), "latest_version": 0, "item_count": 0,
            "created_at": datetime.now(UTC), "created_by": auth.principal().subject,
        }
        try:
            await self.repo.db[DATASETS].insert_one(doc)
        except DuplicateKeyError:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS,
                                f"name: a dataset named {request.name!r} already exists")
        return _dataset_pb(doc)

    async def ImportDataset(
        self, request: pb.ImportDatasetRequest, context: Any
    ) -> pb.DatasetVersion:
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        abort = context.abort
        uri = request.source_uri
        try:
            # A folder scan names a prefix (s3://bucket/prefix/), possibly the bucket itself.
            bucket, key = storage.parse_s3_uri(uri + "." if uri.endswith("/") else uri)
            key = key[:-1] if uri.endswith("/") else key
        except ValueError as exc:
            await abort(grpc.StatusCode.INVALID_ARGUMENT, f"source_uri: {exc}")
        problem = unsafe_key(key)
        if problem:
            await abort(grpc.StatusCode.INVALID_ARGUMENT, f"source_uri: the object name {problem}")
        fmt = request.format or format_for(key)
        if fmt not in set(ImportFormat):
            await abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"format: {request.format or key!r}: one of .manifest, .jsonl, .txt "
                        "(JSON lines), .csv or .xlsx, or a folder (s3://bucket/prefix/); "
                        "or name it in format")
        if fmt == ImportFormat.FOLDER:
            if dataset["kind"] not in MEDIA_KINDS:
                await abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"source_uri: a folder scan needs an image, video or audio "
                            f"dataset; this one is {dataset['kind']}")
            if key and not key.endswith("/"):
                key += "/"  # the prefix is a folder: 'a/b' must not match 'a/bc/x.jpg'
            return await self._start(dataset, uri, ImportRequest(
                bucket=bucket, key=key, format=ImportFormat.FOLDER))
        if (request.encoding or "auto") not in ENCODINGS:
            await abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"encoding: one of {', '.join(ENCODINGS)}")
        try:
            stat = await asyncio.to_thread(self.importer.storage.stat_object, bucket, key)
        except S3Error:
            await abort(grpc.StatusCode.NOT_FOUND,
                        f"source_uri {request.source_uri!r}: no such object")
        if not stat.size:
            await abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"source_uri {request.source_uri!r}: the file is empty (0 bytes)")
        return await self._start(dataset, uri, ImportRequest(
            bucket=bucket, key=key, format=ImportFormat(str(fmt)),
            encoding=request.encoding or "auto", text_column=request.text_column,
            skip_invalid=request.skip_invalid))

    async def _start(self, dataset: Document, uri: str, job: ImportRequest) -> pb.DatasetVersion:
        version = await self._reserve_version(dataset["_id"], uri, str(job.format))
        task = asyncio.create_task(self.importer.run(dataset, version["version"], job))
        self._imports.add(task)
        task.add_done_callback(self._imports.discard)
        return _version_pb(version)

    async def _reserve_version(self, dataset_id: str, source_uri: str, fmt: str) -> Document:
        """The next version number, taken by a unique insert so two imports never share one."""
        while True:
            last = await self.repo.db[VERSIONS].find_one(
                {"dataset_id": dataset_id}, sort=[("version", -1)]
            )
            number = (last["version"] if last else 0) + 1
            doc = {
                "_id": version_id(dataset_id, number), "dataset_id": dataset_id,
                "version": number, "state": VersionState.IMPORTING.value,
                "source_uri": source_uri, "format": fmt, "item_count": 0,
                "started_at": datetime.now(UTC),
            }
            try:
                await self.repo.db[VERSIONS].insert_one(doc)
                return doc
            except DuplicateKeyError:
                continue

    async def GetDataset(self, request: pb.GetDatasetRequest, context: Any) -> pb.Dataset:
        return _dataset_pb(await self._dataset_for_caller(request.dataset_id, context))

    async def GetVersion(self, request: pb.GetVersionRequest, context: Any) -> pb.DatasetVersion:
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        number = request.version or dataset.get("latest_version", 0)
        doc = await self.repo.version(dataset["_id"], number) if number else None
        if doc is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"dataset {request.dataset_id!r} has no version {number}")
        assert doc is not None
        return _version_pb(doc)

    async def StreamItems(
        self, request: pb.StreamItemsRequest, context: Any
    ) -> AsyncIterator[pb.Item]:
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        number = request.version or dataset.get("latest_version", 0)
        version = await self.repo.version(dataset["_id"], number) if number else None
        if version is None or not is_visible(version["state"]):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"dataset {request.dataset_id!r} version {number} is not ready")
        # The dataset at version N: every item of READY versions up to N.
        versions = [v for v in await self._ready_versions(dataset["_id"]) if v <= number]
        async for doc in self.repo.stream_items(dataset["_id"], versions):
            yield _item_pb(doc)

    async def _ready_versions(self, dataset_id: str) -> list[int]:
        return sorted(
            v["version"] for v in await self.repo.db[VERSIONS].find(
                {"dataset_id": dataset_id, "state": VersionState.READY.value}
            ).to_list(None)
        )

    async def GetItems(self, request: pb.GetItemsRequest, context: Any) -> pb.GetItemsResponse:
        if len(request.item_ids) > MAX_GET_ITEMS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"item_ids: at most {MAX_GET_ITEMS} per call")
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        docs = await self.repo.items_by_id(dataset["_id"], list(request.item_ids))
        visible = set(await self._ready_versions(dataset["_id"]))
        return pb.GetItemsResponse(items=[_item_pb(d) for d in docs if d["version"] in visible])
