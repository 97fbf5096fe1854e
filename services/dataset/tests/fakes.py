"""The dataset service's ports as fakes: the shared in-memory database with the queries the
repository makes (``_id`` ranges, a sorted ``find_one``, unique indexes), and object storage
in memory with the MinIO client's own checks of bucket and object names."""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from minio.error import S3Error
from minio.helpers import check_bucket_name, check_object_name
from pymongo.errors import DuplicateKeyError

from labelops_shared import storage
from tests.fakes import FakeCollection, FakeCursor, FakeDatabase

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, cond in flt.items():
        value = doc.get(key)
        values = value if isinstance(value, list) else [value]  # an array matches by element
        if isinstance(cond, dict) and cond and all(op.startswith("$") for op in cond):
            for op, bound in cond.items():
                if op == "$in":
                    if not any(v in bound for v in values):
                        return False
                elif op == "$nin":
                    if any(v in bound for v in values):
                        return False
                elif op in _COMPARE:
                    # Mongo compares within a type only: "a" < 1 matches nothing.
                    if type(value) is not type(bound) or not _COMPARE[op](value, bound):
                        return False
                else:  # a query the fake cannot answer must not pass as matching everything
                    raise NotImplementedError(f"fake database: operator {op}")
        elif value != cond and cond not in values:
            return False
    return True


class DatasetCursor(FakeCursor):
    def batch_size(self, n: int) -> DatasetCursor:
        return self


class DatasetCollection(FakeCollection):
    def __init__(self) -> None:
        super().__init__()
        self.unique: list[tuple[str, ...]] = []

    async def create_indexes(self, models: Any) -> None:
        for model in models:
            if model.document.get("unique"):
                self.unique.append(tuple(model.document["key"]))

    async def insert_one(self, doc: dict[str, Any]) -> None:
        for fields in self.unique:
            if any(all(d.get(f) == doc.get(f) for f in fields) for d in self.docs.values()):
                raise DuplicateKeyError(f"duplicate key {fields}")
        await super().insert_one(doc)

    def find(self, flt: dict[str, Any] | None = None, projection: Any = None) -> DatasetCursor:
        found = [d for d in self.docs.values() if _matches(d, flt or {})]
        return DatasetCursor([self._projected(d, projection) for d in found])

    async def find_one(self, flt: dict[str, Any], projection: Any = None,
                       sort: list[tuple[str, int]] | None = None) -> Any:
        found = [d for d in self.docs.values() if _matches(d, flt)]
        for key, direction in reversed(sort or []):
            found.sort(key=lambda d, k=key: d[k], reverse=direction < 0)  # type: ignore[misc]
        return self._projected(found[0], projection) if found else None

    async def delete_many(self, flt: dict[str, Any]) -> None:
        for doc_id in [i for i, d in self.docs.items() if _matches(d, flt)]:
            del self.docs[doc_id]

    async def count_documents(self, flt: dict[str, Any]) -> int:
        return sum(1 for d in self.docs.values() if _matches(d, flt))

    @staticmethod
    def _projected(doc: dict[str, Any], projection: Any) -> dict[str, Any]:
        doc = copy.deepcopy(doc)
        if projection and any(projection.values()):
            return {k: v for k, v in doc.items() if k == "_id" or projection.get(k)}
        return {k: v for k, v in doc.items() if k not in (projection or {})}


class DatasetDatabase(FakeDatabase):
    def __getitem__(self, name: str) -> DatasetCollection:
        found = self.collections.setdefault(name, DatasetCollection())
        assert isinstance(found, DatasetCollection)
        return found


class _Response:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self) -> bytes:
        return self.body

    def stream(self, size: int) -> Iterator[bytes]:
        yield from (self.body[n:n + size] for n in range(0, len(self.body), size))

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeStorage:
    """Object storage in memory, with the calls the dataset service makes. Like the MinIO
    client, each call first checks the bucket and object names and raises ValueError for a
    name it refuses, before any request. Records the objects it was asked to read (stat,
    get) or remove."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.asked: list[tuple[str, str, str]] = []

    def _body(self, action: str, bucket: str, key: str) -> bytes:
        check_bucket_name(bucket)
        check_object_name(key)
        self.asked.append((action, bucket, key))
        if (bucket, key) not in self.objects:
            raise S3Error(None, "NoSuchKey", "missing", key, "", "", bucket, key)  # type: ignore[arg-type]
        return self.objects[(bucket, key)]

    def stat_object(self, bucket: str, key: str) -> Any:
        return SimpleNamespace(size=len(self._body("stat", bucket, key)), object_name=key)

    def get_object(self, bucket: str, key: str, offset: int = 0, length: int = 0) -> _Response:
        body = self._body("get", bucket, key)[offset:]
        return _Response(body[:length] if length else body)

    def fget_object(self, bucket: str, key: str, path: str) -> None:
        Path(path).write_bytes(self._body("get", bucket, key))

    def put_object(self, bucket: str, key: str, data: Any, length: int, **_: Any) -> None:
        check_bucket_name(bucket)
        check_object_name(key)
        self.objects[(bucket, key)] = data.read(length)

    def remove_object(self, bucket: str, key: str) -> None:
        check_bucket_name(bucket)
        check_object_name(key)
        self.asked.append(("remove", bucket, key))
        self.objects.pop((bucket, key), None)

    def remove_objects(self, bucket: str, doomed: Iterable[Any]) -> Iterator[Any]:
        check_bucket_name(bucket)

        def errors() -> Iterator[Any]:  # lazy, as MinIO's: nothing goes until iterated
            for found in doomed:
                self.asked.append(("remove", bucket, found.name))
                self.objects.pop((bucket, found.name), None)
            yield from ()
        return errors()

    def bucket_exists(self, bucket: str) -> bool:
        check_bucket_name(bucket)
        return bucket in storage.BUCKETS or any(b == bucket for b, _ in self.objects)

    def list_objects(self, bucket: str, prefix: str | None = None,
                     recursive: bool = False) -> Iterator[Any]:
        check_bucket_name(bucket)
        prefix = prefix or ""
        folders: set[str] = set()
        for (b, key), body in sorted(self.objects.items()):
            if b != bucket or not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if not recursive and "/" in rest:  # one level: deeper objects show as a folder
                folder = prefix + rest.split("/", 1)[0] + "/"
                if folder not in folders:
                    folders.add(folder)
                    yield SimpleNamespace(object_name=folder, is_dir=True, size=0)
                continue
            yield SimpleNamespace(object_name=key, is_dir=False, size=len(body))

    def snapshot(self) -> dict[tuple[str, str], bytes]:
        return dict(self.objects)
