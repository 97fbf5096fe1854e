"""gRPC servicer of the dataset service: thin — check the caller, call the domain, answer."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from minio.error import S3Error
from minio.helpers import check_bucket_name, check_object_name
from pymongo.errors import DuplicateKeyError

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops_shared import auth, storage
from labelops_shared.mongo import Document
from services.dataset.adapters.repository import (
    DATASETS,
    DELETIONS,
    JOB_USES,
    VERSIONS,
    Repository,
    version_id,
)
from services.dataset.deleter import Deleter
from services.dataset.domain.items import Duplicates, ItemFilter
from services.dataset.domain.lines import ENCODINGS
from services.dataset.domain.media import MEDIA_KINDS, unsafe_key
from services.dataset.domain.model import (
    ImportFormat,
    Kind,
    VersionState,
    format_for,
    is_visible,
    parse_item_id,
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
    "ListItems": auth.ADMINS | {auth.SERVICE},
    "DeleteItems": auth.ADMINS,
    "DeleteDataset": auth.ADMINS,
}
MAX_DELETE_IDS = 10_000
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def _dataset_pb(doc: Document, versions: list[Document] | None = None,
                deleted: int = 0) -> pb.Dataset:
    """The dataset; with its versions, the counts and fields they add up to."""
    ready = [v for v in versions or () if v["state"] == VersionState.READY]
    return pb.Dataset(
        id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
        kind=_KIND_TO_PB[Kind(doc["kind"])], latest_version=doc.get("latest_version", 0),
        item_count=sum(v.get("item_count", 0) for v in ready) - deleted,
        created_at=doc["created_at"].isoformat(),
        fields=sorted({f for v in ready for f in v.get("fields", ())}),
        versions=[_version_pb(v) for v in versions or ()], deleted_count=deleted,
    )


def _time(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else ""


def _version_pb(doc: Document) -> pb.DatasetVersion:
    return pb.DatasetVersion(
        dataset_id=doc["dataset_id"], version=doc["version"],
        state=_STATE_TO_PB[VersionState(doc["state"])], item_count=doc.get("item_count", 0),
        source_uri=doc.get("source_uri", ""), error=doc.get("error", ""),
        errors=[pb.ImportError(**e) for e in doc.get("errors", [])],
        error_count=doc.get("error_count", 0), format=doc.get("format", ""),
        error_report_uri=doc.get("error_report_uri", ""), fields=doc.get("fields", []),
        duplicate_count=doc.get("duplicate_count", 0),
        duplicates=[pb.ImportError(**e) for e in doc.get("duplicates", [])],
        duplicates_mode=doc.get("duplicates_mode", ""), started_at=_time(doc.get("started_at")),
        finished_at=_time(doc.get("finished_at")),
    )


def _item_pb(doc: Document) -> pb.Item:
    dataset_id, version, line = parse_item_id(doc["_id"])
    return pb.Item(id=doc["_id"], dataset_id=dataset_id, version=version, line=line,
                   data_json=doc["data"])  # stored as JSON text, exactly as imported


def _version_of(doc: Document) -> int:
    return parse_item_id(doc["_id"])[1]


def _storage_refuses(bucket: str, key: str, *, folder: bool) -> str | None:
    """Why the object storage client would refuse these names, checked before any request.
    Its ValueError (a bucket name like 'ab', a '.' segment, a blank object name) would
    otherwise answer the import UNKNOWN, or fail a folder scan after taking a version."""
    try:
        check_bucket_name(bucket)
        if key or not folder:  # a folder scan may name the whole bucket (empty prefix)
            check_object_name(key)
    except ValueError as exc:
        return str(exc) or "the object name is blank"
    return None


class DatasetServicer:
    def __init__(self, repo: Repository, importer: Importer, deleter: Deleter) -> None:
        self.repo = repo
        self.importer = importer
        self.deleter = deleter
        self._imports: set[asyncio.Task[None]] = set()

    async def _dataset_for_caller(self, dataset_id: str, context: Any) -> Document:
        found = await self.repo.dataset(dataset_id)
        if found is not None and found.get("deleting"):
            found = None  # being deleted: gone for every caller
        return await auth.visible_or_abort(found, context, f"dataset {dataset_id!r}")

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
        if storage.foreign_object(bucket, key, dataset["workspace"]):
            # Another workspace's export or the platform's own files: as if missing.
            await abort(grpc.StatusCode.NOT_FOUND, f"source_uri {uri!r}: no such object")
        fmt = request.format or format_for(key)
        if fmt not in set(ImportFormat):
            await abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"format: {request.format or key!r}: one of .manifest, .jsonl, .txt "
                        "(JSON lines), .csv or .xlsx, or a folder (s3://bucket/prefix/); "
                        "or name it in format")
        problem = _storage_refuses(bucket, key, folder=fmt == ImportFormat.FOLDER)
        if problem:
            await abort(grpc.StatusCode.INVALID_ARGUMENT, f"source_uri {uri!r}: {problem}")
        if request.duplicates not in ("", *Duplicates):
            await abort(grpc.StatusCode.INVALID_ARGUMENT, "duplicates: skip or keep")
        duplicates = Duplicates(request.duplicates or Duplicates.SKIP)
        if fmt == ImportFormat.FOLDER:
            if dataset["kind"] not in MEDIA_KINDS:
                await abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"source_uri: a folder scan needs an image, video or audio "
                            f"dataset; this one is {dataset['kind']}")
            if key and not key.endswith("/"):
                key += "/"  # the prefix is a folder: 'a/b' must not match 'a/bc/x.jpg'
            return await self._start(dataset, uri, ImportRequest(
                bucket=bucket, key=key, format=ImportFormat.FOLDER, duplicates=duplicates), context)
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
            skip_invalid=request.skip_invalid, duplicates=duplicates), context)

    async def _start(self, dataset: Document, uri: str, job: ImportRequest,
                     context: Any) -> pb.DatasetVersion:
        # One import at a time per dataset: each checks its sources against the others'.
        await self._refuse_while_importing(dataset, context)
        version = await self._reserve_version(dataset["_id"], uri, str(job.format),
                                              str(job.duplicates))
        task = asyncio.create_task(self.importer.run(dataset, version["version"], job))
        self._imports.add(task)
        task.add_done_callback(self._imports.discard)
        return _version_pb(version)

    async def _reserve_version(self, dataset_id: str, source_uri: str, fmt: str,
                               duplicates: str) -> Document:
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
                "duplicates_mode": duplicates,
                "started_at": datetime.now(UTC),
            }
            try:
                await self.repo.db[VERSIONS].insert_one(doc)
                return doc
            except DuplicateKeyError:
                continue

    async def GetDataset(self, request: pb.GetDatasetRequest, context: Any) -> pb.Dataset:
        return await self._described(
            await self._dataset_for_caller(request.dataset_id, context))

    async def _described(self, dataset: Document) -> pb.Dataset:
        """The dataset with its versions and the counts they add up to, less deletions."""
        versions = await self.repo.db[VERSIONS].find(
            {"dataset_id": dataset["_id"]}).sort("version", 1).to_list(None)
        deletions = await self.repo.db[DELETIONS].find(
            {"dataset_id": dataset["_id"]}, {"deleted": 1}).to_list(None)
        return _dataset_pb(dataset, versions, sum(d.get("deleted", 0) for d in deletions))

    async def _refuse_while_importing(self, dataset: Document, context: Any) -> None:
        running = await self.repo.versions_of(dataset["_id"], VersionState.IMPORTING)
        if running:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"dataset {dataset['name']!r} has an import in progress "
                                f"(version {running[0]['version']}); wait for it to end")

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
        # The dataset at version N: every item of READY versions up to N.
        versions = await self._visible_versions(dataset, request.version, context)
        async for doc in self.repo.stream_items(dataset["_id"], versions):
            yield _item_pb(doc)

    async def _visible_versions(self, dataset: Document, number: int, context: Any) -> list[int]:
        """The READY versions that make up the dataset at version ``number`` (0: latest)."""
        number = number or dataset.get("latest_version", 0)
        version = await self.repo.version(dataset["_id"], number) if number else None
        if version is None or not is_visible(version["state"]):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"dataset {dataset['_id']!r} version {number} is not ready")
        return [v for v in await self._ready_versions(dataset["_id"]) if v <= number]

    async def _ready_versions(self, dataset_id: str) -> list[int]:
        return sorted(v["version"] for v in await self.repo.versions_of(
            dataset_id, VersionState.READY))

    async def GetItems(self, request: pb.GetItemsRequest, context: Any) -> pb.GetItemsResponse:
        if len(request.item_ids) > MAX_GET_ITEMS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"item_ids: at most {MAX_GET_ITEMS} per call")
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        docs = await self.repo.items_by_id(dataset["_id"], list(request.item_ids))
        visible = set(await self._ready_versions(dataset["_id"]))
        return pb.GetItemsResponse(items=[_item_pb(d) for d in docs if _version_of(d) in visible])

    async def _item_filter(self, message: pb.ItemFilter, context: Any) -> ItemFilter:
        found = ItemFilter(fields=dict(message.fields), path_prefix=message.path_prefix,
                           name_contains=message.name_contains)
        problem = found.problem()
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        return found

    async def _matching(self, dataset: Document, versions: list[int], wanted: ItemFilter,
                        after: str = "") -> AsyncIterator[Document]:
        """Visible items after the id ``after``, in id order, that match the filter."""
        visible = set(versions)
        async for doc in self.repo.items_after(dataset["_id"], after):
            if _version_of(doc) in visible and (wanted.empty or wanted.matches(
                    json.loads(doc["data"]))):
                yield doc

    async def ListItems(self, request: pb.ListItemsRequest, context: Any) -> pb.ListItemsResponse:
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"page_size: 1-{MAX_PAGE_SIZE}")
        version, after = request.version, ""
        if request.page_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(request.page_token))
                version, after = int(token["v"]), str(token["a"])
            # The token is the client's text: besides malformed ones, a version of Infinity
            # (OverflowError) or JSON nested past the parser's depth (RecursionError) must
            # be refused as well, not answered UNKNOWN.
            except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    "page_token: not a token of this API; start without one")
        versions = await self._visible_versions(dataset, version, context)
        wanted = await self._item_filter(request.filter, context)
        page: list[Document] = []
        async for doc in self._matching(dataset, versions, wanted, after):
            page.append(doc)
            if len(page) == size:
                break
        next_token = ""
        if len(page) == size:
            next_token = base64.urlsafe_b64encode(json.dumps(
                {"v": max(versions), "a": page[-1]["_id"]}).encode()).decode()
        return pb.ListItemsResponse(items=[_item_pb(d) for d in page],
                                    next_page_token=next_token)

    async def DeleteItems(self, request: pb.DeleteItemsRequest,
                          context: Any) -> pb.DeleteItemsResponse:
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        wanted = await self._item_filter(request.filter, context)
        if bool(request.item_ids) == (not wanted.empty):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "item_ids or filter: give exactly one (to delete every item, "
                                "delete the dataset)")
        if len(request.item_ids) > MAX_DELETE_IDS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"item_ids: at most {MAX_DELETE_IDS} per call; use a filter "
                                "or several calls")
        ready = await self._ready_versions(dataset["_id"])
        if not ready:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"dataset {dataset['_id']!r} has no items yet")

        async def by_id() -> AsyncIterator[str]:
            for doc in await self.repo.items_by_id(dataset["_id"], list(request.item_ids)):
                if _version_of(doc) in ready:
                    yield doc["_id"]

        async def by_filter() -> AsyncIterator[str]:
            async for doc in self._matching(dataset, ready, wanted):
                yield doc["_id"]

        deletion = await self.deleter.plan(
            dataset, by_id() if request.item_ids else by_filter(), request.delete_sources)
        # Shielded: a caller that hangs up does not stop a deletion half-way.
        done = await asyncio.shield(self.deleter.run(deletion))
        return pb.DeleteItemsResponse(deletion_id=done["_id"], deleted_count=done["deleted"],
                                      chunks=done["chunks"],
                                      sources_deleted=done["sources_deleted"])

    async def DeleteDataset(self, request: pb.DeleteDatasetRequest,
                            context: Any) -> pb.DeleteDatasetResponse:
        dataset = await self._dataset_for_caller(request.dataset_id, context)
        uses = await self.repo.db[JOB_USES].find({"dataset_id": dataset["_id"]}).to_list(None)
        if uses:
            jobs = ", ".join(f"{u.get('name') or u['_id']!r} ({u['_id']})" for u in uses[:5])
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"dataset {dataset['name']!r} is used by published job(s) "
                                f"{jobs}; unpublish or delete them first")
        await self._refuse_while_importing(dataset, context)
        count = (await self._described(dataset)).item_count
        await asyncio.shield(self.deleter.delete_dataset(dataset))
        return pb.DeleteDatasetResponse(deleted_count=count)
