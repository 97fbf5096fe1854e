"""Replicas of the services beside the stack's own, on the local Kafka cluster
(``labelops_cli.stack.cluster``): the scale-out test and benchmark run two processes of each
service and kill some of them.

Replica ``n`` of a service is the process ``<service>-<n>`` with gRPC port
29050 + 10·(n-1) + i and metrics port 29250 + 10·(n-1) + i (i = 1 for dataset … 5 for export),
its instance id its name, and its pid and log files under LABELOPS_HOME/scale-out. Every
replica of a service shares one database, ``<db_prefix>_<service>``: not the stack's own
(``labelops_<service>``), whose outbox the stack's services relay to the stack's broker. A
replica's peers are this set's replicas, its sibling ``n`` first (gRPC tries the addresses
of a target in order, so a dead peer's calls go to the other replica).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping
from pathlib import Path

from pymongo import MongoClient

from labelops_cli.services import SERVICES, ServiceProcesses, ServiceSpec, wait_healthy
from labelops_cli.stack import cluster, paths, servers

GRPC_BASE = 29050
METRICS_BASE = 29250


def cluster_env() -> dict[str, str]:
    """The stack's environment (database, MinIO, secrets) with the Kafka cluster instead of
    the stack's broker, and topics created with a copy on every node."""
    return {**servers.stack_env(), "LABELOPS_KAFKA_BOOTSTRAP": cluster.bootstrap(),
            "LABELOPS_KAFKA_REPLICATION_FACTOR": str(cluster.REPLICAS)}


class ReplicaSet:
    """``replicas`` processes of each of ``services``, started, killed and stopped by name
    (``assignment-2``)."""

    def __init__(self, replicas: int, infra_env: Mapping[str, str], *,
                 db_prefix: str = "labelops_scale", services: Iterable[str] = SERVICES,
                 home: Path | None = None) -> None:
        if db_prefix == "labelops":  # the stack's own databases (labelops_<service>)
            raise ValueError("replicas need databases of their own: another db_prefix")
        self.replicas = replicas
        self.infra_env = dict(infra_env)
        self.db_prefix = db_prefix
        self.services = list(services)
        self.processes = ServiceProcesses(home or paths.labelops_home() / "scale-out")
        order = list(SERVICES)
        self.specs = {
            f"{service}-{n}": ServiceSpec(
                f"{service}-{n}", GRPC_BASE + 10 * (n - 1) + order.index(service) + 1,
                METRICS_BASE + 10 * (n - 1) + order.index(service) + 1, service)
            for n in range(1, replicas + 1) for service in self.services}

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def database(self, service: str) -> str:
        return f"{self.db_prefix}_{service}"

    def target(self, service: str, prefer: int = 1) -> str:
        """A gRPC target naming every replica of ``service``, replica ``prefer`` first."""
        ns = sorted(range(1, self.replicas + 1), key=lambda n: (n - prefer) % self.replicas)
        addrs = [self.specs[f"{service}-{n}"].addr for n in ns]
        return addrs[0] if len(addrs) == 1 else "ipv4:" + ",".join(addrs)

    def targets(self, prefer: int = 1) -> dict[str, str]:
        """Service → target, for clients (``labelops_cli.client.connect(token, targets)``)."""
        return {service: self.target(service, prefer) for service in self.services}

    def _replica(self, name: str) -> int:
        return int(name.rsplit("-", 1)[1])

    def start(self, names: Iterable[str] | None = None, timeout: float = 120.0) -> None:
        """Start the named replicas (all by default) unless running; wait until they serve."""
        names = list(names or self.specs)
        for name in names:
            spec = self.specs[name]
            env = {**self.infra_env, "LABELOPS_MONGO_DB": self.database(spec.kind),
                   "LABELOPS_INSTANCE_ID": name}
            self.processes.start(name, env, spec=spec,
                                 peers=self.targets(prefer=self._replica(name)))
        wait_healthy(self.processes, names, timeout, self.specs)

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up (the crash of a pod)."""
        self.processes.kill(name)

    def stop(self, names: Iterable[str] | None = None) -> None:
        """SIGTERM (a clean shutdown) to all at once, since each takes seconds to drain;
        then wait for each, SIGKILL after the usual grace."""
        names = list(names or self.specs)
        for name in names:
            pid = self.processes.pid(name)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        for name in names:
            self.processes.stop(name)

    def pids(self) -> dict[str, int | None]:
        return {name: self.processes.pid(name) for name in self.specs}

    def drop_databases(self) -> None:
        """Drop this set's databases (only those: the stack's own are other names)."""
        client: MongoClient[dict[str, object]]
        with MongoClient(self.infra_env["LABELOPS_MONGO_URL"]) as client:
            for service in self.services:
                client.drop_database(self.database(service))
                if service == "assignment":  # its saved answers' own database
                    client.drop_database(f"{self.database(service)}_answers")
