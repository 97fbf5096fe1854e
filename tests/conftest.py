"""Session fixtures: the real servers (native, or testcontainers where a Docker engine runs)
and the five services as real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelops_cli.services import ServiceProcesses, wait_healthy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Load tests (marked ``load``) run last: the burst of events they leave behind keeps
    every consumer busy for minutes, which would hold up the flows of the tests after them."""
    items.sort(key=lambda item: item.get_closest_marker("load") is not None)


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    from labelops_cli.stack.servers import up_infra

    env = up_infra()
    os.environ.update(env)
    yield env


@pytest.fixture(scope="session")
def platform(stack_env: dict[str, str]) -> Iterator[ServiceProcesses]:
    from labelops_cli.stack.paths import labelops_home

    processes = ServiceProcesses(Path(labelops_home()))
    processes.start_all(stack_env)
    wait_healthy(processes)
    yield processes
    processes.stop_all()
