"""The ops dashboard's assignment figures move with the work."""

from __future__ import annotations

from prometheus_client import REGISTRY

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from services.assignment.tests.conftest import Harness
from services.assignment.tests.support import label_all


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_items_processed_waiting_and_packages_per_job(harness: Harness) -> None:
    job_id = await harness.publish_job(items=10, package_size=5, workflow="label_check")
    await harness.packages.rebuild()
    assert _value("labelops_assignment_packages", job_id=job_id, state="open") == 2
    labeled = _value("labelops_assignment_items_processed_total", stage="label",
                     outcome="labeled")
    lee = harness.client("lee", auth.LABELER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id,
                                                            stage=pb.STAGE_LABEL))
    await label_all(lee, package.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert _value("labelops_assignment_items_processed_total", stage="label",
                  outcome="labeled") == labeled + 5
    await harness.packages.rebuild()
    assert _value("labelops_assignment_packages", job_id=job_id, state="to_check") == 1
    assert _value("labelops_assignment_items_waiting", stage="check") >= 5
    assert _value("labelops_assignment_stage_wait_seconds_count", stage="label") >= 1
