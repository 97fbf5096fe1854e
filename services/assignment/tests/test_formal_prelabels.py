"""Formal pre-labels: a package still waiting for its first labeler whose every item has a
valid pre-label is submitted by the system, skipping labeling; anything less leaves it to
people. A check rejection of such a package sends it to the open pool."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    FieldTopic,
    ItemsAdded,
    JobCompleted,
    PackageAccepted,
    PackageSubmitted,
    Prediction,
    PredictionsReady,
    PrelabelSpec,
)
from services.assignment import handlers
from services.assignment.tests.conftest import ANSWER, WORKSPACE, Harness
from services.assignment.tests.support import (
    CHECK,
    claim,
    kinds,
    label_all,
    package_events,
    pass_check,
    publish,
    refused,
    stored,
)

FORMAL = PrelabelSpec(mode="offline", stage="formal",
                      mapping=[FieldTopic(field="sentiment", topic="label"),
                               FieldTopic(field="keywords", topic="tags")])
SUBMITTED = PackageSubmitted.TYPE


def predictions(job_id: str, answers: dict[str, Any]) -> PredictionsReady:
    """Pre-labels per item: {item id: {topic: answer}}."""
    return PredictionsReady(job_id=job_id, source="offline", predictions=[
        Prediction(item_id=item_id, topic=topic, answer=answer)
        for item_id, answer_set in answers.items() for topic, answer in answer_set.items()])


def valid(*item_ids: str) -> dict[str, Any]:
    return {i: {"label": "neg", "tags": ["y"]} for i in item_ids}


async def test_a_fully_prelabeled_package_goes_straight_to_check(harness: Harness) -> None:
    job_id, _, items = await publish(harness, items=6, package_size=3, prelabel=FORMAL,
                                     workflow="label_check")
    first, second = f"{job_id}-p000000", f"{job_id}-p000001"
    assert await harness.deliver(predictions(job_id, valid(*items[:5]))) == "handled"

    doc = await stored(harness, first)
    assert (doc["state"], doc["holder"], doc["labeler"]) == ("to_check", "", "prelabel")
    [submitted] = await package_events(harness, first, SUBMITTED)
    assert submitted["data"] == {
        "job_id": job_id, "package_id": first, "labeler": "prelabel", "item_count": 3,
        "skipped_labeling": True,
        "items": [{"item_id": i, "answer": {"label": "neg", "tags": ["y"]}, "hard": False,
                   "invalid": False} for i in items[:3]]}
    assert (await stored(harness, second))["state"] == "open"  # two of three pre-labeled

    # Labelers get the package still needing people; checkers the pre-labeled one.
    lee, cho = harness.client("lee", auth.LABELER), harness.client("cho", auth.CHECKER)
    mine = await claim(lee, job_id)
    assert mine.id == second
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=second))
    assert [json.loads(i.prelabel_json) if i.prelabel_json else None
            for i in detail.items] == [{"label": "neg", "tags": ["y"]}] * 2 + [None]
    checking = await claim(cho, job_id, CHECK)
    assert (checking.id, checking.labeler) == (first, "prelabel")
    detail = await cho.GetPackage(pb.GetPackageRequest(package_id=first))
    assert {i.answer_json for i in detail.items} == {json.dumps({"label": "neg",
                                                                "tags": ["y"]})}
    passed = await pass_check(cho, first)
    assert passed.state == pb.PACKAGE_STATE_ACCEPTED
    [accepted] = await package_events(harness, first, PackageAccepted.TYPE)
    assert {(i["labeler"], json.dumps(i["answer"])) for i in accepted["data"]["items"]} == {
        ("prelabel", json.dumps({"label": "neg", "tags": ["y"]}))}

    # A package being labeled is the labeler's, however many pre-labels arrive.
    assert await harness.deliver(predictions(job_id, valid(items[5]))) == "handled"
    assert (await stored(harness, second))["state"] == "labeling"


async def test_a_label_only_job_accepts_prelabeled_packages_and_completes(
    harness: Harness,
) -> None:
    job_id, _, items = await publish(harness, items=4, package_size=2, prelabel=FORMAL)
    assert await harness.deliver(predictions(job_id, valid(*items[:2]))) == "handled"
    first = f"{job_id}-p000000"
    assert (await stored(harness, first))["state"] == "accepted"
    assert kinds(await package_events(harness, first)) == ["created", "submitted", "accepted"]
    [submitted] = await package_events(harness, first, SUBMITTED)
    assert submitted["data"]["skipped_labeling"] is True
    [accepted] = await package_events(harness, first, PackageAccepted.TYPE)
    assert accepted["data"]["accepter"] == ""
    assert [(i["item_id"], i["answer"], i["labeler"]) for i in accepted["data"]["items"]] == [
        (i, {"label": "neg", "tags": ["y"]}, "prelabel") for i in items[:2]]
    assert accepted["data"]["items"][0]["data"]["text"] == f"text of {items[0]}"
    assert await harness.events(JobCompleted.TYPE) == []

    assert await harness.deliver(predictions(job_id, valid(*items[2:]))) == "handled"
    [completed] = await harness.events(JobCompleted.TYPE)  # every package accepted
    assert completed["data"] == {"job_id": job_id, "package_count": 2, "item_count": 4}


async def test_an_invalid_or_incomplete_prelabel_leaves_the_package_to_people(
    harness: Harness,
) -> None:
    job_id, _, items = await publish(harness, items=6, package_size=3, prelabel=FORMAL,
                                     workflow="label_check")
    answers = valid(*items)
    answers[items[1]] = {"label": "maybe", "tags": ["y"]}  # not an option
    answers[items[4]] = {"label": "pos"}  # the required tags are missing
    assert await harness.deliver(predictions(job_id, answers)) == "handled"
    assert [(await stored(harness, f"{job_id}-p00000{n}"))["state"] for n in (0, 1)] == [
        "open", "open"]
    assert await harness.events(SUBMITTED) == []
    lee = harness.client("lee", auth.LABELER)
    package = await claim(lee, job_id)
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    assert json.loads(detail.items[1].prelabel_json) == {"label": "maybe", "tags": ["y"]}
    assert not any(i.answer_json for i in detail.items)  # nothing was saved for people


async def test_plain_prelabels_never_skip_labeling(harness: Harness) -> None:
    job_id, _, items = await publish(
        harness, items=3, package_size=3,
        prelabel=PrelabelSpec(mode="offline", stage="prelabel", mapping=FORMAL.mapping))
    assert await harness.deliver(predictions(job_id, valid(*items))) == "handled"
    assert (await stored(harness, f"{job_id}-p000000"))["state"] == "open"


async def test_a_rejected_prelabeled_package_returns_to_the_open_pool(
    harness: Harness,
) -> None:
    job_id, _, items = await publish(harness, items=3, package_size=3, prelabel=FORMAL,
                                     workflow="label_check")
    package_id = f"{job_id}-p000000"
    assert await harness.deliver(predictions(job_id, valid(*items))) == "handled"
    cho = harness.client("cho", auth.CHECKER)
    await claim(cho, job_id, CHECK)
    review = pb.ReviewPackageRequest(package_id=package_id, passed=False)
    review.rejections.add(item_id=items[2], reason="the model missed the sarcasm")
    back = await cho.ReviewPackage(review)
    assert (back.state, back.holder, back.labeler, back.rework_count) == (
        pb.PACKAGE_STATE_OPEN, "", "", 1)

    # More pre-labels for it arrive (a model re-run): the rejection stands.
    assert await harness.deliver(predictions(job_id, valid(*items))) == "handled"
    assert (await stored(harness, package_id))["state"] == "open"
    assert len(await package_events(harness, package_id, SUBMITTED)) == 1

    lee = harness.client("lee", auth.LABELER)
    mine = await claim(lee, job_id)
    assert (mine.id, mine.labeler) == (package_id, "lee")
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package_id))
    assert detail.items[2].rejection_reason == "the model missed the sarcasm"
    assert json.loads(detail.items[0].answer_json) == {"label": "neg", "tags": ["y"]}
    await label_all(lee, package_id)
    done = await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=package_id))
    assert (done.state, done.labeler) == (pb.PACKAGE_STATE_TO_CHECK, "lee")
    last = (await package_events(harness, package_id, SUBMITTED))[-1]
    assert (last["data"]["labeler"], last["data"]["skipped_labeling"]) == ("lee", False)
    assert last["data"]["items"][0]["answer"] == ANSWER


async def test_prelabels_arriving_before_the_cut_are_applied_at_cut_time(
    harness: Harness,
) -> None:
    job_id = uuid.uuid4().hex
    dataset_id = f"d{job_id[:6]}"
    items = harness.datasets.add(dataset_id, 1, 6)
    assert await harness.deliver(predictions(job_id, valid(*items[:3]))) == "handled"
    await publish(harness, package_size=3, prelabel=FORMAL, workflow="label_check",
                  dataset=dataset_id, job_id=job_id)
    first = f"{job_id}-p000000"
    assert (await stored(harness, first))["state"] == "to_check"
    assert kinds(await package_events(harness, first)) == ["created", "submitted"]
    assert (await stored(harness, f"{job_id}-p000001"))["state"] == "open"


async def test_a_job_fully_prelabeled_before_its_cut_completes_at_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handlers, "PACKAGES_PER_COMMIT", 2)  # the cut commits in parts
    job_id = uuid.uuid4().hex
    dataset_id = f"d{job_id[:6]}"
    items = harness.datasets.add(dataset_id, 1, 10)
    assert await harness.deliver(predictions(job_id, valid(*items))) == "handled"
    await publish(harness, package_size=2, prelabel=FORMAL, dataset=dataset_id,
                  job_id=job_id)
    accepted = [e for e in await harness.events(PackageAccepted.TYPE)
                if e["data"]["job_id"] == job_id]
    assert len(accepted) == 5
    [completed] = await harness.events(JobCompleted.TYPE)  # once, when the cut ended
    assert completed["data"] == {"job_id": job_id, "package_count": 5, "item_count": 10}


async def test_new_items_already_prelabeled_skip_labeling(harness: Harness) -> None:
    job_id, dataset_id, _ = await publish(harness, items=3, package_size=3, prelabel=FORMAL,
                                          workflow="label_check", auto_sync=True)
    newer = harness.datasets.add(dataset_id, 2, 3)
    assert await harness.deliver(predictions(job_id, valid(*newer))) == "handled"
    assert await harness.deliver(ItemsAdded(
        dataset_id=dataset_id, workspace=WORKSPACE, version=2, chunk=0, chunks=1,
        item_ids=newer)) == "handled"
    synced = await stored(harness, f"{job_id}-p000001")
    assert (synced["item_ids"], synced["state"], synced["labeler"]) == (
        newer, "to_check", "prelabel")
    checking = await claim(harness.client("cho", auth.CHECKER), job_id, CHECK)
    assert checking.id == synced["_id"]
    await refused(claim(harness.client("cy", auth.CHECKER), job_id, CHECK),
                  grpc.StatusCode.NOT_FOUND)


async def test_a_claim_made_while_the_system_decides_wins(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Forced interleaving: the handler found the package open, a labeler claimed it before
    the handler's submit. The labeler keeps it; the system submits nothing."""
    job_id, _, items = await publish(harness, items=3, package_size=3, prelabel=FORMAL,
                                     workflow="label_check")
    lee = harness.client("lee", auth.LABELER)
    read_prelabels = harness.repo.prelabels_and_marks
    claimed: list[str] = []

    async def reading(*args: Any, **kwargs: Any) -> Any:
        if not claimed:
            claimed.append((await claim(lee, job_id)).id)
        return await read_prelabels(*args, **kwargs)

    monkeypatch.setattr(harness.repo, "prelabels_and_marks", reading)
    assert await harness.deliver(predictions(job_id, valid(*items))) == "handled"
    package_id = f"{job_id}-p000000"
    assert claimed == [package_id]
    doc = await stored(harness, package_id)
    assert (doc["state"], doc["holder"], doc["version"]) == ("labeling", "lee", 1)
    assert kinds(await package_events(harness, package_id)) == ["created", "claimed"]
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package_id))
    assert all(json.loads(i.prelabel_json) == {"label": "neg", "tags": ["y"]}
               for i in detail.items)  # shown to confirm


@pytest.mark.integration
@pytest.mark.parametrize("db", ["ferretdb"], indirect=True)
@pytest.mark.parametrize("lead", [0.0, 0.004, 0.01])
async def test_a_claim_racing_the_formal_submit_ends_in_one_state(
    harness: Harness, lead: float, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A labeler claims (on another replica) ``lead`` seconds after the handler of the
    pre-labels starts deciding about the package: either the labeler holds it and nothing
    was submitted for it, or the system submitted it and the claim found nothing."""
    job_id, _, items = await publish(harness, items=3, package_size=3, prelabel=FORMAL,
                                     workflow="label_check")
    lee = harness.client("lee", auth.LABELER, stub=await harness.replica())
    await harness.packages.rebuild()
    deciding = asyncio.Event()
    find_packages = harness.repo.packages_holding

    async def finding(*args: Any, **kwargs: Any) -> Any:
        deciding.set()
        return await find_packages(*args, **kwargs)

    monkeypatch.setattr(harness.repo, "packages_holding", finding)

    async def grab() -> str:
        await asyncio.wait_for(deciding.wait(), timeout=10)
        await asyncio.sleep(lead)
        try:
            return (await claim(lee, job_id)).id
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.NOT_FOUND, exc
            return ""

    claimed, handled = await asyncio.gather(
        grab(), harness.deliver(predictions(job_id, valid(*items))))
    assert handled == "handled"
    package_id = f"{job_id}-p000000"
    doc = await stored(harness, package_id)
    events = kinds(await package_events(harness, package_id))
    assert doc["version"] == 1
    if claimed:
        assert (doc["state"], doc["holder"], doc["labeler"]) == ("labeling", "lee", "lee")
        assert events == ["created", "claimed"]
    else:
        assert (doc["state"], doc["holder"], doc["labeler"]) == ("to_check", "", "prelabel")
        assert events == ["created", "submitted"]


async def test_auto_labels_to_be_confirmed_are_shown_never_submitted(harness: Harness) -> None:
    """Auto labeling's predictions wait for a worker to confirm or correct them, even on a
    formal job; the worker sees them with the model's confidence and hard marks."""
    job_id, _, items = await publish(harness, items=3, package_size=3, prelabel=FORMAL,
                                     workflow="label_check")
    auto = PredictionsReady(job_id=job_id, source="auto", to_confirm=True, predictions=[
        Prediction(item_id=i, topic=topic, answer=answer, confidence=0.9 - n / 10,
                   hard=n == 2)
        for n, i in enumerate(items) for topic, answer in valid(i)[i].items()])
    assert await harness.deliver(auto) == "handled"
    assert (await stored(harness, f"{job_id}-p000000"))["state"] == "open"
    lee = harness.client("lee", auth.LABELER)
    package = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job_id,
                                                            stage=pb.STAGE_LABEL))
    detail = await lee.GetPackage(pb.GetPackageRequest(package_id=package.id))
    shown = [(json.loads(i.prelabel_json), i.prelabel_to_confirm, i.prelabel_hard,
              round(i.prelabel_confidence, 2), i.prelabel_source) for i in detail.items]
    assert shown == [({"label": "neg", "tags": ["y"]}, True, n == 2, round(0.9 - n / 10, 2),
                      "auto") for n in range(3)]
