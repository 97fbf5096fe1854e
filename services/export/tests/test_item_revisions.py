"""An administrator's revision of an accepted item (``ItemRevised``) reaches the labeled
view like an acceptance: the latest revision per item wins, older or redelivered ones
change nothing, and the next export holds the revised answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from labelops_shared.annotations import build_template
from labelops_shared.contracts import ItemRevised
from labelops_shared.events import new_event
from services.export.adapters.repository import LABELED
from services.export.tests.conftest import Harness

TEXT = build_template("text_classification", [{"name": "pos"}, {"name": "neg"}]).to_dict()


def _revised(revision: int, label: str, item: str = "ds1:1:0001") -> ItemRevised:
    return ItemRevised(job_id="j1", package_id="p1", item_id=item,
                       answer={"label": label}, revision=revision, by="ada",
                       reason="the text is negative", data={"text": f"text of {item}"},
                       labeler="lee", hard=True)


async def _view(harness: Harness, item: str = "ds1:1:0001") -> dict[str, Any]:
    doc: dict[str, Any] = await harness.db[LABELED].find_one({"_id": f"j1:{item}"})
    return doc


async def test_a_revision_replaces_the_accepted_answer(harness: Harness) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.accept("j1", "p1", [(f"ds1:1:{n:04d}", {"text": f"text of ds1:1:{n:04d}"},
                                       {"label": "pos"}, "lee", 6) for n in range(3)])
    assert await harness.deliver(_revised(7, "neg")) == "handled"
    doc = await _view(harness)
    assert (json.loads(doc["answer_json"]), doc["revision"], doc["accepter"]) == (
        {"label": "neg"}, 7, "ada")
    assert (doc["revised_by"], doc["revision_reason"], doc["labeler"], doc["hard"]) == (
        "ada", "the text is negative", "lee", True)
    assert json.loads(doc["data_json"]) == {"text": "text of ds1:1:0001"}

    # The same revision again (a redelivery with a new id), an older one, or the earlier
    # acceptance arriving late change nothing.
    raw = new_event(_revised(7, "pos"), source="/labelops/test").to_bytes()
    assert await harness.consumer.handle(raw, topic=ItemRevised.TOPIC) == "handled"
    await harness.deliver(_revised(5, "pos"))
    await harness.accept("j1", "p1", [("ds1:1:0001", {}, {"label": "pos"}, "lee", 6)])
    assert json.loads((await _view(harness))["answer_json"]) == {"label": "neg"}
    await harness.deliver(_revised(9, "neg"))
    assert (await _view(harness))["revision"] == 9

    await harness.deliver(_revised(8, "pos"))  # overtaken by revision 9
    done = await harness.finished((await harness.start("j1", "manifest")).id)
    lines = {json.loads(x)["id"]: json.loads(x) for x in harness.file(done).splitlines()}
    assert lines["ds1:1:0001"]["label"] == "neg" and lines["ds1:1:0000"]["label"] == "pos"
    assert len(lines) == 3


async def test_new_items_are_inserted_and_known_ones_replaced_in_one_event(
        harness: Harness) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    await harness.accept("j1", "p1", [("ds1:1:0001", {"text": "a"}, {"label": "pos"}, "lee", 1)])
    # one event: a known item's newer revision, a new item, and a new item twice (its newest
    # revision wins whatever the order)
    await harness.accept("j1", "p2", [
        ("ds1:1:0001", {"text": "a"}, {"label": "neg"}, "lee", 2),
        ("ds1:1:0002", {"text": "b"}, {"label": "pos"}, "lee", 1),
        ("ds1:1:0003", {"text": "c"}, {"label": "neg"}, "lee", 3),
        ("ds1:1:0003", {"text": "c"}, {"label": "pos"}, "lee", 2)])
    answers = {i: (json.loads((await _view(harness, i))["answer_json"])["label"],
                   (await _view(harness, i))["revision"])
               for i in ("ds1:1:0001", "ds1:1:0002", "ds1:1:0003")}
    assert answers == {"ds1:1:0001": ("neg", 2), "ds1:1:0002": ("pos", 1),
                       "ds1:1:0003": ("neg", 3)}
    assert (await _view(harness, "ds1:1:0001"))["package_id"] == "p2"


async def test_a_crash_between_the_inserts_and_the_commit_is_redone_to_the_same_view(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await harness.create_job("j1", TEXT, ["pos", "neg"])
    box = harness.writer.outbox
    real_commit = box.commit
    failures = [RuntimeError("the process died before its commit")]

    async def commit_failing_once(uow: Any, *, key: str | None = None,
                                  **options: Any) -> bool:
        if failures:
            raise failures.pop()
        return await real_commit(uow, key=key, **options)

    monkeypatch.setattr(box, "commit", commit_failing_once)
    await harness.accept("j1", "p1", [(f"ds1:1:{n:04d}", {"text": "t"}, {"label": "pos"},
                                       "lee", 1) for n in range(3)])  # handled on the retry
    assert not failures
    assert [(await _view(harness, f"ds1:1:{n:04d}"))["revision"] for n in range(3)] == [1, 1, 1]
    done = await harness.finished((await harness.start("j1", "manifest")).id)
    assert len(harness.file(done).splitlines()) == 3
