"""Service configuration, read only from the environment (prefix ``LABELOPS_``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PlainSerializer, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REDACTED = "****"


def redact_url(url: str) -> str:
    """The URL with the password of its credentials (``scheme://user:password@hosts``)
    replaced by ``****``; everything up to the last ``@`` counts as credentials, so a
    password with an unescaped ``@`` is hidden whole."""
    start = url.find("://") + 3 if "://" in url else 0
    at = url.rfind("@", start)
    if at < 0 or ":" not in url[start:at]:
        return url
    user = url[start:at].split(":", 1)[0]
    return f"{url[:start]}{user}:{REDACTED}{url[at:]}"


class SecretUrl(SecretStr):
    """A URL that may carry a password: printed, logged and dumped with the password
    replaced by ``****``, so hosts stay readable; ``get_secret_value()`` is the URL
    itself."""

    def _display(self) -> str:
        return redact_url(self.get_secret_value())


# As a settings field: dumped as JSON the same way (a plain SecretStr dumps '**********').
SecretUrlField = Annotated[SecretUrl, PlainSerializer(str, return_type=str, when_used="json")]


class ServiceSettings(BaseSettings):
    """What every service needs to run. Missing required values fail at start-up."""

    model_config = SettingsConfigDict(env_prefix="LABELOPS_", extra="ignore")

    service_name: str = Field(default="labelops", description="dataset, jobs, assignment, ...")
    instance_id: str = Field(default="", description="this replica's name; defaults to host:pid")

    kafka_bootstrap: str
    mongo_url: SecretUrlField  # its password is a secret
    mongo_db: str = Field(default="", description="defaults to labelops_<service_name>")
    minio_endpoint: str
    minio_access_key: SecretStr  # a credential, as the secret key is
    minio_secret_key: SecretStr
    minio_secure: bool = False

    jwt_secret: SecretStr
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    grpc_max_concurrent_calls: int = Field(
        default=0, ge=0,
        description="unary gRPC calls running at once; the rest wait in line, calls a "
        "person waits on before working (claims) ahead of the others. 0: no limit")
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
