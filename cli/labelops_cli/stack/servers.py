"""Start, stop and check the local servers as background processes (pid files, logs and
data under LABELOPS_HOME). Every step is idempotent: a healthy server is left running."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from labelops_cli.stack import install, paths
from labelops_cli.stack.install import StackError

console = Console(stderr=True)
BUCKETS = ("labelops-datasets", "labelops-exports", "labelops-uploads")


def _home(*parts: str) -> Path:
    path = paths.labelops_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _credentials_file() -> Path:
    return _home() / "credentials.env"


def _load_credentials() -> dict[str, str]:
    """Generated once per LABELOPS_HOME and kept (mode 600)."""
    path = _credentials_file()
    if not path.exists():
        values = {
            "LABELOPS_MINIO_ACCESS_KEY": f"labelops-{secrets.token_hex(4)}",
            "LABELOPS_MINIO_SECRET_KEY": secrets.token_urlsafe(24),
            "LABELOPS_JWT_SECRET": secrets.token_urlsafe(48),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{k}={v}\n" for k, v in values.items())
    return dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)


def stack_env() -> dict[str, str]:
    """The environment the services and clients need to reach the local stack."""
    env = {
        "LABELOPS_KAFKA_BOOTSTRAP": f"127.0.0.1:{paths.KAFKA_PORT}",
        "LABELOPS_MONGO_URL": os.environ.get("MONGO_URL")
        or f"mongodb://127.0.0.1:{paths.FERRETDB_PORT}/",
        "LABELOPS_MINIO_ENDPOINT": f"127.0.0.1:{paths.MINIO_PORT}",
        **_load_credentials(),
    }
    stored = _home() / "infra.env"
    if stored.exists():  # written by the testcontainers mode: its endpoints win
        env.update(dict(line.split("=", 1) for line in stored.read_text().split() if "=" in line))
    return env


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    start: Callable[[], list[str]]
    ready: Callable[[], bool]
    env: Callable[[], dict[str, str]] = dict


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kafka_command() -> list[str]:
    libs = install.kafka_libs()
    data = _home("data", "kafka")
    config = _home("config")
    props = config / "kafka.properties"
    props.write_text("\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{paths.KAFKA_CONTROLLER_PORT}",
        f"listeners=PLAINTEXT://127.0.0.1:{paths.KAFKA_PORT},"
        f"CONTROLLER://127.0.0.1:{paths.KAFKA_CONTROLLER_PORT}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{paths.KAFKA_PORT}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=3",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=6",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
    ]) + "\n")
    log4j = config / "kafka-log4j.properties"
    log4j.write_text(
        "log4j.rootLogger=WARN, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
    classpath = f"{libs}/*"
    if not (data / "meta.properties").exists():  # format the storage once
        cluster_id = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["java", "-cp", classpath, f"-Dlog4j.configuration=file:{log4j}",
                        "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                       capture_output=True, check=True)
    return ["java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-cp", classpath,
            f"-Dlog4j.configuration=file:{log4j}", "kafka.Kafka", str(props)]


def _kafka_ready() -> bool:
    """The broker answers a metadata request (an open port alone is not enough)."""
    if not _port_open(paths.KAFKA_PORT):
        return False
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{paths.KAFKA_PORT}",
                                    request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())


def _ferretdb_command() -> list[str]:
    data = _home("data", "ferretdb")
    return [str(paths.cache_dir() / "bin" / "ferretdb"),
            f"-listen-addr=127.0.0.1:{paths.FERRETDB_PORT}", f"-sqlite-url=file:{data}/",
            "-log-level=error"]


def _ferretdb_ready() -> bool:
    if not _port_open(paths.FERRETDB_PORT):
        return False
    from pymongo import MongoClient

    try:
        with MongoClient(f"mongodb://127.0.0.1:{paths.FERRETDB_PORT}/",
                         serverSelectionTimeoutMS=1000) as client:
            client.admin.command("ping")
        return True
    except Exception:
        return False


def _minio_command() -> list[str]:
    return [str(paths.cache_dir() / "bin" / "minio"), "server", str(_home("data", "minio")),
            "--address", f"127.0.0.1:{paths.MINIO_PORT}",
            "--console-address", f"127.0.0.1:{paths.MINIO_CONSOLE_PORT}", "--quiet"]


def _minio_env() -> dict[str, str]:
    creds = _load_credentials()
    return {"MINIO_ROOT_USER": creds["LABELOPS_MINIO_ACCESS_KEY"],
            "MINIO_ROOT_PASSWORD": creds["LABELOPS_MINIO_SECRET_KEY"],
            "MINIO_BROWSER": "off", "MINIO_UPDATE": "off"}


def _minio_ready() -> bool:
    try:
        url = f"http://127.0.0.1:{paths.MINIO_PORT}/minio/health/live"
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


SERVERS = {
    "kafka": Server("kafka", paths.KAFKA_PORT, _kafka_command, _kafka_ready),
    "ferretdb": Server("ferretdb", paths.FERRETDB_PORT, _ferretdb_command, _ferretdb_ready),
    "minio": Server("minio", paths.MINIO_PORT, _minio_command, _minio_ready, _minio_env),
}


def _pid_file(name: str) -> Path:
    return _home("run") / f"{name}.pid"


def server_pid(name: str) -> int | None:
    try:
        pid = int(_pid_file(name).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def _wanted() -> list[str]:
    return ["kafka", "minio"] if os.environ.get("MONGO_URL") else ["kafka", "ferretdb", "minio"]


def start_server(name: str, timeout: float = 90.0) -> int:
    server = SERVERS[name]
    pid = server_pid(name)
    if pid and server.ready():
        return pid
    if pid is None and _port_open(server.port):
        raise StackError(f"{name}: port {server.port} is taken by another program; "
                         f"set LABELOPS_{name.upper()}_PORT to another port")
    if pid is None:
        log = _home("logs") / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(server.start(), env={**os.environ, **server.env()},
                                       stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        pid = process.pid
        _pid_file(name).write_text(str(pid))
        console.print(f"[cyan]•[/cyan] started {name} (pid {pid}, log {log})")
    deadline = time.monotonic() + timeout
    while not server.ready():
        if server_pid(name) is None:
            log = _home("logs") / f"{name}.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise StackError(f"{name} exited during start-up; see {log}\n{tail}")
        if time.monotonic() > deadline:
            raise StackError(f"{name} not ready after {timeout:.0f}s; see its log")
        time.sleep(0.2)
    return pid


def stop_server(name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    pid = server_pid(name)
    if pid is not None:
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while server_pid(name) is not None and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        if server_pid(name) is not None:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
    _pid_file(name).unlink(missing_ok=True)


def restart_server(name: str) -> int:
    stop_server(name)
    return start_server(name)


def _ensure_buckets(env: dict[str, str]) -> None:
    from minio import Minio

    client = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                   secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    for bucket in BUCKETS:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)


def infra_mode() -> str:
    """"testcontainers" where a Docker engine answers, else "native"; LABELOPS_INFRA wins."""
    forced = os.environ.get("LABELOPS_INFRA")
    if forced in ("native", "testcontainers"):
        return forced
    sock = Path("/var/run/docker.sock")
    if not sock.exists():
        return "native"
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return "testcontainers" if b"OK" in s.recv(256) else "native"
    except OSError:
        return "native"


def up_infra() -> dict[str, str]:
    """Install what is missing and start every server; returns the stack's environment."""
    if infra_mode() == "testcontainers":
        from labelops_cli.stack.containers import start_containers

        env = {**_load_credentials(), **start_containers(_load_credentials())}
        (_home() / "infra.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return stack_env()
    (_home() / "infra.env").unlink(missing_ok=True)
    install.ensure_kafka()
    if not os.environ.get("MONGO_URL"):
        install.ensure_ferretdb()
    install.ensure_minio()
    for name in _wanted():
        start_server(name)
    env = stack_env()
    _ensure_buckets(env)
    return env


def down_infra() -> None:
    for name in reversed(_wanted()):
        stop_server(name)


def infra_status() -> list[tuple[str, str, bool]]:
    env = stack_env()
    return [
        ("kafka", env["LABELOPS_KAFKA_BOOTSTRAP"], _port_open(paths.KAFKA_PORT)),
        ("mongodb api", env["LABELOPS_MONGO_URL"],
         bool(os.environ.get("MONGO_URL")) or _ferretdb_ready()),
        ("minio", env["LABELOPS_MINIO_ENDPOINT"], _minio_ready()),
    ]
