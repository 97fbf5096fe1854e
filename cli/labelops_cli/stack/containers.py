"""The same three servers from testcontainers, where a Docker engine is reachable (a user's
laptop, their CI). The optional extra ``containers`` brings the testcontainers package."""

from __future__ import annotations

import atexit
from typing import Any

KAFKA_IMAGE = "apache/kafka:3.9.1"
MONGO_IMAGE = "mongo:7.0"
MINIO_IMAGE = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
BUCKETS = ("labelops-datasets", "labelops-exports", "labelops-uploads")


def start_containers(credentials: dict[str, str]) -> dict[str, str]:
    try:
        from testcontainers.kafka import KafkaContainer
        from testcontainers.minio import MinioContainer
        from testcontainers.mongodb import MongoDbContainer
    except ImportError as exc:  # depends on the machine
        raise RuntimeError(
            "testcontainers mode needs: pip install -e '.[containers]' "
            "(or set LABELOPS_INFRA=native)") from exc

    kafka: Any = KafkaContainer(KAFKA_IMAGE).with_kraft()
    mongo: Any = MongoDbContainer(MONGO_IMAGE)
    minio: Any = MinioContainer(
        MINIO_IMAGE,
        access_key=credentials["LABELOPS_MINIO_ACCESS_KEY"],
        secret_key=credentials["LABELOPS_MINIO_SECRET_KEY"],
    )
    for container in (kafka, mongo, minio):
        container.start()
        atexit.register(container.stop)
    client = minio.get_client()
    for bucket in BUCKETS:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    return {
        "LABELOPS_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
        "LABELOPS_MONGO_URL": mongo.get_connection_url(),
        "LABELOPS_MINIO_ENDPOINT": minio.get_config()["endpoint"],
    }
