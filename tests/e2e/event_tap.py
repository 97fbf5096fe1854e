"""Read what the services publish: a topic's events from the moment a tap is opened."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from labelops_shared import topics

Event = dict[str, Any]


class EventTap:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.start = asyncio.run(self._ends())

    async def _ends(self) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await consumer.start()
        try:
            parts = [TopicPartition(self.topic, p) for p in range(topics.PARTITIONS)]
            return dict(await consumer.end_offsets(parts))
        finally:
            await consumer.stop()

    def collect(self, wanted: Callable[[Event], bool], done: Callable[[list[Event]], bool],
                seconds: float = 120) -> list[Event]:
        """The wanted events published since the tap opened, once ``done`` says enough."""
        return asyncio.run(self._collect(wanted, done, seconds))

    async def _collect(self, wanted: Callable[[Event], bool],
                       done: Callable[[list[Event]], bool], seconds: float) -> list[Event]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        found: list[Event] = []
        try:
            consumer.assign(list(self.start))
            for part, offset in self.start.items():
                consumer.seek(part, offset)
            deadline = asyncio.get_running_loop().time() + seconds
            while not done(found):
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{self.topic}: events not seen in {seconds}s; got "
                                         f"{[e.get('type') for e in found]}")
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        event = json.loads(record.value)
                        if wanted(event):
                            found.append(event)
        finally:
            await consumer.stop()
        return found
