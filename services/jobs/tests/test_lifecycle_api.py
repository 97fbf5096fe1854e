"""Lifecycle, copy, settings, schema and event-driven state through the real gRPC server."""

from __future__ import annotations

import json
from typing import Any

import grpc
import jsonschema
import pytest

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    DatasetImported,
    JobCompleted,
    PackageClaimed,
    PackageCreated,
    PackageSubmitted,
)
from services.jobs.adapters.repository import JOBS
from services.jobs.tests.conftest import Harness
from services.jobs.tests.test_api import refused, request


async def published_job(harness: Harness, **overrides: Any) -> pb.Job:
    harness.datasets.add("d1", versions=((1, True, 12),))
    admin = harness.admin()
    job = await admin.CreateJob(request(**overrides))
    return await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))


async def test_publish_unpublish_republish_complete_each_with_its_event(
    harness: Harness,
) -> None:
    admin = harness.admin()
    job = await published_job(harness)
    unpublished = await admin.UnpublishJob(pb.UnpublishJobRequest(job_id=job.id))
    assert unpublished.state == pb.JOB_STATE_UNPUBLISHED
    await refused(admin.UnpublishJob(pb.UnpublishJobRequest(job_id=job.id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "only a published job")
    again = await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))
    assert again.state == pb.JOB_STATE_PUBLISHED
    done = await admin.CompleteJob(pb.CompleteJobRequest(job_id=job.id))
    assert done.state == pb.JOB_STATE_COMPLETED and done.version == 5
    await refused(admin.PublishJob(pb.PublishJobRequest(job_id=job.id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "the job is completed")

    types = [(e["type"], e["data"].get("republished")) for e in await harness.events()]
    assert types == [("labelops.job.created.v1", None), ("labelops.job.published.v1", False),
                     ("labelops.job.unpublished.v1", None), ("labelops.job.published.v1", True),
                     ("labelops.job.finished.v1", None)]
    [unpublish] = await harness.events("labelops.job.unpublished.v1")
    assert unpublish["data"] == {"job_id": job.id, "dataset_id": "d1", "workspace": "ws1"}
    [finished] = await harness.events("labelops.job.finished.v1")
    assert finished["data"]["by"] == "ada"


async def test_the_assignment_services_completion_completes_the_job(harness: Harness) -> None:
    job = await published_job(harness)
    event = JobCompleted(job_id=job.id, package_count=3, item_count=12)
    assert await harness.deliver(event) == "handled"
    assert await harness.deliver(event) == "handled"  # a new event id: completed already
    got = await harness.admin().GetJob(pb.GetJobRequest(job_id=job.id))
    assert got.state == pb.JOB_STATE_COMPLETED and got.version == 3


async def test_delete_is_refused_while_packages_are_claimed_unless_an_owner_forces_it(
    harness: Harness,
) -> None:
    job = await published_job(harness)
    await harness.deliver(PackageCreated(job_id=job.id, package_id="p0", index=0,
                                         item_ids=["a", "b"]))
    await harness.deliver(PackageClaimed(job_id=job.id, package_id="p0", stage="label",
                                         holder="lea"))
    admin, owner = harness.admin(), harness.owner()
    await refused(admin.DeleteJob(pb.DeleteJobRequest(job_id=job.id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "1 package(s) are claimed")
    await refused(admin.DeleteJob(pb.DeleteJobRequest(job_id=job.id, force=True)),
                  grpc.StatusCode.FAILED_PRECONDITION, "only a workspace administrator")
    labeler = harness.client("lea", auth.LABELER)
    await refused(labeler.DeleteJob(pb.DeleteJobRequest(job_id=job.id)),
                  grpc.StatusCode.PERMISSION_DENIED, "DeleteJob")
    assert await harness.events("labelops.job.deleted.v1") == []

    deleted = await owner.DeleteJob(pb.DeleteJobRequest(job_id=job.id, force=True))
    assert deleted.forced
    [event] = await harness.events("labelops.job.deleted.v1")
    assert event["data"] == {"job_id": job.id, "dataset_id": "d1", "workspace": "ws1",
                             "forced": True}
    await refused(admin.GetJob(pb.GetJobRequest(job_id=job.id)), grpc.StatusCode.NOT_FOUND,
                  "not found")
    # Late package events of the deleted job are ignored.
    assert await harness.deliver(PackageSubmitted(job_id=job.id, package_id="p0",
                                                  labeler="lea", item_count=2)) == "handled"


async def test_a_job_without_claims_is_deleted_by_an_annotation_admin(harness: Harness) -> None:
    job = await published_job(harness)
    await harness.deliver(PackageCreated(job_id=job.id, package_id="p0", index=0,
                                         item_ids=["a"]))
    await harness.deliver(PackageClaimed(job_id=job.id, package_id="p0", stage="label",
                                         holder="lea"))
    await harness.deliver(PackageSubmitted(job_id=job.id, package_id="p0", labeler="lea",
                                           item_count=1))
    deleted = await harness.admin().DeleteJob(pb.DeleteJobRequest(job_id=job.id))
    assert not deleted.forced


async def test_copy_keeps_the_settings_and_starts_afresh(harness: Harness) -> None:
    harness.datasets.add("d1", versions=((1, True, 12),))
    admin = harness.admin()
    original = await admin.CreateJob(request(
        name="x" * 100, package_rule=pb.PackageRule(size=20), check_percent=40,
        labels=[pb.Label(name="pos", shortcut="p", color="#00ff00"), pb.Label(name="neg")]))
    await admin.PublishJob(pb.PublishJobRequest(job_id=original.id))
    harness.datasets.add("d1", versions=((1, True, 12), (2, True, 30)))

    copy = await admin.CopyJob(pb.CopyJobRequest(job_id=original.id))

    assert copy.id != original.id and copy.state == pb.JOB_STATE_DRAFT
    assert len(copy.name) == 100 and copy.name[:-4].endswith("-copy-")
    assert (copy.package_size, copy.check_percent, copy.topics_json) == (
        20, 40, original.topics_json)
    assert [lb.shortcut for lb in copy.labels] == ["p", ""]
    assert (copy.dataset_version, copy.item_count) == (2, 30)  # rebuilt on the dataset as is
    assert copy.copied_from == original.id and copy.progress.labeled == 0
    [created] = (await harness.events("labelops.job.created.v1"))[1:]
    assert created["data"]["copied_from"] == original.id
    named = await admin.CopyJob(pb.CopyJobRequest(job_id=original.id, name="renamed",
                                                  description="second round"))
    assert (named.name, named.description) == ("renamed", "second round")
    await refused(admin.CopyJob(pb.CopyJobRequest(job_id=original.id, name="bad name")),
                  grpc.StatusCode.INVALID_ARGUMENT, "name:")


async def test_update_changes_only_the_masked_settings(harness: Harness) -> None:
    harness.datasets.add("d1")
    admin = harness.admin()
    job = await admin.CreateJob(request())
    updated = await admin.UpdateJob(pb.UpdateJobRequest(
        job_id=job.id, update_mask=["name", "members", "check_percent"], name="renamed",
        members=pb.Members(labelers=["lea", "leo"]), check_percent=50,
        description="ignored: not in the mask"))
    assert (updated.name, updated.description, updated.check_percent) == ("renamed", "reviews",
                                                                          50)
    assert list(updated.members.labelers) == ["lea", "leo"]
    assert list(updated.members.checkers) == []
    [event] = await harness.events("labelops.job.updated.v1")
    assert event["data"]["changed"] == ["name", "members", "check_percent"]
    await refused(admin.UpdateJob(pb.UpdateJobRequest(job_id=job.id, update_mask=["template"])),
                  grpc.StatusCode.INVALID_ARGUMENT, "unknown: template")
    await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))
    await refused(admin.UpdateJob(pb.UpdateJobRequest(job_id=job.id,
                                                      update_mask=["check_percent"],
                                                      check_percent=10)),
                  grpc.StatusCode.FAILED_PRECONDITION, "only while the job is a draft")


async def test_auto_synchronised_jobs_follow_new_dataset_versions(harness: Harness) -> None:
    harness.datasets.add("d1", versions=((1, True, 10),))
    admin = harness.admin()
    synced = await admin.CreateJob(request(auto_sync=True))
    fixed = await admin.CreateJob(request(name="fixed"))
    imported = DatasetImported(dataset_id="d1", workspace="ws1", version=2, kind="text",
                               item_count=25, fields=["source"])
    assert await harness.deliver(imported) == "handled"
    assert await harness.deliver(imported) == "handled"  # again: synchronised already
    got = await admin.GetJob(pb.GetJobRequest(job_id=synced.id))
    assert (got.dataset_version, got.item_count, got.progress.total) == (2, 25, 25)
    assert (await admin.GetJob(pb.GetJobRequest(job_id=fixed.id))).item_count == 10
    [event] = await harness.events("labelops.job.updated.v1")
    assert event["data"]["item_count"] == 25 and event["data"]["job"]["auto_sync"] is True


async def test_the_answer_schema_and_the_templates_are_published(harness: Harness) -> None:
    harness.datasets.add("pics", kind="image")
    job = await harness.admin().CreateJob(request(
        dataset_id="pics", template="object_detection",
        labels=[pb.Label(name="car", attributes=[pb.LabelAttribute(name="colour",
                                                                   values=["red"])])]))
    service = harness.client("assignment", auth.SERVICE, workspace="*")
    schema = await service.GetTemplateSchema(pb.GetTemplateSchemaRequest(job_id=job.id))
    answer_schema = json.loads(schema.answer_schema_json)
    box = {"type": "rectangle", "label": "car", "x": 1, "y": 2, "width": 3, "height": 4,
           "attributes": {"colour": "red"}}
    jsonschema.validate({"objects": [box]}, answer_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"objects": [{**box, "label": "bus"}]}, answer_schema)
    assert json.loads(schema.content_json) == [{"kind": "image", "field": "source"}]
    assert json.loads(schema.topics_json)[0]["kind"] == "shape"
    templates = await harness.client("lea", auth.LABELER).ListTemplates(
        pb.ListTemplatesRequest())
    by_name = {t.name: t for t in templates.templates}
    assert list(by_name["entity_relations"].dataset_kinds) == ["text"]
    assert by_name["entity_relations"].relations and by_name["custom"].min_labels == 0


async def test_new_settings_travel_in_the_job_spec(harness: Harness) -> None:
    harness.datasets.add("d1")
    await harness.deliver(DatasetImported(dataset_id="d1", workspace="ws1", version=1,
                                          kind="text", item_count=10,
                                          fields=["source", "city", "guess"]))
    admin = harness.admin()
    job = await admin.CreateJob(request(
        workflow=pb.WORKFLOW_LABEL_CHECK, members=pb.Members(labelers=["lea"]),
        package_rule=pb.PackageRule(kind=pb.PACKAGE_RULE_GROUP, field="city", size=50),
        prelabel=pb.Prelabel(mode=pb.PRELABEL_MODE_OFFLINE,
                             mapping=[pb.FieldTopic(field="guess", topic="label")],
                             stage=pb.PRELABEL_STAGE_FORMAL),
        check_percent=30))
    await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))
    [event] = await harness.events("labelops.job.published.v1")
    spec = event["data"]["job"]
    assert (spec["package_size"], spec["check_ratio"], spec["check_percent"]) == (50, 0.3, 30)
    assert spec["package_rule"] == {"kind": "group", "size": 50, "group_field": "city",
                                    "labelers": [], "teams": []}
    assert spec["prelabel"] == {"mode": "offline", "endpoint": "", "stage": "formal",
                                "mapping": [{"field": "guess", "topic": "label"}]}
    assert spec["prelabel_field"] == "guess"
    assert spec["content"] == [{"kind": "text", "field": "source"}]
    stored = await harness.db[JOBS].find_one({"_id": job.id})
    assert all(not isinstance(v, list | dict) for k, v in stored.items()
               if k not in ("participants", "team_refs")), stored


async def test_a_change_whose_writer_died_before_applying_it_is_applied_by_the_next(
    harness: Harness,
) -> None:
    """The outbox record of version 2 exists but was never applied (its writer crashed):
    the next writer collides with it, applies it, and commits version 3 on top."""
    from datetime import UTC, datetime, timedelta

    from labelops_shared import outbox as outbox_records

    harness.datasets.add("d1")
    admin = harness.admin()
    job = await admin.CreateJob(request())
    await harness.db[outbox_records.COLLECTION].insert_one({
        "_id": f"job:{job.id}:v2", "state": outbox_records.COMMITTED, "seq": 1,
        "owner": "dead", "created_at": datetime.now(UTC) - timedelta(minutes=1),
        "ops": [{"k": "set", "c": JOBS, "id": job.id,
                 "fields": [{"path": "version", "value": 2},
                            {"path": "description", "value": "from the dead writer"}]}],
        "events": []})
    updated = await admin.UpdateJob(pb.UpdateJobRequest(job_id=job.id, update_mask=["name"],
                                                        name="after"))
    assert (updated.name, updated.description, updated.version) == (
        "after", "from the dead writer", 3)
