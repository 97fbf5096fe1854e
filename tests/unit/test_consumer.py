"""The consumer: one effect per event however often it is delivered; bad messages go to the
dead-letter topic with their reason and bytes, and the next message is handled."""

from __future__ import annotations

from typing import Any

from pymongo.errors import AutoReconnect

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


def _imported(dataset_id: str, count: int) -> Envelope[Any]:
    return new_event(DatasetImported(dataset_id=dataset_id, workspace="w", version=1,
                                     kind="text", item_count=count, fields=["source"]),
                     source="/labelops/dataset")


def _batching_consumer(db: Any, runs: list[list[str]], *,
                       fail_on: str = "") -> EventConsumer:
    """A consumer whose DatasetImported handler folds a run into one running total."""
    consumer, _ = _consumer(db)

    @consumer.on_batch(DatasetImported)
    async def add_up(events: list[Envelope[Any]], ctx: HandlerContext) -> None:
        runs.append([e.data.dataset_id for e in events])
        if any(e.data.dataset_id == fail_on for e in events):
            raise KeyError(f"cannot add {fail_on}")
        total = (await db["totals"].find_one({"_id": "items"}) or {"n": 0})["n"]
        uow = ctx.unit_of_work()
        uow.put("totals", {"_id": "items", "n": total + sum(e.data.item_count for e in events)})
        await ctx.commit(uow)

    return consumer


def _msg(event: Envelope[Any], offset: int) -> Any:
    from labelops_shared.kafka import ConsumedMessage
    return ConsumedMessage(event.to_bytes(), topics.DATASET_EVENTS, 0, offset)


async def test_a_run_of_events_is_folded_into_one_commit_and_redelivery_changes_nothing(
) -> None:
    db: Any = FakeDatabase()
    runs: list[list[str]] = []
    consumer = _batching_consumer(db, runs)
    events = [_imported(f"d{n}", n) for n in range(1, 5)]
    batch = [_msg(e, n) for n, e in enumerate([*events[:2], events[0], *events[2:]])]

    outcomes = await consumer.handle_many(batch)
    assert outcomes == ["handled", "handled", "duplicate", "handled", "handled"]
    assert runs == [["d1", "d2", "d3", "d4"]]  # one call, in order, the repeat left out
    assert db["totals"].docs["items"]["n"] == 1 + 2 + 3 + 4
    # Every event's key is remembered: the whole batch again, or any one alone, is a repeat.
    assert await consumer.handle_many(batch) == ["duplicate"] * 5
    assert await consumer.handle(events[2].to_bytes(), topic=topics.DATASET_EVENTS) == (
        "duplicate")
    assert db["totals"].docs["items"]["n"] == 10 and len(runs) == 1
    assert await db["outbox"].count_documents({}) == 0
    assert {f"jobs:{e.id}" for e in events} <= set(db["inbox"].docs)


async def test_keys_of_a_batch_committed_but_not_applied_are_recognised_and_recovered(
) -> None:
    """A crash after the batch's record is written and before it is applied: the events
    come again (their offsets were not committed) and must not be applied twice."""
    db: Any = FakeDatabase()
    runs: list[list[str]] = []
    consumer = _batching_consumer(db, runs)
    events = [_imported(f"d{n}", n) for n in range(1, 4)]
    outbox = consumer.outbox
    applied = outbox._apply

    async def crash(record: Any) -> None:
        raise SystemExit("killed between commit and apply")

    outbox._apply = crash  # type: ignore[method-assign]
    try:
        await consumer.handle_many([_msg(e, n) for n, e in enumerate(events)])
    except SystemExit:
        pass
    outbox._apply = applied  # type: ignore[method-assign]
    assert "totals" not in db.collections or not db["totals"].docs

    # The same events again: recognised, and their record applied before the consumer
    # moves on (never a second effect, and what comes next reads the first).
    assert await consumer.handle_many([_msg(e, n) for n, e in enumerate(events)]) == [
        "duplicate"] * 3
    assert db["totals"].docs["items"]["n"] == 6
    assert await outbox.recover() == 0
    assert await consumer.handle(events[1].to_bytes(), topic=topics.DATASET_EVENTS) == (
        "duplicate")
    assert await db["outbox"].count_documents({}) == 0 and len(runs) == 1


async def test_an_outage_between_commit_and_apply_is_finished_before_the_next_event(
) -> None:
    """The database goes away after a run's record is written and before its operations
    are applied. The retried run finds its record and applies it; the next run must read
    that effect (else it writes a total computed without it, and the stale record, applied
    later by a recovery, would undo the newer one)."""
    db: Any = FakeDatabase()
    runs: list[list[str]] = []
    consumer = _batching_consumer(db, runs)
    outbox = consumer.outbox
    applied = outbox._apply
    cut_off = [True]

    async def outage_once(record: Any) -> None:
        if cut_off.pop() if cut_off else False:
            raise AutoReconnect("connection closed")
        await applied(record)

    outbox._apply = outage_once  # type: ignore[method-assign]
    first = [_imported(f"d{n}", n) for n in (1, 2)]
    assert await consumer.handle_many([_msg(e, n) for n, e in enumerate(first)]) == [
        "handled"] * 2
    assert db["totals"].docs["items"]["n"] == 3
    later = [_imported(f"d{n}", n) for n in (3, 4)]
    assert await consumer.handle_many([_msg(e, n + 2) for n, e in enumerate(later)]) == [
        "handled"] * 2
    assert db["totals"].docs["items"]["n"] == 1 + 2 + 3 + 4
    assert await outbox.recover() == 0 and await db["outbox"].count_documents({}) == 0

    # The same for a single event (handled alone, outside any run).
    cut_off.append(True)
    assert await consumer.handle(_event(5), topic=topics.DATASET_EVENTS) == "handled"
    assert db["totals"].docs["items"]["n"] == 15


async def test_a_run_its_handler_fails_on_is_handled_one_event_at_a_time() -> None:
    """The bad event is dead-lettered by itself; the rest of the run is applied."""
    db: Any = FakeDatabase()
    runs: list[list[str]] = []
    consumer = _batching_consumer(db, runs, fail_on="d2")
    dead: list[dict[str, str]] = []

    async def dead_letter(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        dead.append(headers)

    consumer._dead_letter = dead_letter
    events = [_imported(f"d{n}", n) for n in range(1, 4)]
    outcomes = await consumer.handle_many([_msg(e, n) for n, e in enumerate(events)])

    assert outcomes == ["handled", "dead_lettered", "handled"]
    assert db["totals"].docs["items"]["n"] == 1 + 3
    assert [h["x-labelops-event-id"] for h in dead] == [events[1].id]


class _RecordingBroker:
    """What ``attach`` asks of a FastStream broker: a subscriber per topic, its options."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}

    def subscriber(self, topic: str, **options: Any) -> Any:
        self.options[topic] = options
        return lambda fn: fn

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing is published")


def test_a_batch_subscriber_fetches_more_with_shorter_long_polls() -> None:
    """A batched topic's consumer: a partition's next fetch is not held behind a long poll
    of the others for the default 500 ms, and one fetch brings more than 1 MB of a
    partition; a topic handled one event at a time keeps aiokafka's defaults."""
    from labelops_shared.contracts import JobCreated
    from labelops_shared.kafka import BATCH_FETCH

    consumer, _ = _consumer(FakeDatabase())

    async def one(event: Envelope[Any], ctx: HandlerContext) -> None:
        pass

    async def many(events: list[Envelope[Any]], ctx: HandlerContext) -> None:
        pass

    consumer.on(JobCreated)(one)
    consumer.on_batch(DatasetImported)(many)
    broker = _RecordingBroker()
    consumer.attach(broker)  # type: ignore[arg-type]

    batched = broker.options[topics.DATASET_EVENTS]
    assert batched["batch"] is True and batched["max_records"] == consumer.max_batch
    assert batched["fetch_max_wait_ms"] == BATCH_FETCH["fetch_max_wait_ms"] < 500
    assert batched["max_partition_fetch_bytes"] == BATCH_FETCH[
        "max_partition_fetch_bytes"] > 1024 * 1024
    single = broker.options[topics.JOBS_EVENTS]
    assert not {"batch", "fetch_max_wait_ms", "max_partition_fetch_bytes"} & set(single)
