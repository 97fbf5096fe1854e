"""Secrets come from the environment and never reach a log line: settings logged as an
object, as their dump or as text, and the service's log of a refused token, show neither
the JWT secret nor the MinIO secret key."""

from __future__ import annotations

import io
import logging

import pytest

from labelops_shared.logging import JsonFormatter
from labelops_shared.settings import ServiceSettings

pytestmark = pytest.mark.unit
JWT_SECRET = "jwt-secret-value-that-must-never-be-logged-0123456789"
MINIO_SECRET = "minio-secret-key-that-must-never-be-logged"


def test_logging_the_settings_never_prints_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"JWT_SECRET": JWT_SECRET, "MINIO_SECRET_KEY": MINIO_SECRET,
                        "MINIO_ACCESS_KEY": "labelops", "MINIO_ENDPOINT": "127.0.0.1:9000",
                        "MONGO_URL": "mongodb://127.0.0.1:27017/",
                        "KAFKA_BOOTSTRAP": "127.0.0.1:9092"}.items():
        monkeypatch.setenv(f"LABELOPS_{name}", value)
    settings = ServiceSettings(service_name="dataset")
    assert settings.jwt_secret.get_secret_value() == JWT_SECRET  # read from the environment
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("dataset"))
    log = logging.getLogger("labelops.test.secrets")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("settings", extra={"settings": settings})
        log.info("settings dump", extra=settings.model_dump())
        log.info("settings text %s %r", settings, settings)
        log.info("settings json %s", settings.model_dump_json())
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert text.count("\n") == 4 and "127.0.0.1:9000" in text  # the settings were logged
    assert JWT_SECRET not in text and MINIO_SECRET not in text
