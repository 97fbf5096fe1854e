"""Auto-labeling runs through the real gRPC server: bookkeeping built from assignment events,
each precondition refused, a text run and an image run (held-out accuracy, "to be
confirmed" predictions with confidences and hard examples, the run's record and events),
training on submitted answers, and a dead run's lock taken over."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    AcceptedItem,
    JobSpec,
    PackageAccepted,
    PackageCreated,
    PackageItemsRemoved,
    PackageSubmitted,
    SubmittedItem,
)
from services.prelabel.adapters.repository import RUN_LOCKS, RUNS
from services.prelabel.tests.conftest import Harness, spec
from services.prelabel.tests.test_learning import coloured_image, synthetic_texts

TOPIC = {"name": "label", "kind": "single_choice", "options": ["sport", "food", "tech"]}
COLOURS = {"name": "colour", "kind": "single_choice", "options": ["red", "green", "blue"]}


async def text_job(harness: Harness, n: int = 120, labeled: int = 30,
                   accept: bool = True) -> tuple[JobSpec, list[str], list[str]]:
    texts, labels = synthetic_texts(n, seed=11)
    ids = harness.items.add_data("d1", [{"source": t} for t in texts])
    job = spec(prelabel_field="", topics=[TOPIC])
    await harness.publish(job)
    await harness.deliver(PackageCreated(job_id=job.job_id, package_id="p1", index=0,
                                         item_ids=ids))
    if accept:
        await accept_items(harness, job, ids[:labeled], labels[:labeled])
    return job, ids, labels


async def accept_items(harness: Harness, job: JobSpec, ids: list[str], labels: list[str],
                       topic: str = "label", revision: int = 1) -> None:
    await harness.deliver(PackageAccepted(job_id=job.job_id, package_id="p1", accepter="ava",
                                          items=[AcceptedItem(item_id=i, data={},
                                                              answer={topic: lb},
                                                              labeler="lee", revision=revision)
                                                 for i, lb in zip(ids, labels, strict=True)]))


async def finished(harness: Harness, run_id: str) -> pb.AutoLabelRun:
    task = harness.runs.tasks.get(run_id)
    if task is not None:
        await asyncio.wait_for(task, timeout=60)
    run: pb.AutoLabelRun = await harness.admin().GetAutoLabelRun(
        pb.GetAutoLabelRunRequest(run_id=run_id))
    return run


async def refusal(harness: Harness, job_id: str, **kwargs: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id=job_id, **kwargs))
    return info.value


async def test_a_text_run_labels_the_unlabeled_items_to_be_confirmed(harness: Harness) -> None:
    job, ids, labels = await text_job(harness)
    run = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(
        job_id=job.job_id, confidence_threshold=0.7, margin_threshold=0.2))
    assert run.state == "running" and run.model_version == "text-tfidf-logreg/v1"
    assert (run.requested_by, run.train_on, run.topic) == ("ada", pb.TRAIN_ON_ACCEPTED, "label")

    done = await finished(harness, run.run_id)
    assert done.state == "done", done.error
    assert done.labeled == 90 and done.train_items + done.held_out_items == 30
    assert done.accuracy > done.baseline_accuracy
    assert done.finished_at and done.confidence_threshold == 0.7

    [chunk] = await harness.predictions()
    assert (chunk["source"], chunk["to_confirm"], chunk["run_id"], chunk["model_version"]) == (
        "auto", True, run.run_id, "text-tfidf-logreg/v1")
    predicted = {p["item_id"]: p for p in chunk["predictions"]}
    assert sorted(predicted) == sorted(ids[30:])
    right = sum(predicted[i]["answer"] == label for i, label in zip(ids[30:], labels[30:],
                                                                    strict=True))
    assert right / 90 > 0.7
    hard = [p for p in chunk["predictions"] if p["hard"]]
    assert done.hard_examples == len(hard) > 0
    # With these thresholds (and probabilities summing to 1) hard means below 0.7.
    assert all((p["confidence"] < 0.7) == p["hard"] for p in chunk["predictions"])
    assert all(0 < p["confidence"] <= 1 for p in predicted.values())
    [found] = await harness.events("hard_examples_found")
    assert found["item_ids"] == [p["item_id"] for p in hard]
    [started] = await harness.events("auto_label_started")
    [ended] = await harness.events("auto_label_finished")
    assert started["run_id"] == ended["run_id"] == run.run_id
    assert (ended["state"], ended["labeled"]) == ("done", 90)
    assert await harness.db[RUN_LOCKS].find_one({"_id": job.job_id}) is None

    listed = await harness.admin().ListAutoLabelRuns(
        pb.ListAutoLabelRunsRequest(job_id=job.job_id))
    assert [r.run_id for r in listed.runs] == [run.run_id]
    second = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id=job.job_id))
    assert second.model_version == "text-tfidf-logreg/v2"
    await finished(harness, second.run_id)


async def test_each_precondition_is_refused_over_grpc(harness: Harness) -> None:
    job, ids, labels = await text_job(harness, n=40, accept=False)
    error = await refusal(harness, job.job_id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "at least 2 labels each used on at least 5 labeled items" in (error.details() or "")
    await accept_items(harness, job, ids[:12], ["sport"] * 6 + ["food"] * 6)
    await accept_items(harness, job, ids[12:], ["tech"] * 28)
    error = await refusal(harness, job.job_id)
    assert "at least one unlabeled item" in (error.details() or "")
    await harness.deliver(PackageCreated(job_id=job.job_id, package_id="p2", index=1,
                                         item_ids=["late-1"]))
    error = await refusal(harness, job.job_id, confidence_threshold=2.0)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "confidence_threshold: between 0 and 1" in (error.details() or "")

    gate = asyncio.Event()
    original = harness.items.get_items

    async def held(dataset_id: str, item_ids: Any) -> Any:
        await gate.wait()
        return await original(dataset_id, item_ids)

    harness.items.get_items = held  # type: ignore[method-assign]
    run = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id=job.job_id))
    error = await refusal(harness, job.job_id)
    assert (error.details() or "") == (f"auto-labeling run {run.run_id} of this job is still "
                                       "in progress; wait for it to finish")
    gate.set()
    done = await finished(harness, run.run_id)
    # "late-1" is not in the dataset: the run fails to read it and says so.
    assert done.state == "failed" and "none of the 1 unlabeled items could be read" in done.error


async def test_who_may_start_and_read_runs(harness: Harness) -> None:
    job, _, _ = await text_job(harness, n=40)
    request = pb.StartAutoLabelRequest(job_id=job.job_id)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("lee", auth.LABELER).StartAutoLabel(request)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("eve", auth.WORKSPACE_ADMIN, workspace="ws2").StartAutoLabel(
            request)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.admin().GetAutoLabelRun(pb.GetAutoLabelRunRequest(run_id="nope"))
    assert "auto-labeling run 'nope' not found" in (info.value.details() or "")


async def test_training_on_submitted_answers(harness: Harness) -> None:
    job, ids, labels = await text_job(harness, n=60, accept=False)
    await harness.deliver(PackageSubmitted(
        job_id=job.job_id, package_id="p1", labeler="lee", item_count=20,
        items=[SubmittedItem(item_id=i, answer={"label": lb})
               for i, lb in zip(ids[:20], labels[:20], strict=True)]))
    error = await refusal(harness, job.job_id)
    assert "labeled items per label: none" in (error.details() or "")
    run = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(
        job_id=job.job_id, train_on=pb.TRAIN_ON_SUBMITTED))
    done = await finished(harness, run.run_id)
    assert (done.state, done.train_on, done.labeled) == ("done", pb.TRAIN_ON_SUBMITTED, 40)


async def test_removed_items_are_not_labeled(harness: Harness) -> None:
    job, ids, _ = await text_job(harness, n=40)
    await harness.deliver(PackageItemsRemoved(job_id=job.job_id, package_id="p1",
                                              item_ids=ids[35:], reason="deleted"))
    run = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id=job.job_id))
    assert (await finished(harness, run.run_id)).labeled == 5


async def test_an_image_run_learns_from_pixels_and_reports_unreadable_images(
    harness: Harness,
) -> None:
    rng = random.Random(5)
    colours = [rng.choice(["red", "green", "blue"]) for _ in range(60)]
    records = []
    for n, colour in enumerate(colours):
        uri = f"s3://labelops-datasets/imgs/{n}.png"
        harness.media.objects[uri] = coloured_image(colour, rng)
        records.append({"source": uri})
    records.append({"source": "s3://labelops-datasets/imgs/missing.png"})
    ids = harness.items.add_data("d1", records)
    job = spec(prelabel_field="", topics=[COLOURS], content=[{"kind": "image",
                                                              "field": "source"}])
    await harness.publish(job)
    await harness.deliver(PackageCreated(job_id=job.job_id, package_id="p1", index=0,
                                         item_ids=ids))
    await accept_items(harness, job, ids[:24], colours[:24], topic="colour")

    run = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id=job.job_id))
    assert run.algorithm == "image"
    done = await finished(harness, run.run_id)
    assert (done.state, done.labeled, done.failed) == ("done", 36, 1), done.error
    assert done.accuracy >= 0.8
    [chunk] = await harness.predictions()
    right = sum(p["answer"] == colours[ids.index(p["item_id"])] for p in chunk["predictions"])
    assert right / 36 > 0.8
    [failed] = await harness.events("failed")
    assert failed["source"] == "auto" and failed["failures"][0]["item_id"] == ids[-1]
    assert "NoSuchKey" in failed["failures"][0]["reason"]


async def test_a_dead_runs_lock_is_taken_over(harness: Harness) -> None:
    job, _, _ = await text_job(harness, n=40)
    old = datetime.now(UTC) - timedelta(minutes=5)
    await harness.db[RUNS].insert_one({"_id": "dead", "job_id": job.job_id, "workspace": "ws1",
                                       "state": "running", "number": 1, "started_at": old,
                                       "model_version": "text-tfidf-logreg/v1"})
    await harness.db[RUN_LOCKS].insert_one({"_id": job.job_id, "run_id": "dead",
                                            "heartbeat_at": old})
    run = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id=job.job_id))
    assert run.model_version == "text-tfidf-logreg/v2"
    dead = await harness.admin().GetAutoLabelRun(pb.GetAutoLabelRunRequest(run_id="dead"))
    assert dead.state == "failed" and "interrupted" in dead.error
    await finished(harness, run.run_id)


async def test_stale_locks_are_expired_in_the_background(harness: Harness) -> None:
    old = datetime.now(UTC) - timedelta(minutes=5)
    await harness.db[RUNS].insert_one({"_id": "dead", "job_id": "j9", "workspace": "ws1",
                                       "state": "running", "number": 1, "started_at": old})
    await harness.db[RUN_LOCKS].insert_one({"_id": "j9", "run_id": "dead", "heartbeat_at": old})
    assert await harness.runs.expire_stale() == 1
    assert await harness.db[RUN_LOCKS].find_one({"_id": "j9"}) is None
    assert (await harness.db[RUNS].find_one({"_id": "dead"}))["state"] == "failed"
