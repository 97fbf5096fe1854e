"""Faults survived with nothing lost. A job of 2,000 items (40 packages) flows through
label → check → accept → export while a crowd of workers (tests/e2e/flow.py) works it and
the test breaks something mid-flow: SIGKILLs every service, stops the Kafka broker, stops the
database and MinIO, or delivers a batch of events twice and out of order. After each:

- the workers saw no error other than outages they rode out by retrying;
- the export holds every item exactly once, with the answer its labeler saved last (every
  fifth package went back to its labeler once and was answered again);
- the assignment and jobs services count every item once (no event applied twice);
- ``labelops check`` finds every invariant held (one package per item, one holder at a time,
  the event log rebuilding the stored packages, the export view at each item's latest
  revision, every dead letter with a reason).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from labelops_cli.services import SERVICES, ServiceProcesses, wait_healthy
from labelops_cli.stack import servers
from labelops_shared import topics
from tests.e2e.flow import (
    Crowd,
    FlowJob,
    publish_job,
    verify_flow,
    wait_packaged,
    write_manifest,
)

pytestmark = [pytest.mark.e2e, pytest.mark.fault]

ITEMS = 2_000
PACKAGE_SIZE = 50


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_manifest(tmp_path / "reviews.manifest", ITEMS)


@pytest.fixture
def native_servers() -> Iterator[None]:
    """The servers of the local stack, which the test may stop; whatever it stopped is
    started again afterwards, so the tests after it find the stack whole."""
    if any(servers.server_pid(name) is None for name in servers.SERVERS):
        pytest.skip("the servers are not run by this stack (testcontainers or external URLs)")
    yield
    for name in servers.SERVERS:
        if servers.server_pid(name) is None:
            servers.start_server(name)


def run_flow(env: dict[str, str], manifest: Path,
             faults: dict[int, Callable[[FlowJob], None]],
             after_publish: Callable[[FlowJob], None] = lambda job: None) -> None:
    """Publish the job, start the crowd, call ``faults[n]`` once ``n`` packages are
    accepted, then verify everything."""
    job = publish_job(env, manifest, ITEMS, PACKAGE_SIZE)
    after_publish(job)
    wait_packaged(env, job)
    crowd = Crowd(env, job).start()
    try:
        for accepted in sorted(faults):
            crowd.wait_accepted(accepted)
            faults[accepted](job)
    except BaseException:
        crowd.finish(timeout=0)
        raise
    verify_flow(env, job, crowd)


def test_sigkill_every_service_mid_flow(platform: ServiceProcesses, stack_env: dict[str, str],
                                        manifest: Path) -> None:
    killed: list[str] = []

    def kill(*names: str) -> Callable[[FlowJob], None]:
        def crash_and_restart(job: FlowJob) -> None:
            for name in names:
                platform.kill(name)
                killed.append(name)
            for name in names:
                platform.start(name, stack_env)
            wait_healthy(platform, list(names))
        return crash_and_restart

    run_flow(stack_env, manifest, after_publish=kill("jobs", "prelabel"), faults={
        8: kill("assignment"),   # workers mid-call, the outbox relay mid-round
        16: kill("export"),      # folding accepted packages into the view
        24: kill("dataset"),     # serving item data to the assignment service
    })
    assert sorted(killed) == sorted(SERVICES)


def test_kafka_broker_stopped_mid_flow(platform: ServiceProcesses, stack_env: dict[str, str],
                                       native_servers: None, manifest: Path) -> None:
    def broker_outage(job: FlowJob) -> None:
        servers.stop_server("kafka")
        time.sleep(15)  # workers go on: claims, answers and decisions need only the database
        servers.start_server("kafka")

    run_flow(stack_env, manifest, faults={10: broker_outage})


def test_database_and_minio_stopped_mid_flow(platform: ServiceProcesses,
                                             stack_env: dict[str, str], native_servers: None,
                                             manifest: Path) -> None:
    def storage_outage(job: FlowJob) -> None:
        servers.stop_server("ferretdb")
        servers.stop_server("minio")
        time.sleep(10)  # every worker's call fails UNAVAILABLE and is tried again
        servers.start_server("ferretdb")
        servers.start_server("minio")

    run_flow(stack_env, manifest, faults={10: storage_outage})


async def _replay_twice_shuffled(bootstrap: str, markers: tuple[str, ...],
                                 since_ms: int) -> int:
    """Publish again, twice, every event so far that names one of ``markers``, keeping each
    key's events in their order (what Kafka guarantees) but interleaving the keys at
    random (what it does not). The topics are read from ``since_ms`` on. Returns how many
    were sent."""
    batch: dict[tuple[str, bytes | None], list[bytes]] = {}
    for topic in (topics.DATASET_EVENTS, topics.JOBS_EVENTS, topics.ASSIGNMENT_EVENTS,
                  topics.PRELABEL_EVENTS):
        for value, key in await _read_since(bootstrap, topic, since_ms):
            if any(m.encode() in value for m in markers):
                batch.setdefault((topic, key), []).append(value)
    queues = [(topic, key, list(values)) for _ in range(2)
              for (topic, key), values in batch.items()]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent = 0
    rng = random.Random(8)
    try:
        while queues:
            n = rng.randrange(len(queues))
            topic, key, values = queues[n]
            await producer.send_and_wait(topic, values.pop(0), key=key)
            sent += 1
            if not values:
                del queues[n]
    finally:
        await producer.stop()
    return sent


async def _read_since(bootstrap: str, topic: str, since_ms: int) -> list[tuple[bytes, Any]]:
    """(value, key) of the topic's records from ``since_ms`` to the end offsets of now, each
    partition in order, read by a consumer of its own (no group, nothing committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[bytes, Any]] = []
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh consumer
        parts = [TopicPartition(topic, n) for n in sorted(consumer.partitions_for_topic(topic)
                                                          or ())]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        starts = await consumer.offsets_for_times(dict.fromkeys(parts, since_ms))
        left = set()
        for part in parts:
            start = starts[part].offset if starts.get(part) is not None else ends[part]
            consumer.seek(part, start)
            if start < ends[part]:
                left.add(part)
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            for part, records in (await consumer.getmany(*left, timeout_ms=500)).items():
                found.extend((r.value, r.key) for r in records if r.offset < ends[part])
                if records and records[-1].offset >= ends[part] - 1:
                    left.discard(part)
        assert not left, f"{topic}: not read to its end in 60 s"
    finally:
        await consumer.stop()
    return found


def test_events_delivered_twice_and_out_of_order(platform: ServiceProcesses,
                                                 stack_env: dict[str, str],
                                                 manifest: Path) -> None:
    sent: list[int] = []

    def replay(job: FlowJob) -> None:
        sent.append(asyncio.run(asyncio.wait_for(_replay_twice_shuffled(
            stack_env["LABELOPS_KAFKA_BOOTSTRAP"], (job.job_id, job.dataset_id),
            job.started_ms), timeout=120)))

    run_flow(stack_env, manifest, faults={15: replay})
    assert sent and sent[0] > 2 * 15  # at least the accepted packages' events, twice
