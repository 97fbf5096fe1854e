"""A version's items stream back in import order, whole, a page of lines at a time (or by
an ``_id`` range for versions imported before they recorded their last line), on the fake
and on FerretDB."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from labelops_shared import mongo
from services.dataset.adapters.repository import INDEXES, ITEMS, VERSIONS, Repository, version_id
from services.dataset.domain.model import item_id
from tests.fakes import FakeDatabase


@pytest.fixture(params=["fake", pytest.param("ferretdb", marks=pytest.mark.integration)])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "fake":
        yield FakeDatabase()
        return
    url = os.environ.get("LABELOPS_MONGO_URL")
    if not url:  # start (or reuse) the local stack rather than skip
        from labelops_cli.stack.servers import up_infra

        url = up_infra()["LABELOPS_MONGO_URL"]
    client = mongo.connect(url, app_name="dataset-tests")
    database = client[f"labelops_dataset_test_{uuid.uuid4().hex[:10]}"]
    await mongo.ensure_indexes(database, INDEXES)
    yield database
    await client.drop_database(database.name)
    await client.close()


async def _version(db: Any, dataset: str, version: int, lines: list[int],
                   last_line: int | None) -> list[str]:
    """Store items from these lines (inserted out of order) and the version's record."""
    ids = [item_id(dataset, version, line) for line in lines]
    for doc_id in reversed(ids):
        await db[ITEMS].insert_one({"_id": doc_id, "data": "{}"})
    record: dict[str, Any] = {"_id": version_id(dataset, version), "dataset_id": dataset,
                              "version": version, "state": "ready", "item_count": len(ids)}
    if last_line is not None:
        record["last_line"] = last_line
    await db[VERSIONS].insert_one(record)
    return ids


async def test_items_stream_in_import_order_across_pages_gaps_and_versions(db: Any) -> None:
    repo = Repository(db)
    # lines 1, 4 and 9 had errors (no item); line 12 was the file's last item
    first = await _version(db, "ds1", 1, [2, 3, 5, 6, 7, 8, 10, 11, 12], last_line=12)
    older = await _version(db, "ds1", 2, [1, 2, 3], last_line=None)  # before last_line
    await _version(db, "ds2", 1, [1, 2], last_line=2)  # another dataset: never streamed
    await _version(db, "ds1", 3, [1], last_line=1)  # a version not asked for

    streamed = [d["_id"] async for d in repo.stream_items("ds1", [2, 1], batch_size=4)]
    assert streamed == first + older
    await db[ITEMS].delete_one({"_id": first[0]})  # a deleted item
    assert [d["_id"] async for d in repo.stream_items("ds1", [1], batch_size=4)] == first[1:]
