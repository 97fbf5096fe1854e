"""JobPublished → offline pre-labels: chunked, validated per item, idempotent, with status."""

from __future__ import annotations

from labelops_shared.contracts import JobPublished
from labelops_shared.events import new_event
from services.prelabel import handlers
from services.prelabel.tests.conftest import MISSING, Harness, spec


async def test_values_become_predictions_in_chunks_and_bad_ones_are_reported(
    harness: Harness,
) -> None:
    values: list[object] = ["pos", "neg"] * 600  # 1200 valid values
    values[3], values[10], values[11] = "meh", 7, ["pos"]
    values[20] = MISSING
    values[21] = None  # null counts as missing too
    harness.items.add("d1", values)
    job = spec()

    assert await harness.publish(job) == "handled"

    chunks = await harness.predictions()
    assert [len(c["predictions"]) for c in chunks] == [500, 500, 195]
    assert [c["invalid_count"] for c in chunks] == [3, 0, 0]
    first = chunks[0]["predictions"][0]
    assert first == {"item_id": "d1-i00000", "topic": "label", "answer": "pos",
                     "confidence": None}
    assert all(c["source"] == "offline" and c["job_id"] == job.job_id for c in chunks)
    status = await harness.status(job.job_id)
    assert status["state"] == "done" and status["workspace"] == "ws1"
    assert (status["items_seen"], status["predictions"], status["invalid"],
            status["missing"]) == (1200, 1195, 3, 2)
    assert status["invalid_values"] == [
        {"item_id": "d1-i00003", "field": "label",
         "reason": "'meh' is not one of the labels ['pos', 'neg']"},
        {"item_id": "d1-i00010", "field": "label",
         "reason": "expected one label as a string, got int 7"},
        {"item_id": "d1-i00011", "field": "label",
         "reason": "expected one label as a string, got list ['pos']"},
    ]


async def test_only_the_first_reasons_are_kept(harness: Harness) -> None:
    harness.items.add("d1", ["bad"] * 50 + ["pos"])
    job = spec()
    await harness.publish(job)
    status = await harness.status(job.job_id)
    assert (status["invalid"], len(status["invalid_values"])) == (50, handlers.MAX_REASONS)
    assert [len(c["predictions"]) for c in await harness.predictions()] == [1]


async def test_multiple_choice_values(harness: Harness) -> None:
    harness.items.add("d1", [["a", "b"], "a", ["a", "a"], []])
    job = spec(topics=[{"name": "tags", "kind": "multiple_choice", "options": ["a", "b"]}])
    await harness.publish(job)
    [chunk] = await harness.predictions()
    assert [p["answer"] for p in chunk["predictions"]] == [["a", "b"], ["a"]]
    assert all(p["topic"] == "tags" for p in chunk["predictions"])
    assert (await harness.status(job.job_id))["invalid"] == 2


async def test_no_prelabel_field_records_none(harness: Harness) -> None:
    job = spec(prelabel_field="")
    assert await harness.publish(job) == "handled"
    status = await harness.status(job.job_id)
    assert status["state"] == "none" and status["items_seen"] == 0
    assert harness.items.streams == 0 and await harness.predictions() == []


async def test_a_topic_that_takes_no_prelabels_fails_the_run_without_reading(
    harness: Harness,
) -> None:
    job = spec(topics=[{"name": "note", "kind": "free_text"}])
    await harness.publish(job)
    status = await harness.status(job.job_id)
    assert status["state"] == "failed" and "cannot take offline pre-labels" in status["error"]
    assert harness.items.streams == 0


async def test_an_unreadable_dataset_fails_the_run_with_the_reason(harness: Harness) -> None:
    job = spec("gone")
    assert await harness.publish(job) == "handled"
    status = await harness.status(job.job_id)
    assert status["state"] == "failed" and "'gone' version 1: not found" in status["error"]


async def test_a_retry_after_a_broken_stream_sends_no_prediction_twice(
    harness: Harness,
) -> None:
    harness.items.add("d1", ["pos"] * 1234)
    harness.items.break_after = 1100  # after two chunks were committed
    job = spec()

    assert await harness.publish(job) == "handled"

    assert harness.items.streams == 2
    chunks = await harness.predictions()
    assert [len(c["predictions"]) for c in chunks] == [500, 500, 234]
    ids = [p["item_id"] for c in chunks for p in c["predictions"]]
    assert len(ids) == len(set(ids)) == 1234
    status = await harness.status(job.job_id)
    assert (status["state"], status["items_seen"], status["predictions"]) == ("done", 1234, 1234)


async def test_a_redelivered_event_is_a_duplicate(harness: Harness) -> None:
    harness.items.add("d1", ["pos", "neg"])
    job = spec()
    raw = new_event(JobPublished(job_id=job.job_id, job=job, item_count=2),
                    source="/labelops/test").to_bytes()
    assert await harness.consumer.handle(raw, topic=JobPublished.TOPIC) == "handled"
    assert await harness.consumer.handle(raw, topic=JobPublished.TOPIC) == "duplicate"
    assert harness.items.streams == 1 and len(await harness.predictions()) == 1
    assert (await harness.status(job.job_id))["predictions"] == 2
