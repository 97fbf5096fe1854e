"""The gRPC API through the real server: validation, dataset checks, events, access."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import DatasetImported
from services.jobs.adapters.repository import JOBS
from services.jobs.tests.conftest import Harness


def request(**overrides: Any) -> pb.CreateJobRequest:
    fields: dict[str, Any] = {
        "name": "sentiment-1", "description": "reviews", "dataset_id": "d1",
        "template": "text_classification",
        "labels": [pb.Label(name="pos", color="#00ff00"), pb.Label(name="neg")],
        "workflow": pb.WORKFLOW_LABEL_CHECK_ACCEPT,
        "members": pb.Members(labelers=["lea"], checkers=["cid"], accepters=["ace"]),
    }
    fields.update(overrides)
    return pb.CreateJobRequest(**fields)


async def refused(call: Any, code: grpc.StatusCode, match: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    assert match in (info.value.details() or ""), info.value.details()


async def test_create_stores_a_draft_with_defaults_and_emits_job_created(
    harness: Harness,
) -> None:
    harness.datasets.add("d1", versions=((1, True, 10), (2, True, 42), (3, False, 0)))

    job = await harness.admin().CreateJob(request())

    assert job.state == pb.JOB_STATE_DRAFT and job.workspace == "ws1"
    assert (job.dataset_version, job.item_count) == (2, 42)  # latest READY version
    assert (job.package_size, job.check_ratio) == (100, 1.0)
    assert json.loads(job.topics_json) == [
        {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}]
    assert json.loads(job.layout_json) == {"content": [{"kind": "text", "field": "source"}]}
    assert [(lb.name, lb.color) for lb in job.labels] == [("pos", "#00ff00"), ("neg", "")]
    assert list(job.members.accepters) == ["ace"]
    stored = await harness.db[JOBS].find_one({"_id": job.id})
    assert stored["state"] == "draft" and stored["created_by"] == "ada"
    [created] = await harness.events("labelops.job.created.v1")
    assert created["data"]["job"]["workflow"] == "label_check_accept"
    assert created["data"]["job"]["dataset_version"] == 2


async def test_an_explicit_version_and_the_multi_choice_template(harness: Harness) -> None:
    harness.datasets.add("d1", versions=((1, True, 10), (2, True, 42)))
    job = await harness.admin().CreateJob(request(
        dataset_version=1, template="text_multi_classification", package_size=7,
        check_ratio=0.25))
    assert (job.dataset_version, job.item_count, job.package_size) == (1, 10, 7)
    assert (job.check_ratio, job.check_percent) == (0.25, 25)
    assert json.loads(job.topics_json)[0]["kind"] == "multiple_choice"


@pytest.mark.parametrize(("overrides", "match"), [
    ({"name": "_bad"}, "name:"),
    ({"name": "x" * 101}, "name:"),
    ({"labels": []}, "labels: at least 1 label"),
    ({"labels": [pb.Label(name="a"), pb.Label(name="a")]}, "labels[1].name"),
    ({"labels": [pb.Label(name="a", color="red")]}, "labels[0].color"),
    ({"workflow": pb.WORKFLOW_UNSPECIFIED}, "workflow:"),
    ({"package_size": 10_001}, "package_size:"),
    ({"check_ratio": 1.5}, "check_ratio:"),
    ({"dataset_id": ""}, "dataset_id: required"),
    ({"dataset_id": "nope"}, "dataset_id: dataset 'nope' not found"),
    ({"dataset_version": 9}, "dataset_version: dataset 'd1' has no version 9"),
    ({"template": "video_tracking"}, "template: unknown"),
])
async def test_invalid_settings_are_refused_naming_the_field(
    harness: Harness, overrides: dict[str, Any], match: str,
) -> None:
    harness.datasets.add("d1")
    await refused(harness.admin().CreateJob(request(**overrides)),
                  grpc.StatusCode.INVALID_ARGUMENT, match)
    assert await harness.events() == []


async def test_the_dataset_must_be_ready_in_the_callers_workspace_and_fit_the_template(
    harness: Harness,
) -> None:
    harness.datasets.add("theirs", workspace="ws2")
    harness.datasets.add("importing", versions=((1, False, 0),))
    harness.datasets.add("pictures", kind="image")
    admin = harness.admin()
    await refused(admin.CreateJob(request(dataset_id="theirs")),
                  grpc.StatusCode.INVALID_ARGUMENT, "dataset 'theirs' not found")
    await refused(admin.CreateJob(request(dataset_id="importing")),
                  grpc.StatusCode.FAILED_PRECONDITION, "has no ready version")
    await refused(admin.CreateJob(request(dataset_id="importing", dataset_version=1)),
                  grpc.StatusCode.FAILED_PRECONDITION, "version 1 is not ready")
    await refused(admin.CreateJob(request(dataset_id="pictures")),
                  grpc.StatusCode.INVALID_ARGUMENT, "needs a text dataset; this one is image")


async def test_the_prelabel_field_is_checked_once_the_items_fields_are_known(
    harness: Harness,
) -> None:
    harness.datasets.add("d1")
    admin = harness.admin()
    # Not known yet (no import event seen): accepted, the prelabel run reports later.
    assert (await admin.CreateJob(request(prelabel_field="guess"))).prelabel_field == "guess"
    await harness.deliver(DatasetImported(dataset_id="d1", workspace="ws1", version=1,
                                          kind="text", item_count=10,
                                          fields=["source", "label"]))
    await refused(admin.CreateJob(request(prelabel_field="guess")),
                  grpc.StatusCode.INVALID_ARGUMENT, "prelabel_field: 'guess' is not a field")
    assert (await admin.CreateJob(request(prelabel_field="label"))).prelabel_field == "label"


async def test_only_admins_create_and_publish(harness: Harness) -> None:
    harness.datasets.add("d1")
    job = await harness.admin().CreateJob(request())
    labeler = harness.client("lea", auth.LABELER)
    await refused(labeler.CreateJob(request()), grpc.StatusCode.PERMISSION_DENIED, "CreateJob")
    await refused(labeler.PublishJob(pb.PublishJobRequest(job_id=job.id)),
                  grpc.StatusCode.PERMISSION_DENIED, "PublishJob")
    service = harness.client("assignment", auth.SERVICE, workspace="*")
    await refused(service.CreateJob(request()), grpc.StatusCode.PERMISSION_DENIED, "CreateJob")


async def test_publish_emits_the_spec_once(harness: Harness) -> None:
    harness.datasets.add("d1", versions=((1, True, 12),))
    admin = harness.admin()
    job = await admin.CreateJob(request(prelabel_field="label", package_size=5))

    published = await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))

    assert published.state == pb.JOB_STATE_PUBLISHED
    assert (await admin.GetJob(pb.GetJobRequest(job_id=job.id))).state == pb.JOB_STATE_PUBLISHED
    [event] = await harness.events("labelops.job.published.v1")
    assert event["subject"] == f"jobs/{job.id}"
    assert event["data"]["item_count"] == 12
    spec = event["data"]["job"]
    assert (spec["job_id"], spec["workspace"], spec["package_size"]) == (job.id, "ws1", 5)
    assert spec["topics"][0]["options"] == ["pos", "neg"]
    assert spec["prelabel_field"] == "label" and spec["members"]["labelers"] == ["lea"]
    await refused(admin.PublishJob(pb.PublishJobRequest(job_id=job.id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "only a draft")
    assert len(await harness.events("labelops.job.published.v1")) == 1


async def test_jobs_are_visible_only_in_their_workspace(harness: Harness) -> None:
    harness.datasets.add("d1")
    harness.datasets.add("d2", workspace="ws2")
    mine = await harness.admin().CreateJob(request(name="mine"))
    theirs = await harness.admin("ws2").CreateJob(request(name="theirs", dataset_id="d2"))

    labeler = harness.client("lea", auth.LABELER)
    assert (await labeler.GetJob(pb.GetJobRequest(job_id=mine.id))).name == "mine"
    listed = await labeler.ListJobs(pb.ListJobsRequest())
    assert [j.name for j in listed.jobs] == ["mine"]
    await refused(labeler.GetJob(pb.GetJobRequest(job_id=theirs.id)),
                  grpc.StatusCode.NOT_FOUND, "not found")
    await refused(harness.admin().PublishJob(pb.PublishJobRequest(job_id=theirs.id)),
                  grpc.StatusCode.NOT_FOUND, "not found")
    await refused(labeler.GetJob(pb.GetJobRequest(job_id="nope")),
                  grpc.StatusCode.NOT_FOUND, "job 'nope' not found")
    # Platform services read any workspace's jobs.
    service = harness.client("assignment", auth.SERVICE, workspace="*")
    assert (await service.GetJob(pb.GetJobRequest(job_id=theirs.id))).workspace == "ws2"


async def test_shorthand_fields_are_named_in_errors(harness: Harness) -> None:
    harness.datasets.add("d1")
    await refused(harness.admin().CreateJob(request(workflow=pb.WORKFLOW_LABEL, check_ratio=0.5,
                                                    members=pb.Members(labelers=["lea"]))),
                  grpc.StatusCode.INVALID_ARGUMENT, "check_ratio: the label workflow has no")
    await refused(harness.admin().CreateJob(request(check_ratio=0.5, check_percent=40)),
                  grpc.StatusCode.INVALID_ARGUMENT, "check_ratio: 0.5 disagrees")
    await refused(harness.admin().CreateJob(request(package_size=5, package_rule=pb.PackageRule(
        size=6))), grpc.StatusCode.INVALID_ARGUMENT, "package_size: disagrees")


async def test_jobs_stored_in_the_earlier_shape_are_still_served(harness: Harness) -> None:
    """Jobs written before settings were stored as JSON text (topics, labels and members
    as documents, package_size, check_ratio, prelabel_field) are read in today's shape."""
    from datetime import UTC, datetime

    legacy = {
        "_id": "old1", "workspace": "ws1", "name": "legacy", "description": "",
        "dataset_id": "d1", "dataset_version": 1, "template": "text_classification",
        "layout": {"content": [{"kind": "text", "field": "source"}]},
        "topics": [{"name": "label", "kind": "single_choice", "options": ["a", "b"]}],
        "labels": [{"name": "a", "color": "#00ff00"}, {"name": "b", "color": ""}],
        "workflow": "label_check", "package_size": 5, "check_ratio": 0.5,
        "prelabel_field": "guess", "members": {"labelers": ["lea"], "checkers": [],
                                               "accepters": []},
        "state": "draft", "item_count": 10, "created_at": datetime.now(UTC),
        "created_by": "ada",
    }
    await harness.db[JOBS].insert_one(legacy)
    admin = harness.admin()
    got = await admin.GetJob(pb.GetJobRequest(job_id="old1"))
    assert (got.package_size, got.check_percent, got.prelabel_field) == (5, 50, "guess")
    assert [j.id for j in (await admin.ListJobs(pb.ListJobsRequest(participant="lea"))).jobs] \
        == ["old1"]
    published = await admin.PublishJob(pb.PublishJobRequest(job_id="old1"))
    assert published.state == pb.JOB_STATE_PUBLISHED and published.version == 1
    [event] = await harness.events("labelops.job.published.v1")
    assert event["data"]["job"]["members"]["labelers"] == ["lea"]
    added = await admin.AddLabel(pb.AddLabelRequest(job_id="old1", label=pb.Label(name="c")))
    assert json.loads(added.topics_json)[0]["options"] == ["a", "b", "c"]


async def test_a_check_share_travels_exactly(harness: Harness) -> None:
    harness.datasets.add("d1")
    job = await harness.admin().CreateJob(request(check_ratio=0.3))
    assert (job.check_ratio, job.check_percent) == (0.3, 30)
    [created] = await harness.events("labelops.job.created.v1")
    assert created["data"]["job"]["check_ratio"] == 0.3
