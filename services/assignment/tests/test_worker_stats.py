"""Per-person statistics and the list filters a task center needs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from services.assignment.domain.stats import person_stats
from services.assignment.tests.conftest import ANSWER, Harness
from services.assignment.tests.test_api import pass_check

LABEL, CHECK = pb.STAGE_LABEL, pb.STAGE_CHECK
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_figures_per_person_from_the_packages() -> None:
    packages = [
        {"state": "accepted", "item_count": 10, "labeler": "lee", "checker": "cho",
         "accepter": "acc", "rework_count": 1, "rating": "A",
         "labeling_started_at": T0, "submitted_at": T0 + timedelta(seconds=50)},
        {"state": "to_accept", "item_count": 4, "labeler": "lee", "checker": "cho",
         "rework_count": 0, "rating": "C",
         "labeling_started_at": T0, "submitted_at": T0 + timedelta(seconds=40)},
        {"state": "labeling", "item_count": 5, "labeler": "lee", "checker": "cho",
         "rework_count": 2, "rating": ""},  # sent back twice, being reworked
        {"state": "labeling", "item_count": 3, "labeler": "eve", "rework_count": 0},
        {"state": "to_check", "item_count": 2, "labeler": "prelabel", "rework_count": 0},
    ]
    people = {p.subject: p for p in person_stats(packages, system=["prelabel"])}
    assert set(people) == {"lee", "cho", "acc"}  # eve submitted nothing; the system is out
    lee = people["lee"]
    # submissions: 2 (accepted after one rework) + 1 + 2 (submitted, sent back twice)
    assert (lee.items_labeled, lee.rejections_received, lee.submissions) == (19, 3, 5)
    assert lee.rejection_rate == 0.6
    assert (lee.mean_rating, lee.mean_rating_letter) == (3.0, "B")
    assert lee.median_seconds_per_item == 7.5  # 5 s and 10 s per item
    assert people["cho"].items_checked == 19 and people["acc"].items_accepted == 10


async def _label(client: object, package_id: str, hard_item: int = -1) -> None:
    detail = await client.GetPackage(pb.GetPackageRequest(package_id=package_id))  # type: ignore[attr-defined]
    for n, item in enumerate(detail.items):
        await client.SaveAnnotation(pb.SaveAnnotationRequest(  # type: ignore[attr-defined]
            package_id=package_id, item_id=item.item_id, answer_json=json.dumps(
                ANSWER if n % 2 else {"label": "neg", "tags": ["y"]}), hard=n == hard_item))


async def test_stats_and_filters_through_the_api(harness: Harness) -> None:
    job_id = await harness.publish_job(items=6, package_size=3, workflow="label_check",
                                       check_ratio=1.0)
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    cho = harness.client("cho", auth.CHECKER)
    admin = harness.client("ada", auth.ANNOTATION_ADMIN)
    p_lee = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    p_eve = await eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    await _label(lee, p_lee.id, hard_item=1)
    await _label(eve, p_eve.id)
    for client, package in ((lee, p_lee), (eve, p_eve)):
        await client.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))

    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=p_lee.id))
    await cho.ReviewPackage(pb.ReviewPackageRequest(
        package_id=p_lee.id, passed=False,
        rejections=[pb.ItemRejection(item_id=detail.items[0].item_id, reason="wrong")]))
    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    await pass_check(cho, p_eve.id, pb.RATING_B)

    stats = await admin.GetWorkerStats(pb.GetWorkerStatsRequest(job_id=job_id))
    people = {p.subject: p for p in stats.people}
    assert set(people) == {"lee", "eve", "cho"}
    assert (people["lee"].items_labeled, people["lee"].rejections_received,
            people["lee"].rejection_rate) == (3, 1, 1.0)
    assert (people["eve"].items_labeled, people["eve"].mean_rating_letter) == (3, "B")
    assert people["cho"].items_checked == 6 and people["eve"].items_accepted == 0
    own = await lee.GetWorkerStats(pb.GetWorkerStatsRequest(job_id=job_id))
    assert [p.subject for p in own.people] == ["lee"]  # a worker sees only their line

    def ids(found: pb.ListPackagesResponse) -> list[str]:
        return [p.id for p in found.packages]

    assert ids(await admin.ListPackages(pb.ListPackagesRequest(job_id=job_id, hard=True))) == [
        p_lee.id]
    assert ids(await admin.ListPackages(pb.ListPackagesRequest(job_id=job_id, label="pos"))) \
        == sorted([p_lee.id, p_eve.id])
    assert ids(await admin.ListPackages(pb.ListPackagesRequest(job_id=job_id, label="x"))) \
        == sorted([p_lee.id, p_eve.id])  # a multiple-choice value counts too
    assert ids(await admin.ListPackages(pb.ListPackagesRequest(job_id=job_id, label="z"))) == []
    assert ids(await cho.ListPackages(pb.ListPackagesRequest(job_id=job_id, mine=True))) == (
        sorted([p_lee.id, p_eve.id]))  # what the checker decided
    with pytest.raises(grpc.aio.AioRpcError) as outsider:
        await harness.client("ada", auth.ANNOTATION_ADMIN, workspace="other").GetWorkerStats(
            pb.GetWorkerStatsRequest(job_id=job_id))
    assert outsider.value.code() == grpc.StatusCode.NOT_FOUND
