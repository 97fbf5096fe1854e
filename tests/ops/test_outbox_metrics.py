"""The outbox's metrics: events published counted by topic and type (old records without a
stored type included), the backlog and the age of the oldest record measured even when the
relay cannot publish."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from labelops_shared import metrics
from labelops_shared.contracts import JobCompleted
from labelops_shared.outbox import Outbox, UnitOfWork
from tests.fakes import FakeDatabase

TYPE = JobCompleted.TYPE
TOPIC = JobCompleted.TOPIC


def _uow(job: str) -> UnitOfWork:
    uow = UnitOfWork(source="/labelops/test")
    uow.emit(JobCompleted(job_id=job, package_count=1, item_count=1))
    return uow


def _published() -> float:
    return float(metrics.EVENTS_PUBLISHED.labels(topic=TOPIC, type=TYPE)._value.get())


async def test_published_events_are_counted_by_type_old_records_too() -> None:
    db: Any = FakeDatabase()
    box = Outbox(db, owner="t")
    await box.commit(_uow("j1"), key="k1")
    old = _uow("j2").events[0]  # a record written before the type was stored beside it
    await db["outbox"].insert_one({
        "_id": "k0", "state": "applied", "seq": 0, "owner": "t",
        "created_at": datetime.now(UTC), "ops": [],
        "events": [{"topic": old.topic, "key": old.partitionkey, "value": old.model_dump_json()}],
    })
    before = _published()

    async def publish(topic: str, key: str, value: bytes) -> None:
        return None

    assert await box.relay_once(publish) == 2
    assert _published() == before + 2


async def test_backlog_and_oldest_age_are_measured_while_kafka_is_down() -> None:
    db: Any = FakeDatabase()
    box = Outbox(db, owner="t")
    await box.commit(_uow("j3"), key="k3")
    record = db["outbox"].docs["k3"]
    record["created_at"] = datetime.now(UTC) - timedelta(minutes=10)
    failures = metrics.OUTBOX_RELAY_FAILURES._value.get()

    async def kafka_down(topic: str, key: str, value: bytes) -> None:
        raise ConnectionError("no broker")

    relay = asyncio.create_task(box.run_relay(kafka_down, poll_seconds=0.01))
    await asyncio.sleep(0.1)
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay
    assert metrics.OUTBOX_BACKLOG._value.get() == 1
    assert metrics.OUTBOX_OLDEST_SECONDS._value.get() >= 600
    assert metrics.OUTBOX_RELAY_FAILURES._value.get() > failures
