"""A local Kafka cluster of three KRaft nodes, beside the stack's single broker, for the
scale-out test and benchmark: each node is broker and controller (a quorum of three), on
loopback ports of its own (brokers 29092-29094, controllers 29192-29194; the first of each
from LABELOPS_CLUSTER_KAFKA_PORT and LABELOPS_CLUSTER_CONTROLLER_PORT). Every topic, the
consumer offsets included, has three copies and needs two in sync for a write, so the loss
of one node loses nothing and stops nothing.

Node ``n`` keeps its configuration and storage in LABELOPS_HOME/data/kafka-cluster/<n>, its
pid in run/kafka-cluster-<n>.pid and its output in logs/kafka-cluster-<n>.log. Starting is
idempotent (a running node is left alone; storage is formatted once, every node with the
cluster's one id). The stack's own servers are never touched.

    python -m labelops_cli.stack.cluster up|down|wipe|status|kill N|start N
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from labelops_cli.stack import paths, servers
from labelops_cli.stack.errors import StackError

NODES = 3
REPLICAS = 3  # copies of every topic; a write needs REPLICAS - 1 of them (min.insync)
START_TIMEOUT = servers.START_TIMEOUT


@dataclass(frozen=True)
class Node:
    n: int  # 1..NODES, also the KRaft node id
    port: int
    controller_port: int

    @property
    def name(self) -> str:
        return f"kafka-cluster-{self.n}"

    @property
    def endpoint(self) -> str:
        return f"{paths.HOST}:{self.port}"

    @property
    def directory(self) -> Path:
        return paths.home_dir("data", "kafka-cluster", str(self.n))


def _first_port(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536 - NODES:
        raise StackError(f"{variable}={raw!r} is not a port number")
    return int(raw)


def nodes() -> list[Node]:
    broker = _first_port("LABELOPS_CLUSTER_KAFKA_PORT", 29092)
    controller = _first_port("LABELOPS_CLUSTER_CONTROLLER_PORT", 29192)
    return [Node(n, broker + n - 1, controller + n - 1) for n in range(1, NODES + 1)]


def node(n: int) -> Node:
    if not 1 <= n <= NODES:
        raise ValueError(f"no node {n}: the cluster has nodes 1-{NODES}")
    return nodes()[n - 1]


def bootstrap() -> str:
    """Every node's broker endpoint: clients find the others from any one that answers."""
    return ",".join(one.endpoint for one in nodes())


def _cluster_id() -> str:
    """The cluster's id, made up once and kept beside the nodes' directories."""
    path = paths.home_dir("data", "kafka-cluster") / "cluster.id"
    if path.exists():
        return path.read_text().strip()
    first = node(1).directory
    (first / "log4j.properties").write_text(servers.KAFKA_LOG4J)
    cluster_id = servers.kafka_cluster_id(first / "log4j.properties")
    path.write_text(cluster_id + "\n")
    return cluster_id


def _command(one: Node) -> list[str]:
    """Write the node's configuration, format its storage once, and return its command.
    The paths in the command are relative to the node's directory (the process's working
    directory): the stack looks for a lost broker of its own among the processes whose
    command line names LABELOPS_HOME, and must not take a cluster node for it."""
    voters = ",".join(f"{other.n}@{paths.HOST}:{other.controller_port}" for other in nodes())
    storage = one.directory / "kraft"
    props = one.directory / "server.properties"
    props.write_text(servers.kafka_properties(
        node_id=one.n, port=one.port, controller_port=one.controller_port, voters=voters,
        log_dir=storage, replicas=REPLICAS))
    log4j = one.directory / "log4j.properties"
    log4j.write_text(servers.KAFKA_LOG4J)
    servers.format_kafka_storage(props, storage, log4j, _cluster_id())
    return servers.kafka_java(props.name, log4j.name, _marker(one))


def _marker(one: Node) -> str:
    """A JVM option naming the node and (by a digest, not its path) this LABELOPS_HOME: how
    the node's process is recognised."""
    home = hashlib.sha256(str(paths.labelops_home()).encode()).hexdigest()[:12]
    return f"-Dlabelops.cluster.node={home}-{one.n}"


def _pid_file(one: Node) -> Path:
    return paths.run_dir() / f"{one.name}.pid"


def _is_node(pid: int, one: Node) -> bool:
    """The process is this node's broker, not a recycled pid. A child of this process
    that has not exited is (its pid cannot be reused before it is reaped, and a JVM just
    started may show an empty command line for a moment)."""
    child = servers._children.get(pid)  # noqa: SLF001
    if child is not None and child.poll() is None:
        return True
    cmdline = servers._cmdline(pid)  # noqa: SLF001 - reaps our own exited children too
    return cmdline is not None and "kafka.Kafka" in cmdline and _marker(one) + " " in cmdline


def broker_pid(n: int) -> int | None:
    """The pid of node ``n`` while it runs, else None (a stale pid file is removed)."""
    one = node(n)
    try:
        pid = int(_pid_file(one).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if _is_node(pid, one):
        return pid
    _pid_file(one).unlink(missing_ok=True)
    return None


def _spawn(one: Node) -> int:
    for port in (one.port, one.controller_port):
        if servers._port_open(paths.HOST, port):  # noqa: SLF001
            raise StackError(f"{one.name}: port {port} on {paths.HOST} is taken by another "
                             "program; set LABELOPS_CLUSTER_KAFKA_PORT / "
                             "LABELOPS_CLUSTER_CONTROLLER_PORT to free ones")
    return servers.launch(one.name, _command(one), cwd=one.directory)


def _log(one: Node) -> Path:
    return paths.logs_dir() / f"{one.name}.log"


def wait_ready(ns: list[int] | None = None, timeout: float = START_TIMEOUT) -> None:
    """Wait until each named node (all by default) answers and the cluster counts every
    running node among its brokers (topics with three copies need three brokers)."""
    wanted = [node(n) for n in (ns or range(1, NODES + 1))]
    deadline = time.monotonic() + timeout
    pending = list(wanted)
    while pending:
        for one in list(pending):
            if broker_pid(one.n) is None:
                raise StackError(f"{one.name} exited while starting: log {_log(one)}")
            if servers.kafka_ready(one.endpoint):
                pending.remove(one)
        if pending and time.monotonic() > deadline:
            raise StackError(f"{', '.join(o.name for o in pending)} not ready after "
                             f"{timeout:.0f}s: logs in {paths.logs_dir()}")
        if pending:
            time.sleep(0.3)
    running = {one.n for one in nodes() if broker_pid(one.n) is not None}
    while True:
        described = servers.kafka_cluster(bootstrap()) or {}
        seen = {broker["node_id"] for broker in described.get("brokers", ())}
        if running <= seen:
            return
        if time.monotonic() > deadline:
            raise StackError(f"the cluster sees brokers {sorted(seen)}, not {sorted(running)}")
        time.sleep(0.3)


def start_broker(n: int, *, wait: bool = True, timeout: float = START_TIMEOUT) -> int:
    """Start node ``n`` unless it runs; with ``wait``, until the cluster counts it again."""
    pid = broker_pid(n) or _spawn(node(n))
    if wait:
        wait_ready([n], timeout)
    return pid


def _wait_gone(pid: int, one: Node, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_node(pid, one):
            return True
        time.sleep(0.05)
    return False


def kill_broker(n: int, sig: int = signal.SIGKILL) -> int | None:
    """Send ``sig`` to node ``n`` (SIGKILL: a crash, no controlled shutdown) and, for a
    terminating signal, wait until it is gone. The pid signalled, or None when it was not
    running."""
    one = node(n)
    pid = broker_pid(n)
    if pid is None:
        return None
    os.kill(pid, sig)
    if sig not in (signal.SIGSTOP, signal.SIGCONT) and _wait_gone(pid, one, 30):
        _pid_file(one).unlink(missing_ok=True)
    return pid


def _stop(ns: list[int], timeout: float) -> list[int]:
    """SIGTERM the named nodes together (a controlled shutdown; a node stopped after the
    others would wait for a quorum that is gone), SIGKILL what is left after ``timeout``.
    The nodes that were running."""
    running = {n: pid for n in ns if (pid := broker_pid(n)) is not None}
    for pid in running.values():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for n, pid in running.items():
        one = node(n)
        if not _wait_gone(pid, one, max(0.0, deadline - time.monotonic())):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, one, 10)
        _pid_file(one).unlink(missing_ok=True)
    return sorted(running)


def stop_broker(n: int, timeout: float = 30.0) -> bool:
    """Stop node ``n`` (SIGTERM: a controlled shutdown; SIGKILL after ``timeout``)."""
    return bool(_stop([n], timeout))


def up(timeout: float = START_TIMEOUT) -> str:
    """Start the nodes that are not running (together: a controller needs a majority of
    the quorum to elect a leader) and wait for all; returns the bootstrap servers."""
    for one in nodes():
        if broker_pid(one.n) is None:
            _spawn(one)
    wait_ready(timeout=timeout)
    return bootstrap()


def down(*, wipe: bool = False) -> None:
    """Stop every node; with ``wipe``, delete the cluster's data (topics, offsets, id)."""
    _stop([one.n for one in nodes()], 30.0)
    if wipe:
        import shutil

        shutil.rmtree(paths.labelops_home() / "data" / "kafka-cluster", ignore_errors=True)


def status() -> list[tuple[str, str, int | None, bool]]:
    """(node, endpoint, pid, answering) for each node."""
    return [(one.name, one.endpoint, broker_pid(one.n), servers.kafka_ready(one.endpoint))
            for one in nodes()]


def main(argv: list[str]) -> int:
    usage = "usage: python -m labelops_cli.stack.cluster up|down|wipe|status|kill N|start N"
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "up" and not args:
            print(f"LABELOPS_KAFKA_BOOTSTRAP={up()}")
        elif command in ("down", "wipe") and not args:
            down(wipe=command == "wipe")
        elif command == "status" and not args:
            for name, endpoint, pid, ready in status():
                print(f"{name}  {endpoint}  pid {pid or '-'}  {'ready' if ready else 'down'}")
        elif command == "kill" and len(args) == 1:
            print(f"SIGKILL sent to pid {kill_broker(int(args[0]))}")
        elif command == "start" and len(args) == 1:
            print(f"pid {start_broker(int(args[0]))}")
        else:
            print(usage)
            return 2
    except (StackError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
