"""The consumer: one effect per event however often it is delivered; bad messages go to the
dead-letter topic with their reason and bytes, and the next message is handled."""

from __future__ import annotations

from typing import Any

from labelops_shared import topics
from labelops_shared.contracts import DatasetImported
from labelops_shared.events import Envelope, new_event
from labelops_shared.kafka import EventConsumer, HandlerContext, Rejected
from labelops_shared.outbox import Outbox
from tests.fakes import FakeDatabase


def _consumer(db: Any) -> tuple[EventConsumer, list[tuple[bytes, dict[str, str]]]]:
    consumer = EventConsumer("jobs", Outbox(db, owner="t"), max_attempts=2)
    dead: list[tuple[bytes, dict[str, str]]] = []

    async def dead_letter(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        dead.append((value, headers))

    consumer._dead_letter = dead_letter
    return consumer, dead


def _event(count: int = 5) -> bytes:
    return new_event(DatasetImported(dataset_id="d1", workspace="w", version=1, kind="text",
                                     item_count=count, fields=["source"]),
                     source="/labelops/dataset").to_bytes()


async def test_the_same_event_twice_has_one_effect() -> None:
    db: Any = FakeDatabase()
    consumer, dead = _consumer(db)
    calls = []

    @consumer.on(DatasetImported)
    async def count_items(event: Envelope[Any], ctx: HandlerContext) -> None:
        calls.append(event.id)
        uow = ctx.unit_of_work()
        total = (await db["totals"].find_one({"_id": "items"}) or {"n": 0})["n"]
        uow.put("totals", {"_id": "items", "n": total + event.data.item_count})
        await ctx.commit(uow)

    raw = _event()
    assert await consumer.handle(raw, topic=topics.DATASET_EVENTS) == "handled"
    assert await consumer.handle(raw, topic=topics.DATASET_EVENTS) == "duplicate"

    assert db["totals"].docs["items"]["n"] == 5
    assert len(calls) == 1
    assert dead == []


async def test_malformed_message_is_dead_lettered_and_the_next_one_handled() -> None:
    db: Any = FakeDatabase()
    consumer, dead = _consumer(db)
    handled = []

    @consumer.on(DatasetImported)
    async def remember(event: Envelope[Any], ctx: HandlerContext) -> None:
        handled.append(event.id)

    poison = b'{"type": "labelops.dataset.imported.v1", "specversion": "1.0", "data": {}}'
    outcome = await consumer.handle(poison, topic=topics.DATASET_EVENTS, partition=2, offset=41)
    assert outcome == "dead_lettered"
    assert await consumer.handle(_event(), topic=topics.DATASET_EVENTS) == "handled"

    [(value, headers)] = dead
    assert value == poison  # the original bytes, untouched
    assert "field 'id'" in headers["x-labelops-reason"]
    assert headers["x-labelops-original-topic"] == topics.DATASET_EVENTS
    assert headers["x-labelops-original-offset"] == "41"
    assert headers["x-labelops-consumer-group"] == "labelops-jobs"
    assert len(handled) == 1


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_attempts() -> None:
    db: Any = FakeDatabase()
    consumer, dead = _consumer(db)
    attempts = []

    @consumer.on(DatasetImported)
    async def broken(event: Envelope[Any], ctx: HandlerContext) -> None:
        attempts.append(1)
        raise KeyError("no such label")

    assert await consumer.handle(_event(), topic=topics.DATASET_EVENTS) == "dead_lettered"
    assert len(attempts) == 2
    assert "handler failed 2 times" in dead[0][1]["x-labelops-reason"]
    # It was not marked handled: a replay from the dead-letter topic can still apply it.
    assert await db["outbox"].count_documents({}) == 0


async def test_a_rejected_event_is_dead_lettered_at_once() -> None:
    db: Any = FakeDatabase()
    consumer, dead = _consumer(db)

    @consumer.on(DatasetImported)
    async def refuse(event: Envelope[Any], ctx: HandlerContext) -> None:
        raise Rejected("dataset d1 belongs to no workspace")

    assert await consumer.handle(_event(), topic=topics.DATASET_EVENTS) == "dead_lettered"
    assert "rejected: dataset d1" in dead[0][1]["x-labelops-reason"]
