"""Run one service: wire the database, outbox, Kafka, gRPC and metrics, then serve until
SIGTERM/SIGINT and shut down cleanly (stop taking calls, finish the current message,
flush the outbox, close connections)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from minio import Minio
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared import auth, grpc_server, kafka, metrics, mongo, storage
from labelops_shared import outbox as outbox_records
from labelops_shared.logging import configure_logging
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox
from labelops_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The connections a service's handlers and servicers are built from."""

    settings: ServiceSettings
    db: AsyncDatabase[Document]
    outbox: Outbox
    consumer: kafka.EventConsumer
    source: str

    @cached_property
    def storage(self) -> Minio:
        client = storage.connect(self.settings)
        storage.ensure_buckets(client)
        return client

    def service_token(self) -> str:
        """A short-lived token for calls to peer services, renewed on demand."""
        return auth.issue_token(
            self.settings.jwt_secret.get_secret_value(),
            subject=f"service:{self.settings.service_name}",
            workspace="*",
            roles=[auth.SERVICE],
            ttl_seconds=300,
        )


@dataclass
class ServiceParts:
    grpc_services: Sequence[grpc_server.GrpcService]
    indexes: Mapping[str, Sequence[IndexModel]] = field(default_factory=dict)
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    # run once after the indexes exist and before anything is consumed or served
    startup: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()


Build = Callable[[Runtime], ServiceParts]


async def serve(settings: ServiceSettings, build: Build) -> None:
    configure_logging(settings.service_name, settings.log_level)
    name = settings.service_name
    instance = settings.instance_id or f"{socket.gethostname()}:{os.getpid()}"
    client = mongo.connect(settings.mongo_url.get_secret_value(), app_name=f"labelops-{name}")
    db = client[settings.database_name]
    box = Outbox(db, owner=instance)
    consumer = kafka.EventConsumer(name, box, max_attempts=settings.handler_max_attempts)
    runtime = Runtime(settings, db, box, consumer, f"/labelops/{name}")
    parts = build(runtime)

    indexes = {**outbox_records.INDEXES, **parts.indexes}
    for collection, models in indexes.items():  # each in the database that holds it
        await mongo.ensure_indexes(box.home(collection), {collection: models})
    for step in parts.startup:
        await step()
    await kafka.ensure_topics(settings.kafka_bootstrap, partitions=settings.kafka_partitions,
                              replication_factor=settings.kafka_replication_factor)
    broker = kafka.make_broker(settings.kafka_bootstrap, client_id=f"labelops-{name}")
    consumer.attach(broker)
    # Records left half-applied by a crashed predecessor of this service.
    await box.recover(older_than=timedelta(0))
    await broker.start()

    tasks = [asyncio.create_task(box.run_relay(kafka.publisher(broker),
                                               poll_seconds=settings.outbox_poll_seconds))]
    tasks += [asyncio.create_task(job()) for job in parts.background]
    if settings.lag_poll_seconds > 0:
        tasks.append(asyncio.create_task(kafka.watch_lag(
            settings.kafka_bootstrap, consumer.group_id, consumer.topics,
            interval=settings.lag_poll_seconds)))
    server, port, health = await grpc_server.start_server(
        parts.grpc_services,
        host=settings.grpc_host,
        port=settings.grpc_port,
        jwt_secret=settings.jwt_secret.get_secret_value(),
        max_concurrent_calls=settings.grpc_max_concurrent_calls,
    )
    if settings.metrics_port:
        metrics.serve_metrics(settings.metrics_port, settings.grpc_host)
    leave_startup_to_refcounting()
    log.info("service ready", extra={"grpc_port": port, "metrics_port": settings.metrics_port,
                                     "topics": consumer.topics, "instance": instance})

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("shutting down")
    await health.enter_graceful_shutdown()
    await server.stop(grace=5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    try:  # publish what is committed now; anything left goes out at the next start
        await asyncio.wait_for(box.relay_once(kafka.publisher(broker)), timeout=5)
    except Exception:
        log.warning("outbox not flushed at shutdown", exc_info=True)
    await broker.stop()  # waits for the message in hand, then leaves the group
    await client.close()
    log.info("stopped")


def leave_startup_to_refcounting() -> None:
    """Keep what exists once the service is up (modules, classes, schemas, clients: 85,000
    objects) out of the cycle collector's full collections, which otherwise walk it all
    a few times a minute under load, holding the event loop for 40-90 ms each time. It is
    still freed by reference counting; only cycles among it would live on, and it lives
    as long as the process anyway."""
    gc.collect()
    gc.freeze()


def main(service_name: str, build: Build, **overrides: Any) -> None:
    settings = ServiceSettings(service_name=service_name, **overrides)
    asyncio.run(serve(settings, build))
