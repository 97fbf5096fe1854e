"""Secrets come from the environment and never reach a log line: settings logged as an
object, as their dump or as text, and the service's log of a refused token, show neither
the JWT secret, the MinIO access and secret keys, nor the database password (the database
URL is shown with its password replaced, so its hosts stay readable)."""

from __future__ import annotations

import io
import logging

import pytest

from labelops_cli.check.sources import CheckSettings
from labelops_shared.logging import JsonFormatter
from labelops_shared.settings import SecretUrl, ServiceSettings

pytestmark = pytest.mark.unit
JWT_SECRET = "jwt-secret-value-that-must-never-be-logged-0123456789"
MINIO_SECRET = "minio-secret-key-that-must-never-be-logged"
MINIO_ACCESS = "minio-access-key-never-logged"
MONGO_PASSWORD = "mongo-password-never-logged"
MONGO_URL = f"mongodb://labelops:{MONGO_PASSWORD}@db1.internal:27017,db2.internal:27017/" \
    "?replicaSet=rs0"
SHOWN_URL = "mongodb://labelops:****@db1.internal:27017,db2.internal:27017/?replicaSet=rs0"


def test_logging_the_settings_never_prints_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"JWT_SECRET": JWT_SECRET, "MINIO_SECRET_KEY": MINIO_SECRET,
                        "MINIO_ACCESS_KEY": MINIO_ACCESS, "MINIO_ENDPOINT": "127.0.0.1:9000",
                        "MONGO_URL": MONGO_URL,
                        "KAFKA_BOOTSTRAP": "127.0.0.1:9092"}.items():
        monkeypatch.setenv(f"LABELOPS_{name}", value)
    settings = ServiceSettings(service_name="dataset")
    assert settings.jwt_secret.get_secret_value() == JWT_SECRET  # read from the environment
    assert settings.mongo_url.get_secret_value() == MONGO_URL
    assert settings.minio_access_key.get_secret_value() == MINIO_ACCESS
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
    for secret in (JWT_SECRET, MINIO_SECRET, MINIO_ACCESS, MONGO_PASSWORD):
        assert secret not in text, secret
    assert text.count(SHOWN_URL) == 5  # the database's hosts, in every form


@pytest.mark.parametrize(("url", "shown"), [
    ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/"),
    ("mongodb://u:pw@h1:1,h2:2/db?replicaSet=rs0", "mongodb://u:****@h1:1,h2:2/db?replicaSet=rs0"),
    ("mongodb+srv://u:p%40ss@cluster.example.net/?w=1",
     "mongodb+srv://u:****@cluster.example.net/?w=1"),
    ("mongodb://u:p@ss/wd@h/", "mongodb://u:****@h/"),  # an unescaped '@' hides it all
    ("mongodb://u:@h/", "mongodb://u:****@h/"),
    ("mongodb://x509-subject@h/", "mongodb://x509-subject@h/"),  # no password
])
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    secret = SecretUrl(url)
    assert (str(secret), secret.get_secret_value()) == (shown, url)
    assert repr(secret) == f"SecretUrl({shown!r})"


def test_the_checker_shows_no_database_password_either(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELOPS_MONGO_URL", MONGO_URL)
    monkeypatch.setenv("LABELOPS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    settings = CheckSettings()
    for text in (repr(settings), str(settings.model_dump()), settings.model_dump_json()):
        assert MONGO_PASSWORD not in text and SHOWN_URL in text
    assert settings.mongo_url.get_secret_value() == MONGO_URL
