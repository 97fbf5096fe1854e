"""JobPublished → offline pre-labels: every mapping, chunked, checked per item (refusals
stored and never stopping the others), idempotent, with status; auto-sync items."""

from __future__ import annotations

from labelops_shared.contracts import ItemsAdded, JobPublished, JobUpdated
from labelops_shared.events import new_event
from services.prelabel.adapters.repository import INVALID, PREDICTIONS, read_answers
from services.prelabel.offline import MAX_REASONS
from services.prelabel.tests.conftest import MISSING, Harness, offline, spec

MULTI = {"name": "tags", "kind": "multiple_choice", "options": ["a", "b"]}
SINGLE = {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}


async def test_values_become_predictions_in_chunks_and_bad_ones_are_reported(
    harness: Harness,
) -> None:
    values: list[object] = ["pos", "neg"] * 1100  # 2200 valid values
    values[3], values[10], values[11] = "meh", 7, ["pos"]
    values[20] = MISSING
    values[21] = None  # null counts as missing too
    harness.items.add("d1", values)
    job = spec()

    assert await harness.publish(job) == "handled"

    chunks = await harness.predictions()
    assert [len(c["predictions"]) for c in chunks] == [1000, 1000, 195]
    assert [c["invalid_count"] for c in chunks] == [3, 0, 0]
    assert [(v["item_id"], v["field"]) for v in chunks[0]["invalid"]] == [
        ("d1-i00003", "label"), ("d1-i00010", "label"), ("d1-i00011", "label")]
    first = chunks[0]["predictions"][0]
    assert first == {"item_id": "d1-i00000", "topic": "label", "answer": "pos",
                     "confidence": None, "hard": False}
    assert all(c["source"] == "offline" and c["job_id"] == job.job_id for c in chunks)
    assert not any(c["to_confirm"] for c in chunks)
    status = await harness.status(job.job_id)
    assert status["state"] == "done" and status["workspace"] == "ws1"
    assert (status["items_seen"], status["predictions"], status["invalid"],
            status["missing"]) == (2200, 2195, 3, 2)
    assert [(v["item_id"], v["reason"]) for v in status["invalid_values"]] == [
        ("d1-i00003", "label: 'meh' is not one of 'pos', 'neg'"),
        ("d1-i00010", "label: 7 is not one of 'pos', 'neg'"),
        ("d1-i00011", "label: single choice: expected one label, got a list of 1")]
    stored = await harness.db[PREDICTIONS].find_one({"_id": f"{job.job_id}:d1-i00001"})
    assert read_answers(stored["answers"]) == {"label": "neg"} and stored["source"] == "offline"
    assert await harness.db[INVALID].count_documents({"job_id": job.job_id}) == 3


async def test_only_the_first_reasons_are_kept_in_the_status_but_all_are_stored(
    harness: Harness,
) -> None:
    harness.items.add("d1", ["bad"] * 50 + ["pos"])
    job = spec()
    await harness.publish(job)
    status = await harness.status(job.job_id)
    assert (status["invalid"], len(status["invalid_values"])) == (50, MAX_REASONS)
    assert await harness.db[INVALID].count_documents({"job_id": job.job_id}) == 50
    assert [len(c["predictions"]) for c in await harness.predictions()] == [1]


async def test_several_fields_map_to_several_topics(harness: Harness) -> None:
    harness.items.add_data("d1", [
        {"source": "x", "sentiment": "pos", "tag_list": ["a", "b"]},
        {"source": "y", "sentiment": "neg", "tag_list": "a"},
        {"source": "z", "sentiment": "pos", "tag_list": ["a", "a"]},
        {"source": "w", "tag_list": []},
    ])
    job = spec(topics=[SINGLE, MULTI], prelabel_field="sentiment",
               prelabel=offline(("tag_list", "tags"), ("sentiment", "label")))
    await harness.publish(job)
    [chunk] = await harness.predictions()
    assert [(p["item_id"][-1], p["topic"], p["answer"]) for p in chunk["predictions"]] == [
        ("0", "label", "pos"), ("0", "tags", ["a", "b"]), ("1", "label", "neg"),
        ("1", "tags", ["a"]), ("2", "label", "pos")]
    assert [(v["item_id"][-1], v["field"], v["topic"]) for v in chunk["invalid"]] == [
        ("2", "tag_list", "tags"), ("3", "tag_list", "tags")]
    status = await harness.status(job.job_id)
    assert status["fields"] == ["sentiment", "tag_list"] and status["field"] == "sentiment"
    assert (status["predictions"], status["invalid"], status["missing"]) == (5, 2, 0)


async def test_no_prelabel_configuration_records_none(harness: Harness) -> None:
    job = spec(prelabel_field="")
    assert await harness.publish(job) == "handled"
    status = await harness.status(job.job_id)
    assert status["state"] == "none" and status["items_seen"] == 0
    assert harness.items.streams == 0 and await harness.predictions() == []


async def test_a_mapping_to_an_unknown_topic_fails_the_run_without_reading(
    harness: Harness,
) -> None:
    job = spec(prelabel=offline(("label", "nope")))
    await harness.publish(job)
    status = await harness.status(job.job_id)
    assert status["state"] == "failed"
    assert "prelabel.mapping[0].topic: 'nope' is not a topic" in status["error"]
    assert harness.items.streams == 0


async def test_an_unreadable_dataset_fails_the_run_with_the_reason(harness: Harness) -> None:
    job = spec("gone")
    assert await harness.publish(job) == "handled"
    status = await harness.status(job.job_id)
    assert status["state"] == "failed" and "'gone' version 1: not found" in status["error"]


async def test_a_retry_after_a_broken_stream_sends_no_prediction_twice(
    harness: Harness,
) -> None:
    harness.items.add("d1", ["pos"] * 2345)
    harness.items.break_after = 2100  # after two chunks were committed
    job = spec()

    assert await harness.publish(job) == "handled"

    assert harness.items.streams == 2
    chunks = await harness.predictions()
    assert [len(c["predictions"]) for c in chunks] == [1000, 1000, 345]
    ids = [p["item_id"] for c in chunks for p in c["predictions"]]
    assert len(ids) == len(set(ids)) == 2345
    status = await harness.status(job.job_id)
    assert (status["state"], status["items_seen"], status["predictions"]) == ("done", 2345, 2345)


async def test_a_redelivered_event_is_a_duplicate(harness: Harness) -> None:
    harness.items.add("d1", ["pos", "neg"])
    job = spec()
    raw = new_event(JobPublished(job_id=job.job_id, job=job, item_count=2),
                    source="/labelops/test").to_bytes()
    assert await harness.consumer.handle(raw, topic=JobPublished.TOPIC) == "handled"
    assert await harness.consumer.handle(raw, topic=JobPublished.TOPIC) == "duplicate"
    assert harness.items.streams == 1 and len(await harness.predictions()) == 1
    assert (await harness.status(job.job_id))["predictions"] == 2


async def test_a_republished_job_is_not_pre_labeled_again(harness: Harness) -> None:
    harness.items.add("d1", ["pos"])
    job = spec()
    await harness.publish(job)
    await harness.deliver(JobPublished(job_id=job.job_id, job=job, item_count=1,
                                       republished=True))
    assert harness.items.streams == 1


async def test_new_items_of_an_auto_sync_job_are_pre_labeled(harness: Harness) -> None:
    harness.items.add("d1", ["pos", "neg"])
    job = spec(auto_sync=True)
    other = spec(auto_sync=False)
    await harness.publish(job)
    await harness.publish(other)
    added = harness.items.add_data("d1", [{"source": "new", "label": "neg"},
                                          {"source": "bad", "label": "zz"}], version=2)
    assert await harness.deliver(ItemsAdded(dataset_id="d1", workspace="ws1", version=2,
                                            chunk=0, chunks=1, item_ids=added)) == "handled"
    chunks = [c for c in await harness.predictions() if c["job_id"] == job.job_id]
    assert [[p["item_id"] for p in c["predictions"]] for c in chunks] == [
        ["d1-i00000", "d1-i00001"], [added[0]]]
    assert chunks[1]["invalid"][0]["item_id"] == added[1]
    status = await harness.status(job.job_id)
    assert (status["items_seen"], status["predictions"], status["invalid"]) == (4, 3, 1)
    assert len([c for c in await harness.predictions() if c["job_id"] == other.job_id]) == 1


async def test_job_settings_are_kept_and_a_deleted_job_stays_deleted(harness: Harness) -> None:
    from labelops_shared.contracts import JobDeleted

    job = spec(prelabel_field="")
    await harness.publish(job)
    assert (await harness.repo.job(job.job_id))["state"] == "published"
    await harness.deliver(JobDeleted(job_id=job.job_id, dataset_id="d1"))
    await harness.deliver(JobUpdated(job_id=job.job_id, job=job))
    assert (await harness.repo.job(job.job_id))["state"] == "deleted"
