"""Consumed events: packages cut by streaming, in parts, idempotently; pre-labels stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import Prediction, PredictionsReady
from services.assignment import handlers
from services.assignment.adapters.repository import JOBS, PACKAGES, PRELABELS
from services.assignment.tests.conftest import Harness


async def test_a_published_job_is_cut_into_packages_in_import_order(harness: Harness) -> None:
    job_id = await harness.publish_job(items=23, package_size=5)

    job = await harness.db[JOBS].find_one({"_id": job_id})
    assert job["package_count"] == 5 and job["topics"][0]["name"] == "label"
    packages = await harness.db[PACKAGES].find({"job_id": job_id}).sort("index", 1).to_list(None)
    assert [p["_id"] for p in packages] == [f"{job_id}-p{i:06d}" for i in range(5)]
    item_ids = harness.datasets.versions[(job["dataset_id"], 1)]
    assert [i for p in packages for i in p["item_ids"]] == item_ids  # import order
    assert [len(p["item_ids"]) for p in packages] == [5, 5, 5, 5, 3]
    first = packages[0]
    assert (first["state"], first["stage"], first["holder"], first["labeler"]) == (
        "open", "label", "", "")
    assert (first["version"], first["rework_count"], first["rating"]) == (0, 0, "")
    assert first["workspace"] == "ws1"
    created = await harness.events("labelops.package.created.v1")
    assert [e["data"]["package_id"] for e in created] == [p["_id"] for p in packages]


class FlakyDatasets:
    """Streams the items, but the first stream breaks off after `fail_after` items."""

    def __init__(self, inner: Any, fail_after: int) -> None:
        self.inner, self.fail_after, self.streams = inner, fail_after, 0

    async def item_ids(self, dataset_id: str, version: int) -> AsyncIterator[str]:
        self.streams += 1
        count = 0
        async for item_id in self.inner.item_ids(dataset_id, version):
            if self.streams == 1 and count == self.fail_after:
                raise RuntimeError("dataset stream broke off")
            count += 1
            yield item_id

    async def items(self, dataset_id: str, item_ids: Any) -> Any:
        return await self.inner.items(dataset_id, item_ids)


async def test_cutting_commits_in_parts_and_a_retry_after_a_failure_duplicates_nothing(
    harness: Harness,
) -> None:
    flaky = FlakyDatasets(harness.datasets, fail_after=150)
    harness.consumer.handlers.clear()
    handlers.register(harness.consumer, harness.repo, flaky, harness.packages)

    job_id = await harness.publish_job(items=250, package_size=1)

    assert flaky.streams == 2  # failed once after part pkgs-0 was committed, then retried
    assert await harness.db[PACKAGES].count_documents({"job_id": job_id}) == 250
    created = await harness.events("labelops.package.created.v1")
    assert len(created) == 250 and len({e["data"]["package_id"] for e in created}) == 250
    keys = [r["_id"] for r in await harness.db["outbox"].find({}).to_list(None)]
    assert sum(k.endswith((":pkgs-0", ":pkgs-1")) for k in keys) == 2
    assert (await harness.db[JOBS].find_one({"_id": job_id}))["package_count"] == 250


async def test_a_redelivered_or_republished_job_never_resets_packages(harness: Harness) -> None:
    job_id = await harness.publish_job(items=10, package_size=5)
    lee = harness.client("lee", auth.LABELER)
    claimed = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=pb.STAGE_LABEL))

    # The jobs service publishes the same job again (a new event id).
    job = await harness.db[JOBS].find_one({"_id": job_id})
    from labelops_shared.contracts import JobPublished, JobSpec
    spec = JobSpec(**{k: v for k, v in job.items() if k in JobSpec.model_fields})
    assert await harness.deliver(JobPublished(job_id=job_id, job=spec, item_count=10)) == (
        "handled")

    package = await harness.db[PACKAGES].find_one({"_id": claimed.id})
    assert (package["state"], package["holder"]) == ("labeling", "lee")
    assert len(await harness.events("labelops.package.created.v1")) == 2


async def test_predictions_are_stored_per_item_and_chunks_add_up(harness: Harness) -> None:
    def chunk(topic: str, answer: Any) -> PredictionsReady:
        return PredictionsReady(job_id="j1", source="offline", predictions=[
            Prediction(item_id="i1", topic=topic, answer=answer)])

    first = chunk("label", "pos")
    assert await harness.deliver(first) == "handled"
    assert await harness.deliver(chunk("odd.topic$", {"a.b": 1})) == "handled"

    doc = await harness.db[PRELABELS].find_one({"_id": "j1:i1"})
    assert doc["job_id"] == "j1" and doc["item_id"] == "i1" and doc["source"] == "offline"
    prelabels = await harness.repo.prelabels("j1", ["i1", "i2"])
    from labelops_shared.mongo import decode_keys
    assert decode_keys(prelabels["i1"]) == {"label": "pos", "odd.topic$": {"a.b": 1}}
