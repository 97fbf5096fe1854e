"""The one database guarantee LabelOps builds its races on, proven on the configured
backend: of concurrent inserts with the same unique key, exactly one succeeds.

(Conditional updates are *not* relied on: FerretDB v1 applies them without re-checking the
filter at write time, so two writers can both "win". The second test measures that.)"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.integration
WRITERS = 50


async def test_concurrent_inserts_of_one_unique_key_have_exactly_one_winner(
    stack_env: dict[str, str],
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        stack_env["LABELOPS_MONGO_URL"], maxPoolSize=WRITERS)
    claims = client["labelops_guarantees"][f"claims_{uuid.uuid4().hex[:8]}"]
    await claims.create_index([("package", 1), ("epoch", 1)], unique=True)

    async def claim(writer: int) -> bool:
        try:
            await claims.insert_one({"package": "p1", "epoch": 1, "holder": writer})
            return True
        except DuplicateKeyError:
            return False

    for _round in range(3):
        await claims.delete_many({})
        wins = await asyncio.gather(*(claim(w) for w in range(WRITERS)))
        assert sum(wins) == 1
        assert await claims.count_documents({"package": "p1"}) == 1
    await claims.drop()
    await client.close()


async def test_conditional_updates_are_measured_not_relied_on(
    stack_env: dict[str, str],
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        stack_env["LABELOPS_MONGO_URL"], maxPoolSize=WRITERS)
    packages = client["labelops_guarantees"][f"packages_{uuid.uuid4().hex[:8]}"]
    await packages.insert_one({"_id": "p1", "holder": None})

    async def grab(writer: int) -> int:
        result = await packages.update_one({"_id": "p1", "holder": None},
                                           {"$set": {"holder": writer}})
        return result.modified_count

    winners = sum(await asyncio.gather(*(grab(w) for w in range(WRITERS))))
    print(f"conditional update: {winners} of {WRITERS} writers reported a win")
    assert winners >= 1  # at least one; more than one is the race the design avoids
    await packages.drop()
    await client.close()
