"""The export service's ports as fakes: the shared in-memory database with the few extra
query features the export reads use, and object storage keeping uploads in memory."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.fakes import FakeCollection, FakeCursor, FakeDatabase


def _matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, cond in flt.items():
        value = doc.get(key)
        if isinstance(cond, dict):
            for op, bound in cond.items():
                if op == "$in" and value not in bound:
                    return False
                if op in ("$gt", "$gte", "$lt") and value is None:
                    return False
                if (op == "$gt" and not value > bound or op == "$gte" and not value >= bound
                        or op == "$lt" and not value < bound):
                    return False
        elif value != cond:
            return False
    return True


class ExportCursor(FakeCursor):
    def batch_size(self, n: int) -> ExportCursor:
        return self


class ExportCollection(FakeCollection):
    def find(self, flt: dict[str, Any] | None = None, projection: Any = None) -> ExportCursor:
        return ExportCursor([copy.deepcopy(d) for d in self.docs.values()
                             if _matches(d, flt or {})])

    async def find_one(self, flt: dict[str, Any], projection: Any = None,
                       sort: list[tuple[str, int]] | None = None) -> Any:
        found = [d for d in self.docs.values() if _matches(d, flt)]
        for key, direction in reversed(sort or []):
            found.sort(key=lambda d, k=key: d[k], reverse=direction < 0)  # type: ignore[misc]
        return copy.deepcopy(found[0]) if found else None

    async def count_documents(self, flt: dict[str, Any]) -> int:
        return sum(1 for d in self.docs.values() if _matches(d, flt))

    async def replace_one(self, flt: dict[str, Any], doc: dict[str, Any],
                          upsert: bool = False) -> None:
        self.docs[flt["_id"]] = copy.deepcopy(doc)


class ExportDatabase(FakeDatabase):
    def __getitem__(self, name: str) -> ExportCollection:
        found = self.collections.setdefault(name, ExportCollection())
        assert isinstance(found, ExportCollection)
        return found


class FakeStorage:
    """fput_object and presigned_get_object, as the export writer uses MinIO."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.url_base = "http://storage.test"

    def fput_object(self, bucket: str, key: str, path: str, content_type: str = "") -> None:
        self.objects[(bucket, key)] = (Path(path).read_bytes(), content_type)

    def presigned_get_object(self, bucket: str, key: str, expires: Any = None) -> str:
        return f"{self.url_base}/{bucket}/{key}?signed"


class FakeAssignment:
    """The assignment service's side of a reconciliation: accepted item counts per job and
    accepted packages with their item counts; the tokens it was asked with."""

    def __init__(self) -> None:
        self.accepted: dict[str, int] = {}
        self.packages: dict[str, dict[str, int]] = {}
        self.tokens: list[str] = []
        self.error: Exception | None = None

    async def accepted_items(self, job_id: str) -> int:
        if self.error:
            raise self.error
        return self.accepted.get(job_id, 0)

    async def accepted_packages(self, job_id: str, caller_token: str) -> dict[str, int]:
        self.tokens.append(caller_token)
        return dict(self.packages.get(job_id, {}))
