"""Where the checker reads from: its settings, the Kafka event log (read from the
beginning to the end offsets seen at the start, as an anonymous reader that commits
nothing) and the services' databases (read only)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from labelops_shared.settings import SecretUrlField


class CheckSettings(BaseSettings):
    """The deployment to check, from LABELOPS_* like the services' own settings; the
    database names are those the assignment and export services use (each service's
    LABELOPS_MONGO_DB, by default labelops_<service>)."""

    model_config = SettingsConfigDict(env_prefix="LABELOPS_", extra="ignore")

    kafka_bootstrap: str
    mongo_url: SecretUrlField  # its password is a secret
    assignment_db: str = Field(default="labelops_assignment",
                               description="the assignment service's database")
    export_db: str = Field(default="labelops_export",
                           description="the export service's database")
    log_stall_seconds: float = Field(default=60.0,
                                     description="give up when the log yields nothing this long")


def load_settings() -> CheckSettings:
    """Settings from the environment; what it lacks comes from the local stack (as every
    other command finds it), so ``labelops check`` needs no setup on a developer's machine."""
    needed = ("LABELOPS_KAFKA_BOOTSTRAP", "LABELOPS_MONGO_URL")
    if all(os.environ.get(key) for key in needed):
        return CheckSettings()
    from labelops_cli.stack.servers import stack_env

    local = stack_env()
    return CheckSettings(**{key[len("LABELOPS_"):].lower(): os.environ.get(key) or local[key]
                            for key in needed})


def decode(record: ConsumerRecord[Any, Any]) -> dict[str, Any] | None:
    """The event in a record, or None for bytes that are no event (a poison message: the
    consumers dead-letter it, the checker looks at the dead-letter topic for those)."""
    try:
        event = json.loads(record.value)
    except (TypeError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return event if isinstance(event, dict) else None


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, as many as the deployment gave it (none: no such topic)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, part["partition"]) for found in described
            if not found.get("error_code") for part in found.get("partitions", ())]


class LogStalled(RuntimeError):
    """The log stopped yielding records before the end offsets seen at the start."""


async def read_log(bootstrap: str, topic: str,
                   on_record: Callable[[ConsumerRecord[Any, Any]], Awaitable[None] | None],
                   *, stall_seconds: float = 60.0) -> int:
    """Hand every record of the topic, oldest first per partition, to ``on_record``, up to
    the end offsets seen at the start (later records are not waited for); returns how many.
    Memory stays bounded: records are handed on one by one and never kept here."""
    partitions = await _partitions(bootstrap, topic)
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        todo = {tp: ends[tp] for tp in partitions if ends[tp] > starts[tp]}
        if not todo:
            return 0
        consumer.assign(list(todo))
        await consumer.seek_to_beginning(*todo)
        count, last_progress = 0, time.monotonic()
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        count += 1
                        outcome = on_record(record)
                        if outcome is not None:
                            await outcome
            # The position, not the last record's offset: offsets may have gaps (compacted
            # or control records), and the position passes them.
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
                    consumer.pause(tp)  # fetch nothing more for it
            if batch:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_seconds:
                raise LogStalled(f"{topic}: no records for {stall_seconds:.0f}s before the "
                                 f"end offsets of the start ({len(todo)} partitions short)")
        return count
    finally:
        await consumer.stop()
