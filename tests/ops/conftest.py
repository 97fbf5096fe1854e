"""The tools the ops tests run, installed once per pin into LABELOPS_CACHE by the project's
own installer (labelops_cli.stack.tools): promtool, kustomize, kubeconform, the Kubernetes
and Compose JSON schemas and the AsyncAPI parser. A missing toolchain fails the test with
the installer's one-line reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from labelops_cli.stack import tools
from labelops_cli.stack.errors import StackError

ROOT = Path(__file__).resolve().parents[2]


def _tool(ensure: Callable[[], Path]) -> Path:
    try:
        return ensure()
    except StackError as exc:
        pytest.fail(f"cannot install a tool the ops tests need: {exc}")


@pytest.fixture(scope="session")
def promtool() -> Path:
    return _tool(tools.ensure_promtool)


@pytest.fixture(scope="session")
def kustomize() -> Path:
    return _tool(tools.ensure_kustomize)


@pytest.fixture(scope="session")
def kubeconform() -> Path:
    return _tool(tools.ensure_kubeconform)


@pytest.fixture(scope="session")
def k8s_schemas() -> Path:
    return _tool(tools.ensure_k8s_schemas)


@pytest.fixture(scope="session")
def compose_schema() -> Path:
    return _tool(tools.ensure_compose_schema)


@pytest.fixture(scope="session")
def asyncapi_parser() -> Path:
    return _tool(tools.ensure_asyncapi_parser)
