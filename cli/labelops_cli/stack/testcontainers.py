"""The same three servers from Docker images with testcontainers, where a Docker engine is
reachable (a user's laptop, their CI): ``servers.up_infra()`` uses this when ``infra_mode()``
says "testcontainers". The optional extra ``containers`` brings the package
(``pip install -e '.[containers]'``); it is imported only here, only when used.

The containers live as long as the process that started them (testcontainers' reaper removes
them after it exits), so this mode suits test sessions; the native stack suits everything else.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from labelops_cli.stack import versions
from labelops_cli.stack.errors import StackError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kafka(host: str) -> tuple[Any, str]:
    """apache/kafka in KRaft mode (broker and controller in one node). testcontainers'
    KafkaContainer drives Confluent's images only, so this configures the Apache image
    directly; the host port is fixed before the start so the advertised listener is right."""
    from testcontainers.core.container import DockerContainer  # type: ignore[import-not-found, unused-ignore]
    from testcontainers.core.waiting_utils import wait_for_logs  # type: ignore[import-not-found, unused-ignore]

    port = _free_port()
    settings = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{host}:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
    }
    container = DockerContainer(versions.KAFKA_IMAGE).with_bind_ports(9092, port)
    for key, value in settings.items():
        container = container.with_env(key, value)
    container.start()
    wait_for_logs(container, "Kafka Server started", timeout=120)
    return container, f"{host}:{port}"


def start(credentials: dict[str, str]) -> dict[str, Any]:
    """Start Kafka, MongoDB and MinIO containers. Returns {"env": the endpoints (the
    LABELOPS_* variables), "containers": the container objects for ``stop``}."""
    try:
        from testcontainers.core.docker_client import (  # type: ignore[import-not-found, unused-ignore]
            DockerClient,
        )
    except ImportError as exc:
        raise StackError("testcontainers mode needs the testcontainers package: "
                         "pip install -e '.[containers]' (or set LABELOPS_INFRA=native)") from exc
    try:  # newer releases moved these modules under testcontainers.community
        from testcontainers.community.minio import (  # type: ignore[import-not-found, unused-ignore]
            MinioContainer,
        )
        from testcontainers.community.mongodb import (  # type: ignore[import-not-found, unused-ignore]
            MongoDbContainer,
        )
    except ImportError:
        from testcontainers.minio import MinioContainer  # type: ignore[import-not-found, unused-ignore]
        from testcontainers.mongodb import (  # type: ignore[import-not-found, unused-ignore]
            MongoDbContainer,
        )

    from labelops_cli.stack.servers import kafka_ready

    try:
        host = DockerClient().host()
    except Exception as exc:
        raise StackError(f"no Docker engine answers ({exc}): start Docker, or set "
                         "LABELOPS_INFRA=native") from exc
    started: list[Any] = []
    try:
        kafka, bootstrap = _kafka(host)
        started.append(kafka)
        mongo: Any = MongoDbContainer(versions.MONGO_IMAGE)
        mongo.start()
        started.append(mongo)
        minio: Any = MinioContainer(versions.MINIO_IMAGE,
                                    access_key=credentials["LABELOPS_MINIO_ACCESS_KEY"],
                                    secret_key=credentials["LABELOPS_MINIO_SECRET_KEY"])
        minio.start()
        started.append(minio)
        deadline = time.monotonic() + 60
        while not kafka_ready(bootstrap):
            if time.monotonic() > deadline:
                raise StackError(f"the Kafka container at {bootstrap} does not answer")
            time.sleep(0.5)
    except StackError:
        stop({"containers": started})
        raise
    except Exception as exc:
        stop({"containers": started})
        raise StackError(f"starting the containers failed: {exc}") from exc
    return {
        "containers": started,
        "env": {
            "LABELOPS_KAFKA_BOOTSTRAP": bootstrap,
            "LABELOPS_MONGO_URL": mongo.get_connection_url(),
            "LABELOPS_MINIO_ENDPOINT": minio.get_config()["endpoint"],
        },
    }


def stop(state: dict[str, Any]) -> None:
    for container in reversed(state.get("containers", [])):
        try:
            container.stop()
        except Exception:  # already gone
            pass
