"""Start, stop and health-check the five LabelOps services as local processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the process's name: its pid and log files ("assignment", "assignment-2")
    grpc_port: int
    metrics_port: int
    service: str = ""  # the service it runs, when that is not its name (a replica)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def kind(self) -> str:
        return self.service or self.name


# Below Linux's ephemeral range (32768-60999): a port in it can be taken at any moment by an
# outgoing connection's local end, and a restarted service would then fail to bind.
SERVICES = {
    s.name: s
    for s in (
        ServiceSpec("dataset", 17051, 17091),
        ServiceSpec("jobs", 17052, 17092),
        ServiceSpec("assignment", 17053, 17093),
        ServiceSpec("prelabel", 17054, 17094),
        ServiceSpec("export", 17055, 17095),
    )
}


def service_env(spec: ServiceSpec, infra_env: Mapping[str, str],
                peers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process's environment; ``peers`` (service → gRPC target) replaces the addresses
    of the stack's own services."""
    addrs = {**{name: s.addr for name, s in SERVICES.items()}, **(peers or {})}
    env = {**os.environ, **infra_env}
    env.update(
        LABELOPS_SERVICE_NAME=spec.kind,
        LABELOPS_GRPC_PORT=str(spec.grpc_port),
        LABELOPS_METRICS_PORT=str(spec.metrics_port),
        **{f"LABELOPS_{name.upper()}_ADDR": addr for name, addr in addrs.items()},
    )
    return env


class ServiceProcesses:
    """Local processes of the services, tracked by pid files under ``home/run``."""

    def __init__(self, home: Path) -> None:
        self.run_dir = home / "run"
        self.log_dir = home / "logs"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text())
            try:  # reap it if it is our own child that exited (else it lingers as a zombie)
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return None
            except ChildProcessError:
                pass
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def start(self, name: str, infra_env: Mapping[str, str], *, spec: ServiceSpec | None = None,
              peers: Mapping[str, str] | None = None) -> int:
        """Start the service unless it runs already; returns its pid. ``spec`` (default: the
        stack's service ``name``) and ``peers`` (see ``service_env``) start a replica."""
        running = self.pid(name)
        if running:
            return running
        spec = spec or SERVICES[name]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{spec.kind}"],
                env=service_env(spec, infra_env, peers),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._pid_file(name).write_text(str(process.pid))
        return process.pid

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        pid = self.pid(name)
        if pid is None:
            self._pid_file(name).unlink(missing_ok=True)
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child, if it is one
                if finished:
                    break
            except ChildProcessError:
                pass
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        self._pid_file(name).unlink(missing_ok=True)

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to clean up (used by the fault tests)."""
        self.stop(name, signal.SIGKILL, timeout=10)

    def start_all(self, infra_env: Mapping[str, str], names: Iterable[str] = SERVICES) -> None:
        for name in names:
            self.start(name, infra_env)

    def stop_all(self, names: Iterable[str] = SERVICES) -> None:
        for name in names:
            self.stop(name)


def healthy(spec: ServiceSpec, timeout: float = 1.0) -> bool:
    try:
        with grpc.insecure_channel(spec.addr) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def wait_healthy(
    processes: ServiceProcesses, names: Iterable[str] = SERVICES, timeout: float = 90.0,
    specs: Mapping[str, ServiceSpec] = SERVICES,
) -> None:
    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending:
        for name in list(pending):
            if healthy(specs[name]):
                pending.remove(name)
            elif processes.pid(name) is None:
                log = processes.log_dir / f"{name}.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"service {name} exited during start-up; log tail:\n{tail}")
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"services not healthy after {timeout:.0f}s: {', '.join(pending)}")
        if pending:
            time.sleep(0.3)
