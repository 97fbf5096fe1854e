"""The running services, seen as an operator sees them: every /metrics page passes
`promtool check metrics`, reports its consumer group's lag per topic, and every gRPC server
answers reflection (what `grpcurl -plaintext HOST:PORT list` asks) without a token."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labelops_cli.services import SERVICES, ServiceProcesses
from labelops_cli.stack import tools

pytestmark = pytest.mark.e2e


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


@pytest.fixture(scope="module")
def promtool() -> Path:
    return tools.ensure_promtool()


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_live_metrics_pass_promtool(platform: ServiceProcesses, promtool: Path,
                                          service: str) -> None:
    text = await asyncio.to_thread(_scrape, SERVICES[service].metrics_port)
    assert "labelops_events_consumed_total" in text or "labelops_outbox_backlog" in text
    done = await asyncio.to_thread(subprocess.run, [str(promtool), "check", "metrics"],
                                   input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{service}:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_live_consumer_lag_is_reported(platform: ServiceProcesses, service: str) -> None:
    """Each consuming service measures its group's lag within one period (15 s)."""
    group = f"labelops-{service}"
    deadline = time.monotonic() + 40
    while True:
        text = await asyncio.to_thread(_scrape, SERVICES[service].metrics_port)
        found = re.findall(rf'^labelops_kafka_consumer_lag{{group="{group}",topic="([^"]+)"}} '
                           r"(\S+)$", text, re.MULTILINE)
        if found or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    assert found, f"{service}: no labelops_kafka_consumer_lag for {group}"
    assert all(float(value) >= 0 for _, value in found)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_live_reflection_lists_the_service(platform: ServiceProcesses,
                                                 service: str) -> None:
    def services() -> list[str]:
        with grpc.insecure_channel(SERVICES[service].addr) as channel:
            return sorted(ProtoReflectionDescriptorDatabase(channel).get_services())

    names = await asyncio.to_thread(services)
    assert "grpc.health.v1.Health" in names
    assert any(n.startswith(f"labelops.{service}.v1.") for n in names), names
