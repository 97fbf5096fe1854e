"""Kafka plumbing: the FastStream broker, topic creation, the event consumer with its
idempotency guard and dead-letter topic.

Producers use acks=all and idempotence. Consumers commit manually, after the handler's
effect is stored (its outbox record committed); redelivery is harmless because the record's
key is the event id. A message that cannot be handled goes to the dead-letter topic with
the reason and its original bytes, and the partition moves on. Infrastructure outages
(database or peer unreachable) are retried without end: they are not the message's fault.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pymongo.errors import ConnectionFailure, PyMongoError

from labelops_shared import metrics, topics
from labelops_shared.events import (
    CONTENT_TYPE,
    Envelope,
    EventData,
    UndecodableEvent,
    UnknownEventType,
    decode_event,
)
from labelops_shared.outages import is_outage
from labelops_shared.outbox import Outbox, UnitOfWork

log = logging.getLogger(__name__)

E = TypeVar("E", bound=EventData)


class Rejected(Exception):
    """Raised by a handler for an event it can never handle (sent to the dead-letter topic
    at once, without retries)."""


def make_broker(bootstrap: str, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        graceful_timeout=15.0,
        logger=logging.getLogger(f"labelops.kafka.{client_id}"),
    )


async def ensure_topics(
    bootstrap: str, names: tuple[str, ...] = topics.ALL_TOPICS, partitions: int = topics.PARTITIONS,
    replication_factor: int = 1,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
            for name in names
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another service created it meanwhile
    finally:
        await admin.close()


def lag_by_topic(
    committed: Mapping[TopicPartition, int],
    beginnings: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> dict[str, int]:
    """Messages not yet committed per topic, summed over its partitions. A partition the
    group never committed counts from its first offset (consumers start at the earliest)."""
    lag: dict[str, int] = {}
    for tp, end in ends.items():
        done = committed.get(tp, -1)
        start = done if done >= 0 else beginnings.get(tp, 0)
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - start)
    return lag


async def measure_lag(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group_id: str,
    topic_names: Iterable[str],
) -> dict[str, int]:
    described = await admin.describe_topics(list(topic_names))
    partitions = [TopicPartition(topic["topic"], part["partition"]) for topic in described
                  if not topic.get("error_code") for part in topic.get("partitions", ())]
    if not partitions:
        return {}
    offsets = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
    committed = {tp: meta.offset for tp, meta in offsets.items()}
    beginnings = await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    return lag_by_topic(committed, beginnings, ends)


async def watch_lag(
    bootstrap: str, group_id: str, topic_names: Sequence[str], *, interval: float = 15.0,
) -> None:
    """Export the consumer group's lag per topic every ``interval`` seconds until cancelled.
    Measured from the outside (committed offsets against the log end), so a stuck handler
    shows as growing lag instead of silence."""
    if not topic_names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                client_id=f"{group_id}-lag")
    await admin.start()
    await consumer.start()
    try:
        while True:
            try:
                for topic, lag in (await measure_lag(admin, consumer, group_id,
                                                     topic_names)).items():
                    metrics.CONSUMER_LAG.labels(topic=topic, group=group_id).set(lag)
                metrics.CONSUMER_LAG_UPDATED.labels(group=group_id).set(time.time())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("consumer lag not measured", exc_info=True)
            await asyncio.sleep(interval)
    finally:
        await consumer.stop()
        await admin.close()


def publisher(broker: KafkaBroker) -> Callable[[str, str, bytes], Awaitable[None]]:
    async def publish(topic: str, key: str, value: bytes) -> None:
        await broker.publish(
            value, topic=topic, key=key.encode(), headers={"content-type": CONTENT_TYPE}
        )

    return publish


@dataclass
class HandlerContext:
    """What a handler gets beside the event: a way to commit its effect idempotently."""

    outbox: Outbox
    key: str
    source: str
    committed: bool = False

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(source=self.source)

    async def commit(self, uow: UnitOfWork, *, part: str | None = None) -> bool:
        """Commit the handler's effect. A handler that commits in several parts (large
        batches) names each part; the part-less commit marks the event as handled."""
        if part is None:
            self.committed = True
        return await self.outbox.commit(uow, key=f"{self.key}:{part}" if part else self.key)


Handler = Callable[[Envelope[Any], HandlerContext], Awaitable[None]]


class EventConsumer:
    """Routes events by CloudEvents type to one handler each, for one service's group."""

    def __init__(self, service: str, outbox: Outbox, *, max_attempts: int = 5) -> None:
        self.service = service
        self.group_id = f"labelops-{service}"
        self.outbox = outbox
        self.max_attempts = max_attempts
        self.handlers: dict[str, Handler] = {}
        self._dead_letter: Callable[[bytes, bytes | None, dict[str, str]], Awaitable[None]]

    def on(self, data_cls: type[E]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if data_cls.TYPE in self.handlers:
                raise ValueError(f"{self.service}: two handlers for {data_cls.TYPE}")
            self.handlers[data_cls.TYPE] = fn
            return fn

        return register

    @property
    def topics(self) -> list[str]:
        return sorted({EventData.registry[t].TOPIC for t in self.handlers})

    def attach(self, broker: KafkaBroker) -> None:
        async def dead_letter(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
            await broker.publish(value, topic=topics.DEAD_LETTER, key=key, headers=headers)

        self._dead_letter = dead_letter
        for topic in self.topics:
            broker.subscriber(
                topic,
                group_id=self.group_id,
                ack_policy=AckPolicy.MANUAL,
                auto_offset_reset="earliest",
                max_poll_interval_ms=600_000,
                title=f"{self.service}:{topic}",
            )(self._on_message)

    async def _on_message(self, msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message  # an aiokafka ConsumerRecord (not a batch subscriber)
        await self.handle(
            msg.body, topic=raw.topic, partition=raw.partition, offset=raw.offset, key=raw.key
        )
        await msg.ack()

    async def handle(
        self, body: bytes, *, topic: str, partition: int = 0, offset: int = 0,
        key: bytes | None = None,
    ) -> str:
        """Handle one message; returns the outcome. Returns only once the message's fate is
        stored (effect committed, skipped, or dead-lettered), so the offset may be committed."""
        try:
            event = decode_event(body)
        except UnknownEventType as exc:
            return self._count(topic, str(exc), "unknown_type")
        except UndecodableEvent as exc:
            await self._send_dead_letter(body, key, topic, partition, offset, str(exc), "?")
            return self._count(topic, "?", "dead_lettered")
        handler = self.handlers.get(event.type)
        if handler is None:
            return self._count(topic, event.type, "ignored")
        context_key = f"{self.service}:{event.id}"
        if await self._retrying(lambda: self.outbox.seen(context_key)):
            return self._count(topic, event.type, "duplicate")
        attempt = 0
        while True:
            attempt += 1
            ctx = HandlerContext(self.outbox, context_key, f"/labelops/{self.service}")
            started = time.perf_counter()
            try:
                await handler(event, ctx)
                if not ctx.committed:
                    await ctx.commit(ctx.unit_of_work())
                metrics.HANDLER_SECONDS.labels(type=event.type).observe(
                    time.perf_counter() - started
                )
                return self._count(topic, event.type, "handled")
            except Rejected as exc:
                reason = f"{event.type}: rejected: {exc}"
            except Exception as exc:
                if is_outage(exc):
                    log.warning("transient failure, retrying", extra={"event": event.id,
                                                                      "error": repr(exc)})
                    await asyncio.sleep(min(0.2 * 2 ** min(attempt, 6), 10.0))
                    attempt = 0
                    continue
                if attempt < self.max_attempts:
                    log.warning("handler failed, retrying", exc_info=True,
                                extra={"event": event.id, "attempt": attempt})
                    await asyncio.sleep(0.1 * 2**attempt)
                    continue
                reason = f"{event.type}: handler failed {attempt} times: {exc!r}"
            await self._send_dead_letter(body, key, topic, partition, offset, reason, event.id)
            return self._count(topic, event.type, "dead_lettered")

    async def _retrying(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        delay = 0.2
        while True:
            try:
                return await fn()
            except PyMongoError as exc:
                if not isinstance(exc, ConnectionFailure):
                    raise
                log.warning("database unavailable, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _send_dead_letter(
        self, body: bytes, key: bytes | None, topic: str, partition: int, offset: int,
        reason: str, event_id: str,
    ) -> None:
        log.error("dead-lettering message", extra={"topic": topic, "offset": offset,
                                                   "reason": reason})
        headers = {
            "x-labelops-reason": reason[:2000],
            "x-labelops-original-topic": topic,
            "x-labelops-original-partition": str(partition),
            "x-labelops-original-offset": str(offset),
            "x-labelops-consumer-group": self.group_id,
            "x-labelops-event-id": event_id,
            "x-labelops-failed-at": datetime.now(UTC).isoformat(),
        }
        await self._dead_letter(body, key, headers)
        metrics.DEAD_LETTERS.labels(topic=topic).inc()

    @staticmethod
    def _count(topic: str, event_type: str, outcome: str) -> str:
        metrics.EVENTS_CONSUMED.labels(topic=topic, type=event_type, outcome=outcome).inc()
        return outcome
