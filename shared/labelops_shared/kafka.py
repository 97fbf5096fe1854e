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
        # FastStream takes a string as one server: a cluster's "h1:p1,h2:p2" goes as a list
        [server.strip() for server in bootstrap.split(",") if server.strip()],
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
    batch_keys: list[str] | None = None  # a batch handler's events' keys

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(source=self.source)

    async def commit(self, uow: UnitOfWork, *, part: str | None = None) -> bool:
        """Commit the handler's effect. A handler that commits in several parts (large
        batches) names each part; the part-less commit marks the event as handled."""
        if part is None:
            self.committed = True
            if self.batch_keys:
                return await self.outbox.commit(uow, key=self.key, keys=self.batch_keys,
                                                resume=True)
            return await self.outbox.commit(uow, key=self.key, resume=True)
        return await self.outbox.commit(uow, key=f"{self.key}:{part}", resume=True)


Handler = Callable[[Envelope[Any], HandlerContext], Awaitable[None]]
# Folds a run of events (in their order) into one commit; see EventConsumer.on_batch.
BatchHandler = Callable[[list[Envelope[Any]], HandlerContext], Awaitable[None]]


@dataclass
class ConsumedMessage:
    """One record of a poll, as the consumer needs it."""

    body: bytes
    topic: str
    partition: int = 0
    offset: int = 0
    key: bytes | None = None


# How a batch subscriber fetches (see EventConsumer.attach). aiokafka keeps one fetch in
# flight per broker: while a poll's records are handled, a fetch for the other partitions
# long-polls the broker, and the drained partition's next fetch waits behind it for up to
# ``fetch_max_wait_ms`` (500 by default: a busy partition idled ~0.4 s between polls of
# at most ``max_partition_fetch_bytes``, 1 MB by default, about 13 accepted packages of
# 100 detection items). Shorter long polls and larger fetches keep a backlog flowing.
BATCH_FETCH: dict[str, Any] = {"fetch_max_wait_ms": 50,
                               "max_partition_fetch_bytes": 4 * 1024 * 1024}


class EventConsumer:
    """Routes events by CloudEvents type to one handler each, for one service's group."""

    def __init__(self, service: str, outbox: Outbox, *, max_attempts: int = 5,
                 max_batch: int = 500) -> None:
        self.service = service
        self.group_id = f"labelops-{service}"
        self.outbox = outbox
        self.max_attempts = max_attempts
        self.max_batch = max_batch
        self.handlers: dict[str, Handler] = {}
        self.batch_handlers: dict[str, BatchHandler] = {}
        self._dead_letter: Callable[[bytes, bytes | None, dict[str, str]], Awaitable[None]]

    def on(self, data_cls: type[E]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if data_cls.TYPE in self.handlers:
                raise ValueError(f"{self.service}: two handlers for {data_cls.TYPE}")
            self.handlers[data_cls.TYPE] = fn
            return fn

        return register

    def on_batch(self, *data_classes: type[EventData]) -> Callable[[BatchHandler], BatchHandler]:
        """Register a handler that takes a run of consecutive events of these types (in
        the order they arrived, duplicates already left out) and commits their effect once.
        A busy topic then costs a few database round trips per poll instead of several per
        event. An event that the batch cannot take (its handler failed on the run) is
        handled alone, so a bad one is dead-lettered by itself."""
        def register(fn: BatchHandler) -> BatchHandler:
            for data_cls in data_classes:
                async def alone(event: Envelope[Any], ctx: HandlerContext,
                                fn: BatchHandler = fn) -> None:
                    await fn([event], ctx)

                self.on(data_cls)(alone)
                self.batch_handlers[data_cls.TYPE] = fn
            return fn

        return register

    @property
    def topics(self) -> list[str]:
        return sorted({EventData.registry[t].TOPIC for t in self.handlers})

    def attach(self, broker: KafkaBroker) -> None:
        async def dead_letter(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
            await broker.publish(value, topic=topics.DEAD_LETTER, key=key, headers=headers)

        self._dead_letter = dead_letter
        batched = {EventData.registry[t].TOPIC for t in self.batch_handlers}
        for topic in self.topics:
            options: dict[str, Any] = (
                {"batch": True, "max_records": self.max_batch, "batch_timeout_ms": 200,
                 **BATCH_FETCH}
                if topic in batched else {})
            broker.subscriber(
                topic,
                group_id=self.group_id,
                ack_policy=AckPolicy.MANUAL,
                auto_offset_reset="earliest",
                max_poll_interval_ms=600_000,
                title=f"{self.service}:{topic}",
                **options,
            )(self._on_batch if options else self._on_message)

    async def _on_message(self, msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message  # an aiokafka ConsumerRecord (not a batch subscriber)
        await self.handle(
            msg.body, topic=raw.topic, partition=raw.partition, offset=raw.offset, key=raw.key
        )
        await msg.ack()

    async def _on_batch(self, msg: KafkaMessage) -> None:
        records: Any = msg.raw_message  # the poll's ConsumerRecords, each partition in order
        await self.handle_many([
            ConsumedMessage(r.value or b"", r.topic, r.partition, r.offset, r.key)
            for r in records])
        await msg.ack()

    async def handle(
        self, body: bytes, *, topic: str, partition: int = 0, offset: int = 0,
        key: bytes | None = None,
    ) -> str:
        """Handle one message; returns the outcome. Returns only once the message's fate is
        stored (effect committed, skipped, or dead-lettered), so the offset may be committed."""
        return (await self.handle_many([ConsumedMessage(body, topic, partition, offset, key)]))[0]

    async def handle_many(self, messages: Sequence[ConsumedMessage]) -> list[str]:
        """Handle messages in order; returns each one's outcome. Consecutive events with
        the same batch handler are folded into one commit (``on_batch``); the others are
        handled one at a time. Returns once every message's fate is stored."""
        outcomes: list[str] = []
        run: list[tuple[ConsumedMessage, Envelope[Any]]] = []

        async def flush() -> None:
            if run:
                outcomes.extend(await self._handle_run(list(run)))
                run.clear()

        for msg in messages:
            try:
                event = decode_event(msg.body)
            except UnknownEventType as exc:
                await flush()
                outcomes.append(self._count(msg.topic, str(exc), "unknown_type"))
                continue
            except UndecodableEvent as exc:
                await flush()
                await self._send_dead_letter(msg.body, msg.key, msg.topic, msg.partition,
                                             msg.offset, str(exc), "?")
                outcomes.append(self._count(msg.topic, "?", "dead_lettered"))
                continue
            batch = self.batch_handlers.get(event.type)
            if batch is not None and len(messages) > 1:
                if run and self.batch_handlers[run[0][1].type] is not batch:
                    await flush()
                run.append((msg, event))
                continue
            await flush()
            outcomes.append(await self._handle_event(msg, event))
        await flush()
        return outcomes

    async def _handle_run(self, run: list[tuple[ConsumedMessage, Envelope[Any]]]) -> list[str]:
        """Fold a run of events of one batch handler into one commit. Duplicates (already
        committed, or twice in the run) are left out; if the handler fails on the run for
        a reason other than an outage, each event is handled alone instead."""
        keys = [f"{self.service}:{event.id}" for _, event in run]
        seen = await self._retrying(lambda: self.outbox.seen_many(keys))
        if seen:  # an earlier attempt may have committed them and not applied them yet
            await self._retrying(lambda: self.outbox.finish(sorted(seen)))
        outcomes: list[str | None] = []
        fresh: list[tuple[ConsumedMessage, Envelope[Any]]] = []
        for (msg, event), key in zip(run, keys, strict=True):
            if key in seen:
                outcomes.append(self._count(msg.topic, event.type, "duplicate"))
                continue
            seen.add(key)
            fresh.append((msg, event))
            outcomes.append(None)
        if fresh:
            handled = await self._fold(fresh)
            it = iter(handled)
            outcomes = [next(it) if o is None else o for o in outcomes]
        return [o for o in outcomes if o is not None]

    async def _fold(self, fresh: list[tuple[ConsumedMessage, Envelope[Any]]]) -> list[str]:
        handler = self.batch_handlers[fresh[0][1].type]
        events = [event for _, event in fresh]
        keys = [f"{self.service}:{event.id}" for event in events]
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            ctx = HandlerContext(self.outbox, f"{keys[0]}+{len(events)}",
                                 f"/labelops/{self.service}", batch_keys=keys)
            try:
                await handler(events, ctx)
                if not ctx.committed:
                    await ctx.commit(ctx.unit_of_work())
                break
            except Exception as exc:
                if is_outage(exc):
                    log.warning("transient failure, retrying", extra={
                        "event": events[0].id, "events": len(events), "error": repr(exc)})
                    await asyncio.sleep(min(0.2 * 2 ** min(attempt, 6), 10.0))
                    attempt = 0
                    continue
                if attempt < self.max_attempts:
                    await asyncio.sleep(0.1 * 2**attempt)
                    continue
                log.warning("batch handler failed; handling the run one event at a time",
                            exc_info=True, extra={"event": events[0].id, "events": len(events)})
                return [await self._handle_event(msg, event) for msg, event in fresh]
        seconds = (time.perf_counter() - started) / len(events)
        for event in events:
            metrics.HANDLER_SECONDS.labels(type=event.type).observe(seconds)
        return [self._count(msg.topic, event.type, "handled") for msg, event in fresh]

    async def _handle_event(self, msg: ConsumedMessage, event: Envelope[Any]) -> str:
        body, key, topic, partition, offset = (msg.body, msg.key, msg.topic, msg.partition,
                                               msg.offset)
        handler = self.handlers.get(event.type)
        if handler is None:
            return self._count(topic, event.type, "ignored")
        context_key = f"{self.service}:{event.id}"
        batched = bool(self.batch_handlers)
        if await self._retrying(lambda: self.outbox.seen(context_key, batched=batched)):
            # An earlier attempt may have committed it and not applied it yet.
            await self._retrying(lambda: self.outbox.finish([context_key]))
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
            except Exception as exc:
                if not is_outage(exc):
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
