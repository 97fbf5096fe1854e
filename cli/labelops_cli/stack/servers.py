"""Start, stop and check the local stack's servers (Kafka, FerretDB, MinIO) as background
processes on loopback, with pid files in LABELOPS_HOME/run, logs in LABELOPS_HOME/logs and data
in LABELOPS_HOME/data. Every step is idempotent: a healthy server is left running, a stale pid
file (a dead or recycled pid) is cleared, Kafka's storage is formatted once.

The stack's endpoints and secrets live in LABELOPS_HOME/credentials.env (mode 600):

    LABELOPS_KAFKA_BOOTSTRAP    host:port of the broker
    LABELOPS_MONGO_URL          mongodb:// URL (FerretDB here; MONGO_URL when that is set)
    LABELOPS_MINIO_ENDPOINT     host:port of the S3 API (plain HTTP on loopback)
    LABELOPS_MINIO_ACCESS_KEY   generated once per LABELOPS_HOME
    LABELOPS_MINIO_SECRET_KEY   generated once per LABELOPS_HOME
    LABELOPS_JWT_SECRET         generated once per LABELOPS_HOME

``up_infra()`` returns them (and ``stack_env()`` reads them back); where a Docker engine is
reachable the same servers come from testcontainers instead (``infra_mode()``).
"""

from __future__ import annotations

import asyncio
import fcntl
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from labelops_cli.stack import install, paths, versions
from labelops_cli.stack.errors import StackError

__all__ = [
    "BUCKETS", "ENV_KEYS", "SERVERS", "InfraEnv", "ServerStatus", "StackError", "down_infra",
    "infra_mode", "infra_status", "kill_server", "restart_server", "server_pid",
    "server_status", "stack_env", "start_server", "stop_server", "up_infra",
]

console = Console(stderr=True, highlight=False)
T = TypeVar("T")

SERVERS = ("kafka", "ferretdb", "minio")
BUCKETS = ("labelops-datasets", "labelops-exports", "labelops-uploads")
ENV_KEYS = (
    "LABELOPS_KAFKA_BOOTSTRAP", "LABELOPS_MONGO_URL", "LABELOPS_MINIO_ENDPOINT",
    "LABELOPS_MINIO_ACCESS_KEY", "LABELOPS_MINIO_SECRET_KEY", "LABELOPS_JWT_SECRET",
)
SECRET_KEYS = ENV_KEYS[3:]
START_TIMEOUT = float(os.environ.get("LABELOPS_START_TIMEOUT", 120))

# Children started by this process, so their exit is noticed (and reaped) at once.
_children: dict[int, subprocess.Popen[bytes]] = {}


class InfraEnv(dict[str, str]):
    """The stack's environment (the ENV_KEYS), plus how it came up: ``mode`` ("native" or
    "testcontainers"), ``pids`` of the native servers and ``timings`` in seconds."""

    mode: str
    pids: dict[str, int | None]
    timings: dict[str, float]

    def __init__(self, values: dict[str, str], *, mode: str = "native",
                 pids: dict[str, int | None] | None = None,
                 timings: dict[str, float] | None = None) -> None:
        super().__init__(values)
        self.mode = mode
        self.pids = dict(pids or {})
        self.timings = dict(timings or {})


@dataclass(frozen=True)
class ServerStatus:
    name: str
    endpoint: str
    pid: int | None  # None: not ours or not running (an external MONGO_URL, a container)
    ready: bool
    log: Path | None = None


# -- credentials.env -----------------------------------------------------------------------


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# LabelOps local stack: endpoints and generated secrets. Keep private.\n")
        out.writelines(f"{key}={values[key]}\n" for key in ENV_KEYS if key in values)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _secrets() -> dict[str, str]:
    """The stack's secrets, generated once per LABELOPS_HOME and kept."""
    path = paths.credentials_file()
    stored = _read_env_file(path)
    if all(stored.get(key) for key in SECRET_KEYS):
        return {key: stored[key] for key in SECRET_KEYS}
    generated = {
        "LABELOPS_MINIO_ACCESS_KEY": f"labelops-{secrets.token_hex(6)}",
        "LABELOPS_MINIO_SECRET_KEY": secrets.token_urlsafe(30),
        "LABELOPS_JWT_SECRET": secrets.token_urlsafe(48),
    }
    merged = {**generated, **{k: v for k, v in stored.items() if v}}
    _write_env_file(path, {**stored, **merged})
    return {key: merged[key] for key in SECRET_KEYS}


def _native_endpoints() -> dict[str, str]:
    ports = paths.ports()
    return {
        "LABELOPS_KAFKA_BOOTSTRAP": f"{paths.HOST}:{ports.kafka}",
        "LABELOPS_MONGO_URL": os.environ.get("MONGO_URL")
        or f"mongodb://{paths.HOST}:{ports.ferretdb}/",
        "LABELOPS_MINIO_ENDPOINT": f"{paths.HOST}:{ports.minio}",
    }


def stack_env() -> dict[str, str]:
    """The environment services and clients need to reach the stack, as the last
    ``up_infra()`` wrote it to LABELOPS_HOME/credentials.env (MONGO_URL, when set, wins)."""
    stored = _read_env_file(paths.credentials_file())
    env = {**_native_endpoints(), **_secrets()}
    env.update({k: v for k, v in stored.items() if k in ENV_KEYS and v})
    if os.environ.get("MONGO_URL"):
        env["LABELOPS_MONGO_URL"] = os.environ["MONGO_URL"]
    return {key: env[key] for key in ENV_KEYS}


# -- processes -----------------------------------------------------------------------------


def _pid_file(name: str) -> Path:
    return paths.run_dir() / f"{name}.pid"


def _log_file(name: str) -> Path:
    return paths.logs_dir() / f"{name}.log"


def _cmdline(pid: int) -> str | None:
    """The command line of a live (non-zombie) process, or None."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
        return None
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            return None
    try:  # no /proc (macOS)
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return None
    out = subprocess.run(["ps", "-o", "stat=,command=", "-p", str(pid)],
                         capture_output=True, text=True, check=False)
    line = out.stdout.strip()
    return None if not line or line.startswith("Z") else line


def _is_ours(name: str, cmdline: str) -> bool:
    """The process is this stack's server `name` (guards against a recycled pid)."""
    marker = {"kafka": "kafka.Kafka", "ferretdb": "ferretdb", "minio": "minio"}[name]
    return marker in cmdline and str(paths.labelops_home()) in cmdline


def server_pid(name: str) -> int | None:
    """The pid of this stack's running server `name`, or None (a stale pid file is removed)."""
    _check_name(name)
    pid_file = _pid_file(name)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    child = _children.get(pid)
    if child is not None and child.poll() is None:
        # Started by this process and running: its /proc command line can read empty or
        # partial while it starts (seen with MinIO), which must not count as "exited".
        return pid
    cmdline = _cmdline(pid)
    if cmdline is None or not _is_ours(name, cmdline):
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def _check_name(name: str) -> None:
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}: one of {', '.join(SERVERS)}")


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host or paths.HOST, int(port)


@contextmanager
def _home_lock() -> Iterator[None]:
    """One start or stop at a time per LABELOPS_HOME."""
    with open(paths.run_dir() / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- readiness -----------------------------------------------------------------------------


def _in_thread(fn: Callable[[], T]) -> T | None:
    """Run an asyncio probe on its own loop, also when the caller is inside a running loop
    (None when it did not finish in time)."""
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(15)
    return result[0] if result else None


def kafka_cluster(bootstrap: str) -> dict[str, Any] | None:
    """The cluster as the brokers at ``bootstrap`` describe it (``brokers``,
    ``controller_id``), or None when none answers."""
    if not any(_port_open(*_split_endpoint(one)) for one in bootstrap.split(",")):
        return None

    async def probe() -> dict[str, Any] | None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 8)
            described: dict[str, Any] = await asyncio.wait_for(admin.describe_cluster(), 8)
            return described
        except Exception:
            return None
        finally:
            try:
                await admin.close()
            except Exception:
                pass

    return _in_thread(lambda: asyncio.run(probe()))


def kafka_ready(bootstrap: str) -> bool:
    """The broker answers a metadata request (an open port alone is not enough)."""
    cluster = kafka_cluster(bootstrap)
    return (cluster is not None and bool(cluster.get("brokers"))
            and cluster.get("controller_id", -1) >= 0)


def mongo_ready(url: str, timeout_ms: int = 2000) -> bool:
    from pymongo import MongoClient

    try:
        client: MongoClient[dict[str, Any]]
        with MongoClient(url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                         socketTimeoutMS=timeout_ms) as client:
            client.admin.command("ping")
        return True
    except Exception:
        return False


def minio_ready(endpoint: str) -> bool:
    host, port = _split_endpoint(endpoint)
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/minio/health/live")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _ready(name: str) -> bool:
    endpoints = _native_endpoints()
    ports = paths.ports()
    if name == "kafka":
        return kafka_ready(endpoints["LABELOPS_KAFKA_BOOTSTRAP"])
    if name == "ferretdb":
        return mongo_ready(f"mongodb://{paths.HOST}:{ports.ferretdb}/")
    return minio_ready(endpoints["LABELOPS_MINIO_ENDPOINT"])


# -- the three servers ---------------------------------------------------------------------


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise StackError(f"java not found: {install.HOW_JAVA}")
    return java


def kafka_properties(*, node_id: int, port: int, controller_port: int, voters: str,
                     log_dir: Path, replicas: int = 1) -> str:
    """A KRaft node's server.properties: broker and controller in one process. ``voters``
    is the quorum (``1@host:port,…``); ``replicas`` the copies of every topic, offsets
    included (a write needs all but one of them when there are more than one)."""
    min_isr = max(1, replicas - 1)
    return "\n".join([
        "# written by labelops_cli.stack on every start",
        "process.roles=broker,controller",
        f"node.id={node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners=PLAINTEXT://{paths.HOST}:{port},"
        f"CONTROLLER://{paths.HOST}:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{paths.HOST}:{port}",
        "inter.broker.listener.name=PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={log_dir}",
        "num.partitions=3",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=6",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_isr}",
        "transaction.state.log.num.partitions=6",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        "log.segment.bytes=104857600",
        "auto.create.topics.enable=false",  # topics are created explicitly
    ]) + "\n"


KAFKA_LOG4J = (
    "log4j.rootLogger=WARN, stdout\n"
    "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
    "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
    "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    "log4j.logger.kafka=WARN\n"
    "log4j.logger.org.apache.kafka=WARN\n"
)


def _kafka_tool(log4j: str, *args: str) -> str:
    """Run Kafka's StorageTool; its output."""
    done = subprocess.run([_java(), "-Xmx256m", "-cp", f"{install.kafka_libs()}/*",
                           f"-Dlog4j.configuration=file:{log4j}", "kafka.tools.StorageTool",
                           *args], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"Kafka's StorageTool {args[0]} failed: {last[0]}")
    return done.stdout.strip()


def kafka_cluster_id(log4j: Path) -> str:
    """A new KRaft cluster id."""
    return _kafka_tool(str(log4j), "random-uuid").splitlines()[-1]


def format_kafka_storage(props: Path, log_dir: Path, log4j: Path,
                         cluster_id: str | None = None) -> None:
    """Format a node's storage unless it is formatted already (the nodes of one cluster
    share ``cluster_id``; one node makes up its own)."""
    if (log_dir / "meta.properties").exists():
        return
    try:
        _kafka_tool(str(log4j), "format", "-t", cluster_id or kafka_cluster_id(log4j),
                    "-c", str(props), "--ignore-formatted")
    except StackError as exc:
        raise StackError(f"formatting Kafka's storage in {log_dir} failed: {exc}") from exc


def kafka_java(props: str, log4j: str, *jvm_options: str) -> list[str]:
    """The command that runs a Kafka node with the stack's cached jars."""
    return [_java(), "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", *jvm_options,
            f"-Dlog4j.configuration=file:{log4j}", "-cp", f"{install.kafka_libs()}/*",
            "kafka.Kafka", props]


def _kafka_command() -> list[str]:
    ports = paths.ports()
    data = paths.data_dir("kafka")
    config = paths.config_dir()
    props = config / "kafka.properties"
    props.write_text(kafka_properties(
        node_id=1, port=ports.kafka, controller_port=ports.kafka_controller,
        voters=f"1@{paths.HOST}:{ports.kafka_controller}", log_dir=data))
    log4j = config / "kafka-log4j.properties"
    log4j.write_text(KAFKA_LOG4J)
    format_kafka_storage(props, data, log4j)
    return kafka_java(str(props), str(log4j))


FERRETDB_SYNCHRONOUS = ("normal", "full")


def ferretdb_sqlite_url() -> str:
    """SQLite directory URL for FerretDB; LABELOPS_FERRETDB_SQLITE_PARAMS adds query options
    (for example ``_txlock=immediate``).

    SQLite's ``synchronous`` is LABELOPS_FERRETDB_SYNCHRONOUS, ``normal`` unless set. In WAL
    mode, ``normal`` writes each commit to the log without waiting for the disk (the log is
    synced at checkpoints): a killed process loses nothing, a power cut may lose the last
    commits, as MongoDB's default write concern (journal synced every 100 ms) may. FerretDB
    runs each update of a bulk ``update`` in a transaction of its own, so with ``full`` a
    group of 60 claims paid 60 syncs: at 64 labelers ``normal`` answered 20-40 % more
    items per second (bench/README.md)."""
    sync = os.environ.get("LABELOPS_FERRETDB_SYNCHRONOUS", "normal").strip().lower()
    if sync not in FERRETDB_SYNCHRONOUS:
        raise StackError(f"LABELOPS_FERRETDB_SYNCHRONOUS: {sync!r} is not one of "
                         f"{', '.join(FERRETDB_SYNCHRONOUS)}")
    params = [f"_pragma=synchronous({sync})"]
    extra = os.environ.get("LABELOPS_FERRETDB_SQLITE_PARAMS", "")
    if extra:
        params.append(extra)
    return f"file:{paths.data_dir('ferretdb')}/?" + "&".join(params)


def _ferretdb_command() -> list[str]:
    return [str(install.ferretdb_binary()), f"-listen-addr={paths.HOST}:{paths.ports().ferretdb}",
            # at "warn" FerretDB logs every command it refuses (each client's endSessions)
            f"-sqlite-url={ferretdb_sqlite_url()}", "-log-level=error"]


def _minio_command() -> list[str]:
    ports = paths.ports()
    return [str(install.minio_binary()), "server", str(paths.data_dir("minio")),
            "--address", f"{paths.HOST}:{ports.minio}",
            "--console-address", f"{paths.HOST}:{ports.minio_console}", "--quiet", "--anonymous"]


def _minio_env() -> dict[str, str]:
    creds = _secrets()
    return {"MINIO_ROOT_USER": creds["LABELOPS_MINIO_ACCESS_KEY"],
            "MINIO_ROOT_PASSWORD": creds["LABELOPS_MINIO_SECRET_KEY"],
            "MINIO_UPDATE": "off", "MINIO_BROWSER": "on"}


def _server_ports(name: str) -> list[tuple[str, int]]:
    ports = paths.ports()
    return {
        "kafka": [("LABELOPS_KAFKA_PORT", ports.kafka),
                  ("LABELOPS_KAFKA_CONTROLLER_PORT", ports.kafka_controller)],
        "ferretdb": [("LABELOPS_FERRETDB_PORT", ports.ferretdb)],
        "minio": [("LABELOPS_MINIO_PORT", ports.minio),
                  ("LABELOPS_MINIO_CONSOLE_PORT", ports.minio_console)],
    }[name]


def _command(name: str) -> tuple[list[str], dict[str, str]]:
    if name == "kafka":
        return _kafka_command(), {}
    if name == "ferretdb":
        return _ferretdb_command(), {}
    return _minio_command(), _minio_env()


def _log_tail(name: str, lines: int = 1) -> str:
    try:
        text = _log_file(name).read_text(errors="replace")
    except FileNotFoundError:
        return ""
    useful = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in useful if re.search(r"(?i)error|fatal|exception", line)]
    return " | ".join((errors or useful)[-lines:])[:300]


def _find_orphan(name: str) -> int | None:
    """This stack's server `name` running without its pid file (the file was lost)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if entry.name.isdigit():
            cmdline = _cmdline(int(entry.name))
            if cmdline and _is_ours(name, cmdline) and entry.name != str(os.getpid()):
                return int(entry.name)
    return None


def _adopt_orphan(name: str) -> int | None:
    orphan = _find_orphan(name)
    if orphan is not None:
        _pid_file(name).write_text(f"{orphan}\n")
        console.print(f"[dim]• {name} was running without its pid file (pid {orphan})[/dim]")
    return orphan


def launch(name: str, args: list[str], *, extra_env: dict[str, str] | None = None,
           cwd: Path | None = None) -> int:
    """Start a server process in its own session, its output appended to logs/<name>.log
    and its pid written to run/<name>.pid; returns the pid."""
    log = _log_file(name)
    with open(log, "ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        out.flush()
        process = subprocess.Popen(args, env={**os.environ, **(extra_env or {})}, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=cwd or paths.labelops_home())
    _children[process.pid] = process
    _pid_file(name).write_text(f"{process.pid}\n")
    return process.pid


def _spawn(name: str) -> int:
    for variable, port in _server_ports(name):
        if _port_open(paths.HOST, port):
            raise StackError(f"{name}: port {port} on {paths.HOST} is taken by another program; "
                             f"stop it or set {variable} to a free port")
    args, extra_env = _command(name)
    if not Path(args[0]).exists() and not shutil.which(args[0]):
        raise StackError(f"{name}: {args[0]} is missing: run `labelops infra` to install it")
    return launch(name, args, extra_env=extra_env)


def _wait_ready(name: str, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _ready(name):
        if server_pid(name) is None:
            raise StackError(f"{name} (pid {pid}) exited while starting: "
                             f"{_log_tail(name) or 'no output'} — log: {_log_file(name)}")
        if time.monotonic() > deadline:
            raise StackError(f"{name} (pid {pid}) is not ready after {timeout:.0f}s — log: "
                             f"{_log_file(name)}; `labelops down` stops it")
        time.sleep(0.2)


def _start_many(names: list[str], timeout: float) -> tuple[dict[str, int], dict[str, float]]:
    """Start the servers that are not running (all at once), then wait for each."""
    started_at = time.monotonic()
    pids: dict[str, int] = {}
    fresh: set[str] = set()
    for name in names:
        pid = server_pid(name) or _adopt_orphan(name)
        if pid is None:
            pid = _spawn(name)
            fresh.add(name)
        pids[name] = pid
    timings: dict[str, float] = {}
    for name in names:
        _wait_ready(name, pids[name], timeout)
        timings[f"{name}_ready_s"] = time.monotonic() - started_at
        if name in fresh:
            console.print(f"[green]✓[/green] {name} started (pid {pids[name]}) and ready in "
                          f"{timings[f'{name}_ready_s']:.1f}s [dim](log: {_log_file(name)})[/dim]")
        else:
            console.print(f"[dim]✓ {name} already running (pid {pids[name]})[/dim]")
    return pids, timings


def start_server(name: str, timeout: float = START_TIMEOUT) -> int:
    """Start server `name` unless it already runs; wait until it answers. Returns its pid."""
    _check_name(name)
    with _home_lock():
        pids, _ = _start_many([name], timeout)
    return pids[name]


def _wait_gone(name: str, pid: int, timeout: float) -> bool:
    """Whether the process ended within ``timeout``; if it did, this also waits (within the
    same time) for its ports to close: the main thread of a server with many threads (Go,
    Java) is a zombie while the others still close its sockets, and a restart at once would
    find its port taken."""
    deadline = time.monotonic() + timeout
    while (cmdline := _cmdline(pid)) is not None and _is_ours(name, cmdline):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    while time.monotonic() < deadline and any(
            _port_open(paths.HOST, port, 0.2) for _, port in _server_ports(name)):
        time.sleep(0.05)
    return True


def stop_server(name: str, timeout: float = 30.0) -> bool:
    """Stop server `name` (SIGTERM, then SIGKILL after `timeout`); data is kept. Returns
    whether it was running."""
    _check_name(name)
    with _home_lock():
        pid = server_pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not _wait_gone(name, pid, timeout):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_gone(name, pid, 10)
        _pid_file(name).unlink(missing_ok=True)
        _children.pop(pid, None)
        console.print(f"[dim]✓ {name} stopped (pid {pid})[/dim]")
        return True


def kill_server(name: str, sig: int = signal.SIGKILL, *, wait: bool = True) -> int | None:
    """Send `sig` to server `name` (for fault tests: SIGKILL a broker, SIGSTOP then SIGCONT
    the database…). With a terminating signal and `wait`, returns once the process is gone.
    Returns the pid signalled, or None when the server was not running."""
    _check_name(name)
    pid = server_pid(name)
    if pid is None:
        return None
    os.kill(pid, sig)
    pausing = {signal.SIGSTOP, signal.SIGTSTP, signal.SIGCONT, signal.SIGHUP}
    if wait and sig not in pausing:
        if _wait_gone(name, pid, 30):
            _pid_file(name).unlink(missing_ok=True)
            _children.pop(pid, None)
    return pid


def restart_server(name: str, timeout: float = START_TIMEOUT) -> int:
    """Stop server `name` (its data kept) and start it again; returns the new pid."""
    stop_server(name)
    return start_server(name, timeout)


def server_status(name: str) -> ServerStatus:
    _check_name(name)
    env = stack_env()
    endpoint = {"kafka": env["LABELOPS_KAFKA_BOOTSTRAP"], "ferretdb": env["LABELOPS_MONGO_URL"],
                "minio": env["LABELOPS_MINIO_ENDPOINT"]}[name]
    probes: dict[str, Callable[[str], bool]] = {
        "kafka": kafka_ready, "ferretdb": mongo_ready, "minio": minio_ready}
    ready = probes[name](endpoint)
    return ServerStatus(name, endpoint, server_pid(name), ready, _log_file(name))


def infra_status() -> list[tuple[str, str, bool]]:
    """(component, endpoint, answering) for Kafka, the MongoDB API and MinIO."""
    labels = {"kafka": "kafka", "ferretdb": "mongodb api", "minio": "minio"}
    return [(labels[s.name], s.endpoint, s.ready) for s in map(server_status, SERVERS)]


# -- the whole stack -----------------------------------------------------------------------


def infra_mode() -> str:
    """"testcontainers" where a Docker engine answers /_ping, else "native";
    LABELOPS_INFRA=native|testcontainers decides instead when set."""
    forced = os.environ.get("LABELOPS_INFRA", "").strip().lower()
    if forced in ("native", "testcontainers"):
        return forced
    if forced:
        raise StackError(f"LABELOPS_INFRA={forced!r}: use native or testcontainers")
    return "testcontainers" if _docker_answers() else "native"


def _docker_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"
    try:
        if host.startswith("unix://"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(host[len("unix://"):])
                sock.sendall(request)
                reply = sock.recv(512)
        elif host.startswith("tcp://"):
            parsed = urllib.parse.urlparse(host)
            with socket.create_connection((parsed.hostname or "", parsed.port or 2375), 1) as sock:
                sock.sendall(request)
                reply = sock.recv(512)
        else:
            return False
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def _ensure_buckets(env: dict[str, str], timeout: float = 30.0) -> None:
    from minio import Minio

    client = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                   secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    deadline = time.monotonic() + timeout
    while True:
        try:
            for bucket in BUCKETS:
                if not client.bucket_exists(bucket):
                    client.make_bucket(bucket)  # private: no bucket policy is set
            return
        except Exception as exc:  # MinIO answers health checks a moment before S3 calls
            if time.monotonic() > deadline:
                raise StackError(f"creating the MinIO buckets failed: {exc}") from exc
            time.sleep(0.3)


# testcontainers mode: what this process started, reused by a second up_infra().
_containers: dict[str, Any] = {}


def up_infra() -> InfraEnv:
    """Install what is missing and start Kafka, the MongoDB API (FerretDB, unless MONGO_URL
    is set) and MinIO with its buckets; idempotent. Returns the stack's environment."""
    started = time.monotonic()
    mode = infra_mode()
    if mode == "testcontainers":
        return _up_testcontainers(started)
    timings: dict[str, float] = {}
    external_mongo = os.environ.get("MONGO_URL")
    names = ["kafka", "minio"] if external_mongo else ["kafka", "ferretdb", "minio"]
    install.ensure_all(ferretdb=not external_mongo)
    timings["install_s"] = time.monotonic() - started
    with _home_lock():
        env = {**_native_endpoints(), **_secrets()}
        _write_env_file(paths.credentials_file(), env)
        if external_mongo:
            console.print("[dim]✓ MongoDB API: MONGO_URL (FerretDB not started)[/dim]")
            if not mongo_ready(external_mongo, timeout_ms=5000):
                raise StackError("MONGO_URL does not answer a ping: check the URL or unset "
                                 "MONGO_URL to use the local FerretDB")
        pids, start_timings = _start_many(names, START_TIMEOUT)
    timings.update(start_timings)
    mark = time.monotonic()
    _ensure_buckets(env)
    timings["buckets_s"] = time.monotonic() - mark
    timings["total_s"] = time.monotonic() - started
    all_pids: dict[str, int | None] = {name: pids.get(name) for name in SERVERS}
    return InfraEnv(env, mode="native", pids=all_pids, timings=timings)


def _up_testcontainers(started: float) -> InfraEnv:
    from labelops_cli.stack import testcontainers

    if not _containers:
        console.print("[cyan]•[/cyan] starting Kafka, MongoDB and MinIO with testcontainers "
                      "[dim](LABELOPS_INFRA=native runs them natively instead)[/dim]")
        creds = _secrets()
        _containers.update(testcontainers.start(creds))
        env = {**creds, **_containers["env"]}
        _ensure_buckets(env)
        _write_env_file(paths.credentials_file(), env)
    env = {**_secrets(), **_containers["env"]}
    return InfraEnv(env, mode="testcontainers", pids=dict.fromkeys(SERVERS),
                    timings={"total_s": time.monotonic() - started})


def down_infra() -> None:
    """Stop the servers (MinIO, FerretDB, then Kafka); their data is kept."""
    if _containers:
        from labelops_cli.stack import testcontainers

        testcontainers.stop(_containers)
        _containers.clear()
    for name in reversed(SERVERS):
        stop_server(name)


def started_servers() -> dict[str, int | None]:
    """The pid of each native server of this LABELOPS_HOME (None: not running)."""
    return {name: server_pid(name) for name in SERVERS}


def _credentials_file() -> Path:  # kept for callers of the first version of this module
    return paths.credentials_file()


def versions_in_use() -> dict[str, str]:
    return {"kafka": versions.KAFKA_VERSION, "ferretdb": versions.FERRETDB_VERSION,
            "minio": versions.MINIO_RELEASE}
