"""Where the local stack keeps things, and its pinned versions and ports."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DEPLOY_LOCAL = REPO / "deploy" / "local"

KAFKA_VERSION = "3.9.2"  # also in deploy/local/kafka/pom.xml
FERRETDB_VERSION = "v1.24.2"  # deploy/local/ferretdb/go.mod
MINIO_RELEASE = "RELEASE.2025-10-15T17-29-55Z"
MINIO_MODULE_VERSION = "v0.0.0-20251015172955-9e49d5e7a648"  # that tag's commit, pinned in go.sum
MINIO_COMMIT_TIME = "2025-10-15T17:29:55Z"


def cache_dir() -> Path:
    """Downloads and builds, shared by every checkout (LABELOPS_CACHE)."""
    return Path(os.environ.get("LABELOPS_CACHE", Path.home() / ".cache" / "labelops"))


def labelops_home() -> Path:
    """This checkout's running state: data, logs, pid files, credentials (LABELOPS_HOME)."""
    return Path(os.environ.get("LABELOPS_HOME", REPO / ".labelops"))


def port(name: str, default: int) -> int:
    return int(os.environ.get(f"LABELOPS_{name}_PORT", default))


KAFKA_PORT = port("KAFKA", 19092)
KAFKA_CONTROLLER_PORT = port("KAFKA_CONTROLLER", 19093)
FERRETDB_PORT = port("FERRETDB", 27117)
MINIO_PORT = port("MINIO", 19000)
MINIO_CONSOLE_PORT = port("MINIO_CONSOLE", 19001)
