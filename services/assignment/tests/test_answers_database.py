"""Saved answers live in a database of their own; an earlier version's move there."""

from __future__ import annotations

from services.assignment.adapters.repository import ANNOTATIONS
from services.assignment.tests.conftest import Harness


async def test_answers_kept_in_the_main_database_move_to_their_own_at_start(
    harness: Harness,
) -> None:
    old = harness.db[ANNOTATIONS]
    for n in range(5):
        await old.insert_one({"_id": f"p1:i{n}:label", "package_id": "p1", "revision": 1})
    # saved again since the upgrade: the newer answer is already in its own database
    await harness.answers.insert_one({"_id": "p1:i0:label", "package_id": "p1", "revision": 2})

    assert await harness.repo.move_answers_in(batch=2) == 5
    moved = {d["_id"]: d["revision"] for d in await harness.answers.find({}).to_list(None)}
    assert moved == {"p1:i0:label": 2, **{f"p1:i{n}:label": 1 for n in range(1, 5)}}
    assert ANNOTATIONS not in await harness.db.list_collection_names()
    assert len(await harness.repo.annotations("p1")) == 5
    assert await harness.repo.move_answers_in() == 0  # the next start finds nothing
