"""Service configuration, read only from the environment (prefix ``LABELOPS_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs to run. Missing required values fail at start-up."""

    model_config = SettingsConfigDict(env_prefix="LABELOPS_", extra="ignore")

    service_name: str = Field(default="labelops", description="dataset, jobs, assignment, ...")
    instance_id: str = Field(default="", description="this replica's name; defaults to host:pid")

    kafka_bootstrap: str
    mongo_url: str
    mongo_db: str = Field(default="", description="defaults to labelops_<service_name>")
    minio_endpoint: str
    minio_access_key: str
    minio_secret_key: SecretStr
    minio_secure: bool = False

    jwt_secret: SecretStr
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    metrics_port: int = 0

    # Peers for synchronous queries (host:port).
    dataset_addr: str = "127.0.0.1:17051"
    jobs_addr: str = "127.0.0.1:17052"
    assignment_addr: str = "127.0.0.1:17053"
    prelabel_addr: str = "127.0.0.1:17054"
    export_addr: str = "127.0.0.1:17055"

    log_level: str = "INFO"
    outbox_poll_seconds: float = 0.5
    handler_max_attempts: int = 5
    # Topics this service creates when missing (a cluster wants replicas on 3 brokers).
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    lag_poll_seconds: float = Field(default=15.0, description="consumer lag metric period; 0: off")

    @property
    def database_name(self) -> str:
        return self.mongo_db or f"labelops_{self.service_name}"
