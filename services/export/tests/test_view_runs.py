"""A run of accepted and revised events (one Kafka poll) is taken into the view together,
in one insert and one commit, with the same result as handling them one after the other:
per item its newest revision (the first event bringing it on a tie), each job's count
moved by its new items, a redelivery of the run (whole, cut otherwise, or one event alone)
changing nothing, and a crash before the run's commit redone to the same view and counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from labelops_shared.annotations import build_template
from labelops_shared.contracts import AcceptedItem, ItemRevised, PackageAccepted
from labelops_shared.events import Envelope, new_event
from labelops_shared.kafka import ConsumedMessage
from services.export.adapters.repository import COUNTS, LABELED
from services.export.tests.conftest import Harness

TEXT = build_template("text_classification", [{"name": "pos"}, {"name": "neg"}]).to_dict()


def _accepted(job: str, package: str, items: list[tuple[int, str, int]]) -> Envelope[Any]:
    """``items``: (item number, label, revision)."""
    return new_event(PackageAccepted(job_id=job, package_id=package, accepter="acc", items=[
        AcceptedItem(item_id=f"ds1:1:{n:04d}", data={"text": f"t{n}"}, answer={"label": label},
                     labeler="lee", revision=revision) for n, label, revision in items]),
        source="/labelops/test")


def _revised(job: str, n: int, label: str, revision: int) -> Envelope[Any]:
    return new_event(ItemRevised(job_id=job, package_id="p1", item_id=f"ds1:1:{n:04d}",
                                 answer={"label": label}, revision=revision, by="ada",
                                 reason="why", data={"text": f"t{n}"}, labeler="lee"),
                     source="/labelops/test")


def _messages(events: list[Envelope[Any]]) -> list[ConsumedMessage]:
    return [ConsumedMessage(e.to_bytes(), PackageAccepted.TOPIC, 0, n)
            for n, e in enumerate(events)]


def _run() -> list[Envelope[Any]]:
    return [
        _accepted("j1", "p1", [(0, "pos", 1), (1, "pos", 1), (2, "pos", 1)]),
        _accepted("j2", "q1", [(0, "neg", 1)]),
        _accepted("j1", "p2", [(2, "neg", 2), (3, "neg", 1), (1, "neg", 1)]),  # 1: a tie
        _revised("j1", 0, "neg", 5),
        _accepted("j1", "p3", [(0, "pos", 4), (4, "pos", 1), (4, "neg", 2)]),  # 0: older
    ]


async def _view(harness: Harness) -> dict[str, tuple[str, int, str]]:
    return {doc_id: (json.loads(d["answer_json"])["label"], d["revision"], d["package_id"])
            for doc_id, d in harness.db[LABELED].docs.items()}


async def _counts(harness: Harness) -> dict[str, int]:
    return {job: d["items"] for job, d in harness.db[COUNTS].docs.items()}


EXPECTED = {"j1:ds1:1:0000": ("neg", 5, "p1"), "j1:ds1:1:0001": ("pos", 1, "p1"),
            "j1:ds1:1:0002": ("neg", 2, "p2"), "j1:ds1:1:0003": ("neg", 1, "p2"),
            "j1:ds1:1:0004": ("neg", 2, "p3"), "j2:ds1:1:0000": ("neg", 1, "q1")}


async def test_a_run_is_taken_in_with_one_commit_as_if_one_event_after_the_other(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.create_job("j2", TEXT, ["pos", "neg"])
    box = harness.writer.outbox
    real_commit = box.commit
    commits: list[list[str] | None] = []

    async def counting(uow: Any, *, key: str | None = None,
                       keys: list[str] | None = None, **options: Any) -> bool:
        commits.append(keys)
        return await real_commit(uow, key=key, keys=keys, **options)

    monkeypatch.setattr(box, "commit", counting)
    run = _run()
    assert await harness.consumer.handle_many(_messages(run)) == ["handled"] * 5
    assert len(commits) == 1 and len(commits[0] or []) == 5
    assert await _view(harness) == EXPECTED
    assert await _counts(harness) == {"j1": 5, "j2": 1}

    # The same run again, cut into other runs, or one event alone: nothing changes.
    assert await harness.consumer.handle_many(_messages(run)) == ["duplicate"] * 5
    assert await harness.consumer.handle_many(_messages(run[1:3])) == ["duplicate"] * 2
    assert await harness.consumer.handle(run[3].to_bytes(),
                                         topic=ItemRevised.TOPIC) == "duplicate"
    # As new events (a redelivery with new ids): the view holds these revisions already.
    again = [new_event(e.data, source="/labelops/test") for e in run]
    assert await harness.consumer.handle_many(_messages(again)) == ["handled"] * 5
    assert await _view(harness) == EXPECTED
    assert await _counts(harness) == {"j1": 5, "j2": 1}
    assert harness.db[LABELED].docs["j1:ds1:1:0000"]["revised_by"] == "ada"


async def test_the_same_events_one_at_a_time_give_the_same_view(harness: Harness) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.create_job("j2", TEXT, ["pos", "neg"])
    for event in _run():
        assert await harness.consumer.handle(event.to_bytes(),
                                             topic=PackageAccepted.TOPIC) == "handled"
    assert await _view(harness) == EXPECTED
    assert await _counts(harness) == {"j1": 5, "j2": 1}


@pytest.mark.parametrize("redelivered", ["the whole run", "each event alone"])
async def test_a_crash_before_the_runs_commit_is_redone_and_counted_once(
        harness: Harness, monkeypatch: pytest.MonkeyPatch, redelivered: str) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.create_job("j2", TEXT, ["pos", "neg"])
    await harness.accept("j1", "p0", [("ds1:1:0002", {}, {"label": "pos"}, "lee", 1)])
    box = harness.writer.outbox
    real_commit = box.commit

    async def dying(uow: Any, *, key: str | None = None,
                    keys: list[str] | None = None, **options: Any) -> bool:
        raise SystemExit("the process died before the run's commit")

    monkeypatch.setattr(box, "commit", dying)
    run = _run()
    with pytest.raises(SystemExit):
        await harness.consumer.handle_many(_messages(run))
    assert len(harness.db[LABELED].docs) == 6  # inserted, not yet committed
    monkeypatch.setattr(box, "commit", real_commit)

    if redelivered == "the whole run":
        assert await harness.consumer.handle_many(_messages(run)) == ["handled"] * 5
    else:
        for event in run:
            assert await harness.consumer.handle(event.to_bytes(),
                                                 topic=PackageAccepted.TOPIC) == "handled"
    assert await _view(harness) == EXPECTED
    assert await _counts(harness) == {"j1": 5, "j2": 1}
