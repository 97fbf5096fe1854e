"""In-memory stand-ins for the assignment tests: the shared fake database and a fake
dataset service. The same tests run on the real database too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from tests.fakes import FakeCollection, FakeCursor, FakeDatabase

__all__ = ["FakeCollection", "FakeCursor", "FakeDatabase", "FakeDatasets"]


class FakeDatasets:
    """The dataset service: items in import order, each with a small data record."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], list[str]] = {}
        self.get_calls: list[int] = []
        self.extra: dict[str, Any] = {}  # fields every item's record gets too
        self.per_item: dict[str, dict[str, Any]] = {}  # fields of single items

    def add(self, dataset_id: str, version: int, count: int) -> list[str]:
        ids = [f"{dataset_id}-v{version}-i{n:04d}" for n in range(count)]
        self.versions[(dataset_id, version)] = ids
        return ids

    async def item_ids(self, dataset_id: str, version: int) -> AsyncIterator[str]:
        for item_id in self.versions[(dataset_id, version)]:
            yield item_id

    async def item_values(self, dataset_id: str, version: int,
                          field: str) -> AsyncIterator[tuple[str, Any]]:
        records = await self.items(dataset_id, self.versions[(dataset_id, version)])
        for item_id, record in records.items():
            yield item_id, record.get(field)

    async def items(self, dataset_id: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.get_calls.append(len(item_ids))
        return {i: {"text": f"text of {i}", "a.b": 1, **self.extra, **self.per_item.get(i, {})}
                for i in item_ids}
