"""The real servers, brought up once per test session (native, or testcontainers where a
Docker engine answers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labelops_cli.stack import InfraEnv, up_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraEnv]:
    """The stack's environment; the servers are left running after the session (a second
    `up` reuses them)."""
    yield up_infra()
