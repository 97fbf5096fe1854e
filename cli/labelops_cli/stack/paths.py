"""Where the local stack keeps things, and on which loopback ports it listens.

Everything is read from the environment at call time, so a process can point the stack at
another home and other ports (the benchmark's cold start does) without re-importing:

    LABELOPS_CACHE   downloads and builds, shared by every checkout (~/.cache/labelops)
    LABELOPS_HOME    this stack's data, logs, pid files, credentials (<repo>/.labelops)
    LABELOPS_KAFKA_PORT (19092), LABELOPS_KAFKA_CONTROLLER_PORT (19093),
    LABELOPS_FERRETDB_PORT (27117), LABELOPS_MINIO_PORT (19000),
    LABELOPS_MINIO_CONSOLE_PORT (19001)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DEPLOY_LOCAL = REPO / "deploy" / "local"
HOST = "127.0.0.1"  # every server listens on loopback only

DEFAULT_PORTS = {
    "KAFKA": 19092,
    "KAFKA_CONTROLLER": 19093,
    "FERRETDB": 27117,
    "MINIO": 19000,
    "MINIO_CONSOLE": 19001,
}


def cache_dir() -> Path:
    """Downloads and builds, shared by every checkout (LABELOPS_CACHE)."""
    value = os.environ.get("LABELOPS_CACHE")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "labelops"


def labelops_home() -> Path:
    """This stack's running state: data, logs, pid files, credentials (LABELOPS_HOME)."""
    value = os.environ.get("LABELOPS_HOME")
    return Path(value).expanduser().resolve() if value else REPO / ".labelops"


def home_dir(*parts: str) -> Path:
    """A directory under LABELOPS_HOME, created on first use."""
    path = labelops_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir() -> Path:
    return home_dir("run")


def logs_dir() -> Path:
    return home_dir("logs")


def data_dir(name: str) -> Path:
    return home_dir("data", name)


def config_dir() -> Path:
    return home_dir("config")


def bin_dir() -> Path:
    return cache_dir() / "bin"


def credentials_file() -> Path:
    return labelops_home() / "credentials.env"


def port(name: str) -> int:
    """LABELOPS_<NAME>_PORT, or the default for NAME (KAFKA, FERRETDB, MINIO, …)."""
    raw = os.environ.get(f"LABELOPS_{name}_PORT")
    if not raw:
        return DEFAULT_PORTS[name]
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 < value < 65536:
        from labelops_cli.stack.errors import StackError

        raise StackError(f"LABELOPS_{name}_PORT={raw!r} is not a port number (1-65535)")
    return value


@dataclass(frozen=True)
class Ports:
    kafka: int
    kafka_controller: int
    ferretdb: int
    minio: int
    minio_console: int


def ports() -> Ports:
    return Ports(
        kafka=port("KAFKA"),
        kafka_controller=port("KAFKA_CONTROLLER"),
        ferretdb=port("FERRETDB"),
        minio=port("MINIO"),
        minio_console=port("MINIO_CONSOLE"),
    )
