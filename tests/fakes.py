"""An in-memory stand-in for the few async collection calls the kernel makes, so the outbox
and consumer logic is tested in milliseconds (the same tests also run on the real DB)."""

from __future__ import annotations

import copy
from typing import Any

from pymongo.errors import DuplicateKeyError


def _matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, cond in flt.items():
        value = doc.get(key)
        if isinstance(cond, dict) and "$in" in cond:
            if value not in cond["$in"]:
                return False
        elif value != cond:
            return False
    return True


class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def sort(self, key: str, direction: int = 1) -> FakeCursor:
        self.docs.sort(key=lambda d: d.get(key), reverse=direction < 0)
        return self

    def limit(self, n: int) -> FakeCursor:
        self.docs = self.docs[:n]
        return self

    def __aiter__(self) -> FakeCursor:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if not self.docs:
            raise StopAsyncIteration
        return self.docs.pop(0)


class FakeCollection:
    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}

    async def insert_one(self, doc: dict[str, Any]) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def find_one(self, flt: dict[str, Any], projection: Any = None) -> Any:
        return next((copy.deepcopy(d) for d in self.docs.values() if _matches(d, flt)), None)

    def find(self, flt: dict[str, Any] | None = None) -> FakeCursor:
        return FakeCursor([copy.deepcopy(d) for d in self.docs.values()
                           if _matches(d, flt or {})])

    async def replace_one(self, flt: dict[str, Any], doc: dict[str, Any],
                          upsert: bool = False) -> None:
        self.docs[flt["_id"]] = copy.deepcopy(doc)

    async def update_one(self, flt: dict[str, Any], update: dict[str, Any]) -> None:
        for doc in self.docs.values():
            if _matches(doc, flt):
                for path, value in update["$set"].items():
                    target = doc
                    *parents, leaf = path.split(".")
                    for part in parents:
                        target = target.setdefault(part, {})
                    target[leaf] = copy.deepcopy(value)
                return

    async def delete_one(self, flt: dict[str, Any]) -> None:
        self.docs.pop(flt["_id"], None)

    async def count_documents(self, flt: dict[str, Any]) -> int:
        return sum(1 for d in self.docs.values() if _matches(d, flt))


class FakeDatabase:
    def __init__(self) -> None:
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection())
