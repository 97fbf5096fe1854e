"""``labelops check`` on the real servers: the demo job keeps every invariant, and a
corruption planted in the assignment database is named (job, package, item)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from labelops_cli.check.rules import COVERAGE, REBUILD
from labelops_cli.check.runner import Report, run_checks
from labelops_cli.check.sources import CheckSettings
from labelops_cli.demo import run_demo
from labelops_cli.main import app
from labelops_cli.services import ServiceProcesses
from labelops_shared import mongo

pytestmark = pytest.mark.e2e


def _settings(env: dict[str, str]) -> CheckSettings:
    return CheckSettings(kafka_bootstrap=env["LABELOPS_KAFKA_BOOTSTRAP"],
                         mongo_url=env["LABELOPS_MONGO_URL"])


def _check(env: dict[str, str], *job_ids: str) -> Report:
    return asyncio.run(run_checks(_settings(env), job_ids))


@pytest.fixture
def corrupt_job(stack_env: dict[str, str]) -> Iterator[str]:
    """A throwaway job straight in the assignment database whose second package holds an
    item of the first. Its packages are accepted and the job deleted, so no service hands
    them out or counts them; the documents are removed afterwards."""
    job_id = f"check-{uuid.uuid4().hex[:12]}"

    def package(index: int, item_ids: list[str]) -> dict[str, object]:
        return {"_id": f"{job_id}-p{index:06d}", "job_id": job_id, "index": index,
                "item_ids": item_ids, "item_count": len(item_ids), "state": "accepted",
                "stage": "done", "holder": "", "labeler": "lee", "version": 0}

    async def plant() -> None:
        client = mongo.connect(stack_env["LABELOPS_MONGO_URL"], app_name="check-e2e")
        db = client["labelops_assignment"]
        await db.jobs.insert_one({"_id": job_id, "workflow": "label", "package_count": 2,
                                  "status": "deleted", "dataset_id": f"none-{job_id}"})
        await db.packages.insert_many([package(0, ["item-1", "item-2"]),
                                       package(1, ["item-3", "item-2"])])
        await client.close()

    async def remove() -> None:
        client = mongo.connect(stack_env["LABELOPS_MONGO_URL"], app_name="check-e2e")
        db = client["labelops_assignment"]
        await db.packages.delete_many({"job_id": job_id})
        await db.jobs.delete_one({"_id": job_id})
        await client.close()

    asyncio.run(plant())
    try:
        yield job_id
    finally:
        asyncio.run(remove())


def test_the_demo_job_keeps_every_invariant(platform: ServiceProcesses,
                                            stack_env: dict[str, str]) -> None:
    result = run_demo(stack_env, say=lambda _: None)

    report = _check(stack_env, result.job_id)
    assert report.ok, report.violations
    assert report.jobs == [result.job_id]
    assert report.seen["packages"] == result.packages == 3
    assert report.seen["package items"] == report.seen["accepted items"] == 25

    # The command itself, reading the LABELOPS_* environment the stack fixture set.
    run = CliRunner().invoke(app, ["check", "--job", result.job_id])
    assert run.exit_code == 0, run.output
    assert "all invariants hold" in run.output


def test_an_item_in_two_packages_is_named(platform: ServiceProcesses,
                                          stack_env: dict[str, str], corrupt_job: str) -> None:
    report = _check(stack_env, corrupt_job)
    assert not report.ok
    coverage = [v for v in report.violations if v.check == COVERAGE]
    assert [(v.job_id, v.package_id, v.item_id) for v in coverage] == [
        (corrupt_job, f"{corrupt_job}-p000001", "item-2")]
    assert f"also in package {corrupt_job}-p000000" in coverage[0].detail
    # Planted without events: the log cannot rebuild either package.
    assert {v.package_id for v in report.violations if v.check == REBUILD} == {
        f"{corrupt_job}-p000000", f"{corrupt_job}-p000001"}

    run = CliRunner().invoke(app, ["check", "--job", corrupt_job])
    assert run.exit_code == 1, run.output
    for name in (corrupt_job, f"{corrupt_job}-p000001", "item-2"):
        assert name in run.output
