"""DatasetImported keeps the dataset projection: idempotent, newest version wins."""

from __future__ import annotations

from labelops_shared.contracts import DatasetImported
from labelops_shared.events import new_event
from services.jobs.adapters.repository import DATASETS
from services.jobs.tests.conftest import Harness


def imported(version: int, count: int) -> DatasetImported:
    return DatasetImported(dataset_id="d1", workspace="ws1", version=version, kind="text",
                           item_count=count, fields=["source", f"f{version}"])


async def test_the_projection_keeps_the_newest_version(harness: Harness) -> None:
    assert await harness.deliver(imported(2, 20)) == "handled"
    assert await harness.deliver(imported(1, 10)) == "handled"  # late: ignored
    doc = await harness.db[DATASETS].find_one({"_id": "d1"})
    assert (doc["latest_version"], doc["item_count"], doc["fields"]) == (2, 20, ["source", "f2"])
    assert await harness.deliver(imported(3, 30)) == "handled"
    doc = await harness.db[DATASETS].find_one({"_id": "d1"})
    assert (doc["latest_version"], doc["workspace"], doc["kind"]) == (3, "ws1", "text")


async def test_a_redelivered_event_changes_nothing(harness: Harness) -> None:
    raw = new_event(imported(1, 10), source="/labelops/test").to_bytes()
    topic = DatasetImported.TOPIC
    assert await harness.consumer.handle(raw, topic=topic) == "handled"
    assert await harness.consumer.handle(raw, topic=topic) == "duplicate"
    # The same version announced again (a re-import) rewrites the same document.
    assert await harness.deliver(imported(1, 10)) == "handled"
    assert await harness.db[DATASETS].count_documents({}) == 1
