"""Helpers shared by the assignment tests of leases, transfers, package rules, item sync,
formal pre-labels and marks: a job published with any settings, claims, events by package."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared.contracts import (
    JobMembers,
    JobPublished,
    JobSpec,
    LabelDef,
    PackageRuleSpec,
    PrelabelSpec,
)
from services.assignment.adapters.repository import PACKAGES
from services.assignment.tests.conftest import ANSWER, TOPICS, WORKSPACE, Harness
from services.assignment.tests.test_api import label_all, pass_check, refused

__all__ = ["ANSWER", "LABEL", "CHECK", "ACCEPT", "claim", "expire_now", "label_all",
           "package_events", "pass_check", "publish", "refused", "save", "stored"]

LABEL, CHECK, ACCEPT = pb.STAGE_LABEL, pb.STAGE_CHECK, pb.STAGE_ACCEPT


async def publish(harness: Harness, *, items: int = 10, package_size: int = 5,
                  workflow: str = "label", members: JobMembers | None = None,
                  rule: PackageRuleSpec | None = None, prelabel: PrelabelSpec | None = None,
                  auto_sync: bool = False, check_ratio: float = 1.0,
                  topics: list[dict[str, Any]] | None = None,
                  dataset: str | None = None,
                  job_id: str | None = None) -> tuple[str, str, list[str]]:
    """Publish a job over a new dataset of ``items`` items (version 1), or over the fake
    ``dataset`` already there; returns the job id, the dataset id and the item ids in
    import order."""
    job_id = job_id or uuid.uuid4().hex
    dataset_id = dataset or f"d{job_id[:6]}"
    if (dataset_id, 1) not in harness.datasets.versions:
        harness.datasets.add(dataset_id, 1, items)
    item_ids = harness.datasets.versions[(dataset_id, 1)]
    items = len(item_ids)
    spec = JobSpec(
        job_id=job_id, workspace=WORKSPACE, name="job", dataset_id=dataset_id,
        dataset_version=1, template="text_classification", topics=topics or TOPICS,
        labels=[LabelDef(name="pos"), LabelDef(name="neg")], workflow=workflow,
        package_size=package_size, check_ratio=check_ratio,
        members=members or JobMembers(), package_rule=rule or PackageRuleSpec(),
        prelabel=prelabel or PrelabelSpec(), auto_sync=auto_sync,
    )
    outcome = await harness.deliver(JobPublished(job_id=job_id, job=spec, item_count=items))
    assert outcome == "handled"
    return job_id, dataset_id, item_ids


async def claim(client: Any, job_id: str, stage: int = LABEL) -> Any:
    return await client.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=stage))


async def save(client: Any, package_id: str, item_id: str, answer: Any = None, *,
               invalid: bool = False, hard: bool = False) -> Any:
    return await client.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=package_id, item_id=item_id,
        answer_json="" if answer is None and invalid else json.dumps(answer or ANSWER),
        invalid=invalid, hard=hard))


async def stored(harness: Harness, package_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = await harness.db[PACKAGES].find_one({"_id": package_id})
    return doc


async def packages_of(harness: Harness, job_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await harness.db[PACKAGES].find(
        {"job_id": job_id}).sort("index", 1).to_list(None)
    return found


async def package_events(harness: Harness, package_id: str,
                         event_type: str | None = None) -> list[dict[str, Any]]:
    """The events about this package, in commit order."""
    return [e for e in await harness.events(event_type)
            if e["data"].get("package_id") == package_id]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """"labelops.package.claimed.v1" -> "claimed"."""
    return [e["type"].split(".")[2] for e in events]


async def expire_now(harness: Harness, package_id: str) -> None:
    """The package's lease ran out a second ago (as another replica's board would show it
    after its next rebuild)."""
    await harness.db[PACKAGES].update_one(
        {"_id": package_id}, {"$set": {"lease_until": datetime.now(UTC) - timedelta(seconds=1)}})
    harness.repo.forget_package(package_id)  # as the time passing would have
    await harness.packages.rebuild()


def moment(rfc3339: str) -> datetime:
    return datetime.fromisoformat(rfc3339)
