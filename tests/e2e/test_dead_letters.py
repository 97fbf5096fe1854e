"""A malformed message on any consumed topic lands in the dead-letter topic with its reason
and original bytes, and every consumer goes on with the next message."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from labelops_cli.check.runner import run_checks
from labelops_cli.check.sources import CheckSettings
from labelops_cli.demo import run_demo
from labelops_cli.services import ServiceProcesses
from labelops_shared import topics

pytestmark = pytest.mark.e2e

ASYNCAPI = Path(__file__).parents[2] / "docs" / "asyncapi.json"


def _consumers() -> dict[str, set[str]]:
    """Consumed topic → the consumer groups reading it, from the AsyncAPI document (which
    tests/ops keeps equal to how the services wire their consumers): one channel per
    group and topic, named ``<group>:<topic>``."""
    channels = json.loads(ASYNCAPI.read_text())["channels"]
    found: dict[str, set[str]] = {}
    for name, channel in channels.items():
        group, _, topic = name.partition(":")
        if topic:
            assert channel["address"] == topic
            found.setdefault(topic, set()).add(group)
    return found


CONSUMERS = _consumers()


async def _inject_and_collect(bootstrap: str, marker: str) -> dict[tuple[str, str], dict]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    poison = {
        topic: f'{{"specversion": "1.0", "type": "broken", "marker": "{marker}"'.encode()
        for topic in CONSUMERS
    }
    try:
        for topic, value in poison.items():
            await producer.send_and_wait(topic, value, key=b"poison-" + marker.encode())
    finally:
        await producer.stop()

    expected = {(topic, group) for topic, groups in CONSUMERS.items() for group in groups}
    found: dict[tuple[str, str], dict] = {}
    consumer = AIOKafkaConsumer(topics.DEAD_LETTER, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + 90
        while set(found) != expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    if marker.encode() not in record.value:
                        continue
                    headers = {k: v.decode() for k, v in record.headers}
                    key = (headers["x-labelops-original-topic"],
                           headers["x-labelops-consumer-group"])
                    found[key] = {"headers": headers, "value": record.value,
                                  "original": poison[key[0]]}
    finally:
        await consumer.stop()
    return found


def test_poison_messages_are_dead_lettered_and_consumers_go_on(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    marker = uuid.uuid4().hex
    found = asyncio.run(_inject_and_collect(stack_env["LABELOPS_KAFKA_BOOTSTRAP"], marker))

    expected = {(topic, group) for topic, groups in CONSUMERS.items() for group in groups}
    assert set(found) == expected
    for entry in found.values():
        assert entry["value"] == entry["original"]  # original bytes, untouched
        assert "not JSON" in entry["headers"]["x-labelops-reason"]
        assert entry["headers"]["x-labelops-original-offset"].isdigit()

    # Every consumer moved past its poison message: a whole flow still completes, and the
    # invariant checker finds every dead letter with its reason and the job intact.
    result = run_demo(stack_env, say=lambda _: None)
    assert len(result.lines) == 25
    report = asyncio.run(run_checks(CheckSettings(
        kafka_bootstrap=stack_env["LABELOPS_KAFKA_BOOTSTRAP"],
        mongo_url=stack_env["LABELOPS_MONGO_URL"]), [result.job_id]))
    assert report.ok, report.violations
    assert report.seen["dead letters"] >= len(expected)
