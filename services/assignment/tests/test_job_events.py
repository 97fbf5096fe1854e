"""The jobs service's events acted on: lifecycle (unpublish, republish, finish, delete),
settings (members, check proportion), label rename and deletion over every stored answer,
idempotent under redelivery and crashes; answers with nested arrays stored on both kinds of
database."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    JobDeleted,
    JobFinished,
    JobLabelDeleted,
    JobLabelRenamed,
    JobMembers,
    JobPublished,
    JobUnpublished,
    JobUpdated,
    LabelDef,
    Prediction,
    PredictionsReady,
)
from labelops_shared.events import new_event
from services.assignment import handlers
from services.assignment.adapters import repository
from services.assignment.adapters.repository import (
    JOBS,
    PACKAGES,
    answer_of,
)
from services.assignment.tests.conftest import ANSWER, TOPICS, Harness
from services.assignment.tests.test_api import label_all, refused

LABEL, CHECK = pb.STAGE_LABEL, pb.STAGE_CHECK
FAILED, DENIED = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED


async def _status(harness: Harness, job_id: str) -> str:
    job = await harness.db[JOBS].find_one({"_id": job_id})
    return str(job["status"])


async def _answers(harness: Harness, job_id: str) -> dict[str, Any]:
    docs = await harness.answers.find({"job_id": job_id}).to_list(None)
    return {d["item_id"]: answer_of(d) for d in docs}


# --- lifecycle ------------------------------------------------------------------------------


async def test_an_unpublished_job_refuses_claims_but_work_in_hand_goes_on(
    harness: Harness,
) -> None:
    job_id = await harness.publish_job(items=10, package_size=5, workflow="label")
    lee = harness.client("lee", auth.LABELER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    spec = await harness.spec(job_id)

    assert await harness.deliver(JobUnpublished(job_id=job_id, dataset_id=spec.dataset_id,
                                                workspace=spec.workspace)) == "handled"
    assert await _status(harness, job_id) == "unpublished"
    eve = harness.client("eve", auth.LABELER)
    await refused(eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  FAILED, f"job {job_id} is unpublished")
    await label_all(lee, package.id)  # the holder may still save and submit
    done = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED

    # Published again: claims resume, nothing is cut again.
    created = len(await harness.events("labelops.package.created.v1"))
    assert await harness.deliver(JobPublished(job_id=job_id, job=spec, item_count=10,
                                              republished=True)) == "handled"
    assert await _status(harness, job_id) == "published"
    other = await eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    assert other.id != package.id
    assert len(await harness.events("labelops.package.created.v1")) == created
    assert await harness.db[PACKAGES].count_documents({"job_id": job_id}) == 2
    done_doc = await harness.db[PACKAGES].find_one({"_id": package.id})
    assert done_doc["state"] == "accepted"


async def test_calls_reuse_a_job_read_for_a_second_but_see_this_replicas_changes_at_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The servicer's calls share a job read for ``RECENT_SECONDS``: a change another
    replica wrote shows within that long, one this replica applied shows at once."""
    job_id = await harness.publish_job(items=10, package_size=5, workflow="label")
    lee = harness.client("lee", auth.LABELER)
    await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    # Another replica handled an unpublication (written straight to the database here).
    await harness.db[JOBS].update_one({"_id": job_id}, {"$set": {"status": "unpublished"}})
    monkeypatch.setattr(repository, "RECENT_SECONDS", 60.0)
    assert (await harness.repo.recent_job(job_id) or {})["status"] == "published"
    monkeypatch.setattr(repository, "RECENT_SECONDS", 0.0)
    eve = harness.client("eve", auth.LABELER)
    await refused(eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  FAILED, f"job {job_id} is unpublished")

    monkeypatch.setattr(repository, "RECENT_SECONDS", 60.0)
    spec = await harness.spec(job_id)
    assert await harness.deliver(JobPublished(job_id=job_id, job=spec, item_count=10,
                                              republished=True)) == "handled"
    await eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))

@pytest.mark.parametrize("ending", ["finished", "deleted"])
async def test_a_finished_or_deleted_job_takes_no_claims_nor_work_and_keeps_results(
    harness: Harness, ending: str,
) -> None:
    job_id = await harness.publish_job(items=10, package_size=5, workflow="label")
    lee = harness.client("lee", auth.LABELER)
    first = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    await label_all(lee, first.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=first.id))  # accepted
    second = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    spec = await harness.spec(job_id)

    event = (JobFinished(job_id=job_id, dataset_id=spec.dataset_id, by="ada")
             if ending == "finished" else
             JobDeleted(job_id=job_id, dataset_id=spec.dataset_id, forced=True))
    assert await harness.deliver(event) == "handled"

    await refused(lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  FAILED, f"job {job_id} is {ending}")
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=second.id))
    await refused(lee.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=second.id, item_id=detail.items[0].item_id,
        answer_json=json.dumps(ANSWER))), FAILED, f"job {job_id} is {ending}")
    await refused(lee.SubmitPackage(pb.SubmitPackageRequest(package_id=second.id)),
                  FAILED, f"job {job_id} is {ending}")
    accepted = await harness.db[PACKAGES].find_one({"_id": first.id})
    assert accepted["state"] == "accepted"  # results stay
    assert len(await harness.answers.find({"package_id": first.id}).to_list(None)) == 5

    # A late lifecycle event never revives a deleted job.
    if ending == "deleted":
        await harness.deliver(JobUnpublished(job_id=job_id, dataset_id=spec.dataset_id))
        assert await _status(harness, job_id) == "deleted"


async def test_the_claim_boards_rebuild_leaves_out_the_packages_of_ended_jobs(
    harness: Harness,
) -> None:
    """Finished and deleted jobs keep their packages, but nobody claims or works on them
    again: the periodic rebuild reads only the jobs still at work (an unpublished job's
    holders still work, and their leases still run out)."""
    jobs = {name: await harness.publish_job(items=4, package_size=2, workflow="label")
            for name in ("published", "unpublished", "finished", "deleted")}
    ending = {"unpublished": JobUnpublished(job_id=jobs["unpublished"], dataset_id="d"),
              "finished": JobFinished(job_id=jobs["finished"], dataset_id="d", by="ada"),
              "deleted": JobDeleted(job_id=jobs["deleted"], dataset_id="d", forced=True)}
    for event in ending.values():
        assert await harness.deliver(event) == "handled"
    read = [doc["job_id"] async for batch in harness.repo.workflow_packages() for doc in batch]
    assert sorted(read) == sorted([jobs["published"]] * 2 + [jobs["unpublished"]] * 2)
    await harness.packages.rebuild()
    assert harness.packages.board.holds_job(jobs["unpublished"])
    assert not harness.packages.board.holds_job(jobs["finished"])
    assert await harness.db[PACKAGES].count_documents({"job_id": jobs["deleted"]}) == 2

async def test_lifecycle_events_of_a_job_never_published_here_change_nothing(
    harness: Harness,
) -> None:
    assert await harness.deliver(JobUnpublished(job_id="draft", dataset_id="d")) == "handled"
    assert await harness.deliver(JobDeleted(job_id="draft", dataset_id="d")) == "handled"
    job_id = await harness.publish_job(items=5)
    spec = await harness.spec(job_id, job_id="draft2")
    assert await harness.deliver(JobUpdated(job_id="draft2", job=spec)) == "handled"
    assert await harness.db[JOBS].find_one({"_id": "draft"}) is None
    assert await harness.db[JOBS].find_one({"_id": "draft2"}) is None


async def test_members_and_check_proportion_follow_job_updates(harness: Harness) -> None:
    job_id = await harness.publish_job(items=20, package_size=10, workflow="label_check",
                                       check_ratio=1.0, labelers=["lee"])
    lee, eve = harness.client("lee", auth.LABELER), harness.client("eve", auth.LABELER)
    await refused(eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  DENIED, "labelers")
    members = JobMembers(labelers=["eve"], checkers=["cho"], labeler_teams=["t1"])
    spec = await harness.spec(job_id, members=members, check_ratio=0.2, check_percent=20)
    assert await harness.deliver(JobUpdated(job_id=job_id, job=spec,
                                            changed=["members", "check_percent"])) == "handled"

    await refused(lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL)),
                  DENIED, "labelers")
    package = await eve.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    await label_all(eve, package.id)
    await eve.SubmitPackage(pb.SubmitPackageRequest(package_id=package.id))
    await refused(harness.client("ivy", auth.CHECKER).ClaimPackage(
        pb.ClaimPackageRequest(job_id=job_id, stage=CHECK)), DENIED, "checkers")
    cho = harness.client("cho", auth.CHECKER)
    await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=CHECK))
    checked = await harness.db[PACKAGES].find_one({"_id": package.id})
    assert len(checked["to_inspect"]) == 2  # 20% of 10, the new proportion
    job = await harness.db[JOBS].find_one({"_id": job_id})
    assert job["package_count"] == 2 and job["status"] == "published"


# --- labels ---------------------------------------------------------------------------------


RENAMED = [{"name": "label", "kind": "single_choice", "options": ["positive", "neg"]},
           TOPICS[1]]


async def _labelled(harness: Harness, answers: list[dict[str, Any]]) -> tuple[str, str]:
    """A job whose first package lee labelled with these answers (in turn), with a
    pre-label on its first item."""
    job_id = await harness.publish_job(items=10, package_size=5, workflow="label")
    lee = harness.client("lee", auth.LABELER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    for n, item in enumerate(detail.items):
        await lee.SaveAnnotation(pb.SaveAnnotationRequest(
            package_id=package.id, item_id=item.item_id,
            answer_json=json.dumps(answers[n % len(answers)])))
    await harness.deliver(PredictionsReady(job_id=job_id, source="offline", predictions=[
        Prediction(item_id=detail.items[0].item_id, topic="label", answer="pos"),
        Prediction(item_id=detail.items[0].item_id, topic="tags", answer=["x"])]))
    return job_id, package.id


async def test_a_renamed_label_reaches_every_answer_and_pre_label_once(
    harness: Harness,
) -> None:
    job_id, package_id = await _labelled(harness, [ANSWER, {"label": "neg", "tags": ["y"]}])
    spec = await harness.spec(job_id, topics=RENAMED,
                              labels=[LabelDef(name="positive"), LabelDef(name="neg")])
    event = new_event(JobLabelRenamed(job_id=job_id, kind="entity", old_name="pos",
                                      new_name="positive", job=spec), source="/labelops/test")
    raw = event.to_bytes()
    assert await harness.deliver_raw(raw, JobLabelRenamed.TOPIC) == "handled"

    answers = await _answers(harness, job_id)
    assert sorted(a["label"] for a in answers.values()) == ["neg", "neg", "positive",
                                                            "positive", "positive"]
    job = await harness.db[JOBS].find_one({"_id": job_id})
    assert job["topics"] == RENAMED and [lbl["name"] for lbl in job["labels"]] == [
        "positive", "neg"]
    lee = harness.client("lee", auth.LABELER)
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package_id))
    assert json.loads(detail.items[0].prelabel_json) == {"label": "positive", "tags": ["x"]}
    assert json.loads(detail.items[0].answer_json)["label"] == "positive"

    # The old name is refused from now on, the new one taken.
    save = pb.SaveAnnotationRequest(package_id=package_id, item_id=detail.items[1].item_id,
                                    answer_json=json.dumps(ANSWER))
    await refused(lee.SaveAnnotation(save), grpc.StatusCode.INVALID_ARGUMENT,
                  "topic 'label' at label: 'pos' is not one of 'positive', 'neg'")
    save.answer_json = json.dumps({"label": "positive", "tags": ["x"]})
    await lee.SaveAnnotation(save)

    # Redelivered: recognised; the same rename announced again: nothing changes.
    before = await harness.answers.find({"job_id": job_id}).sort("_id", 1).to_list(None)
    assert await harness.deliver_raw(raw, JobLabelRenamed.TOPIC) == "duplicate"
    assert await harness.deliver(JobLabelRenamed(job_id=job_id, kind="entity", old_name="pos",
                                                 new_name="positive", job=spec)) == "handled"
    after = await harness.answers.find({"job_id": job_id}).sort("_id", 1).to_list(None)
    assert after == before


async def test_a_rename_interrupted_by_a_crash_completes_on_redelivery(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id, _ = await _labelled(harness, [ANSWER])
    monkeypatch.setattr(handlers, "REWRITES_PER_COMMIT", 2)
    real = harness.repo.job_prelabels
    calls = 0

    def crashing(job: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the annotations' parts are committed, then the process "dies"
            raise RuntimeError("crash")
        return real(job)

    monkeypatch.setattr(harness.repo, "job_prelabels", crashing)
    spec = await harness.spec(job_id, topics=RENAMED)
    assert await harness.deliver(JobLabelRenamed(job_id=job_id, kind="entity", old_name="pos",
                                                 new_name="positive", job=spec)) == "handled"
    assert calls == 2  # retried by the consumer
    answers = await _answers(harness, job_id)
    assert {a["label"] for a in answers.values()} == {"positive"}
    prelabels = await harness.repo.prelabels(job_id, list(answers))
    assert [p["label"] for p in prelabels.values()] == ["positive"]


async def test_a_deleted_label_leaves_answers_and_their_only_label_needs_relabelling(
    harness: Harness,
) -> None:
    job_id, package_id = await _labelled(harness, [ANSWER, {"label": "neg", "tags": ["y"]}])
    topics = [{"name": "label", "kind": "single_choice", "options": ["neg"]}, TOPICS[1]]
    spec = await harness.spec(job_id, topics=topics, labels=[LabelDef(name="neg")])
    assert await harness.deliver(JobLabelDeleted(job_id=job_id, kind="entity", name="pos",
                                                 job=spec)) == "handled"

    docs = await harness.answers.find({"job_id": job_id}).to_list(None)
    flagged = [d for d in docs if d.get("needs_relabel")]
    assert len(flagged) == 3 and len(docs) == 5
    assert all(answer_of(d) == {"tags": ["x"]} for d in flagged)
    assert "label 'pos' was deleted" in flagged[0]["relabel_reason"]
    lee = harness.client("lee", auth.LABELER)
    details = await refused(lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package_id)),
                            FAILED, "3 of 5 items have no answer")
    assert "label 'pos' was deleted" in details
    for doc in flagged:  # answered again, the package goes
        await lee.SaveAnnotation(pb.SaveAnnotationRequest(
            package_id=package_id, item_id=doc["item_id"],
            answer_json=json.dumps({"label": "neg", "tags": ["x"]})))
    done = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package_id))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED


async def test_deleting_an_items_only_label_marks_it_for_relabelling(harness: Harness) -> None:
    topics = [{"name": "tags", "kind": "multiple_choice", "options": ["x", "y", "z"]}]
    job_id = await harness.publish_job(items=2, package_size=2, workflow="label",
                                       topics=topics, labels=["x", "y", "z"])
    lee = harness.client("lee", auth.LABELER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    only, mixed = (i.item_id for i in detail.items)
    for item_id, tags in ((only, ["x"]), (mixed, ["x", "y"])):
        await lee.SaveAnnotation(pb.SaveAnnotationRequest(
            package_id=package.id, item_id=item_id, answer_json=json.dumps({"tags": tags})))
    spec = await harness.spec(job_id, topics=[{**topics[0], "options": ["y", "z"]}])
    assert await harness.deliver(JobLabelDeleted(job_id=job_id, kind="entity", name="x",
                                                 delete_items=True, job=spec)) == "handled"
    docs = {d["item_id"]: d for d in
            await harness.answers.find({"job_id": job_id}).to_list(None)}
    assert answer_of(docs[mixed]) == {"tags": ["y"]} and not docs[mixed].get("needs_relabel")
    assert answer_of(docs[only]) == {} and docs[only]["needs_relabel"] is True
    assert docs[only]["relabel_reason"] == (
        "label 'x', the item's only label, was deleted with its items")


# --- answers with nested arrays -------------------------------------------------------------


SHAPES = [{"name": "objects", "kind": "shape", "field": "image", "labels": ["car", "dog"],
           "inside": True}]
POLYGON = {"objects": [{"type": "polygon", "label": "dog",
                        "points": [[0, 0], [50, 0], [50, 40]]}]}


async def test_shapes_are_validated_with_the_image_and_stored_on_any_database(
    harness: Harness,
) -> None:
    harness.datasets.extra = {"width": 100, "height": 60}
    job_id = await harness.publish_job(items=2, package_size=2, workflow="label",
                                       topics=SHAPES, labels=["car", "dog"],
                                       template="image_segmentation")
    lee = harness.client("lee", auth.LABELER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id, stage=LABEL))
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    save = pb.SaveAnnotationRequest(package_id=package.id, item_id=detail.items[0].item_id)
    outside = {"objects": [{"type": "polygon", "label": "dog",
                            "points": [[0, 0], [50, 0], [50, 400]]}]}
    save.answer_json = json.dumps(outside)
    await refused(lee.SaveAnnotation(save), grpc.StatusCode.INVALID_ARGUMENT,
                  "topic 'objects' at objects[0].points[2]: (50, 400) is outside the image "
                  "(100 x 60)")
    save.answer_json = json.dumps(POLYGON)
    assert (await lee.SaveAnnotation(save)).revision == 1
    await harness.deliver(PredictionsReady(job_id=job_id, source="model", predictions=[
        Prediction(item_id=detail.items[1].item_id, topic="objects",
                   answer=POLYGON["objects"])]))

    spec = await harness.spec(job_id, topics=[{**SHAPES[0], "labels": ["car", "hound"]}])
    assert await harness.deliver(JobLabelRenamed(job_id=job_id, kind="entity", old_name="dog",
                                                 new_name="hound", job=spec)) == "handled"
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    hound = {"objects": [{**POLYGON["objects"][0], "label": "hound"}]}
    assert json.loads(detail.items[0].answer_json) == hound
    assert json.loads(detail.items[1].prelabel_json) == hound
