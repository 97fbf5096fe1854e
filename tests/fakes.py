"""An in-memory stand-in for the few async collection calls the kernel and the services
make, so handler and outbox logic is tested in milliseconds (the same tests also run on the
real database)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.results import UpdateResult


def _matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, cond in flt.items():
        value = doc.get(key)
        if isinstance(cond, dict):
            # as in Mongo, an array field matches when any of its elements does
            values = value if isinstance(value, list) else [value]
            if "$in" in cond and not any(v in cond["$in"] for v in values):
                return False
            if "$nin" in cond and any(v in cond["$nin"] for v in values):
                return False
            if "$gt" in cond and not (value is not None and value > cond["$gt"]):
                return False
            if "$lt" in cond and not (value is not None and value < cond["$lt"]):
                return False
        elif value != cond and not (isinstance(value, list) and cond in value):
            return False  # as in Mongo, an array field equals a value it holds
    return True


def _project(doc: dict[str, Any], projection: dict[str, int] | None) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    if not projection:
        return doc
    if any(projection.values()):
        return {k: v for k, v in doc.items() if k == "_id" or projection.get(k)}
    return {k: v for k, v in doc.items() if k not in projection}


class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def sort(self, key: str, direction: int = 1) -> FakeCursor:
        self.docs.sort(key=lambda d: d[key], reverse=direction < 0)
        return self

    def limit(self, n: int) -> FakeCursor:
        self.docs = self.docs[:n] if n else self.docs
        return self

    def batch_size(self, n: int) -> FakeCursor:
        return self  # how many documents a round trip brings; all are here already

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        """The next ``length`` documents (all that are left without one), consumed as a
        real cursor consumes them."""
        taken = self.docs if length is None else self.docs[:length]
        self.docs = self.docs[len(taken):]
        return taken

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async def docs() -> AsyncIterator[dict[str, Any]]:
            for doc in self.docs:
                yield doc
        return docs()


class FakeCollection:
    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}
        self.database: Any = None  # set by the FakeDatabase that holds it
        self.bulk_sizes: list[int] = []  # requests per bulk_write command, in order

    async def insert_one(self, doc: dict[str, Any]) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        errors = []
        for n, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": n, "code": 11000, "errmsg": "duplicate key"})
                if ordered:
                    break
                continue
            self.docs[doc["_id"]] = copy.deepcopy(doc)
        if errors:
            raise BulkWriteError({"writeErrors": errors})

    async def find_one(self, flt: dict[str, Any], projection: Any = None) -> Any:
        return next((_project(d, projection) for d in self.docs.values() if _matches(d, flt)),
                    None)

    def find(self, flt: dict[str, Any] | None = None, projection: Any = None) -> FakeCursor:
        return FakeCursor([_project(d, projection) for d in self.docs.values()
                           if _matches(d, flt or {})])

    async def replace_one(self, flt: dict[str, Any], doc: dict[str, Any],
                          upsert: bool = False) -> None:
        self.docs[flt["_id"]] = copy.deepcopy(doc)

    async def bulk_write(self, requests: list[Any], ordered: bool = True) -> None:
        """Only the requests the outbox sends: ``ReplaceOne`` (by ``_id``, upserting) and
        ``UpdateOne`` (by ``_id``, ``$set``)."""
        self.bulk_sizes.append(len(requests))
        for request in requests:
            if isinstance(request, UpdateOne):
                await self.update_one(request._filter, request._doc)
            else:
                await self.replace_one(request._filter, request._doc, upsert=request._upsert)

    async def update_one(self, flt: dict[str, Any], update: dict[str, Any]) -> UpdateResult:
        for doc in self.docs.values():
            if _matches(doc, flt):
                for path, value in update.get("$set", {}).items():
                    target = doc
                    *parents, leaf = path.split(".")
                    for part in parents:
                        target = target.setdefault(part, {})
                    target[leaf] = copy.deepcopy(value)
                for path in update.get("$unset", {}):
                    doc.pop(path, None)
                return UpdateResult({"n": 1, "nModified": 1}, acknowledged=True)
        return UpdateResult({"n": 0, "nModified": 0}, acknowledged=True)

    async def find_one_and_update(self, flt: dict[str, Any], update: dict[str, Any],
                                  projection: Any = None, upsert: bool = False,
                                  return_document: Any = None) -> Any:
        """By ``_id`` only, returning the document after the update (``$set``, ``$unset``,
        ``$inc`` of top-level fields), as the assignment service's save asks."""
        doc = self.docs.get(flt["_id"])
        if doc is None:
            if not upsert:
                return None
            doc = self.docs.setdefault(flt["_id"], {"_id": flt["_id"]})
        for field, step in update.get("$inc", {}).items():
            doc[field] = doc.get(field, 0) + step
        await self.update_one({"_id": flt["_id"]}, update)
        return _project(doc, projection)

    async def delete_one(self, flt: dict[str, Any]) -> None:
        self.docs.pop(flt["_id"], None)

    async def delete_many(self, flt: dict[str, Any]) -> None:
        for doc_id in [i for i, d in self.docs.items() if _matches(d, flt)]:
            del self.docs[doc_id]

    async def count_documents(self, flt: dict[str, Any]) -> int:
        return sum(1 for d in self.docs.values() if _matches(d, flt))

    async def create_indexes(self, models: Any) -> None:
        pass


class FakeDatabase:
    def __init__(self, name: str = "") -> None:
        self.name = name or f"fake_{id(self):x}"
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        collection = self.collections.setdefault(name, FakeCollection())
        collection.database = self
        return collection

    async def list_collection_names(self) -> list[str]:
        return [name for name, c in self.collections.items() if c.docs]

    async def drop_collection(self, name: str) -> None:
        self.collections.pop(name, None)
