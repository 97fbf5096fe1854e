"""The layout is the architecture: no service imports another, domains do no I/O, and the
shared kernel imports no service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir()
                  if p.is_dir() and (p / "__init__.py").exists())
IO_MODULES = {"pymongo", "aiokafka", "faststream", "grpc", "minio", "socket", "requests",
              "urllib", "httpx", "labelops_shared.runtime", "labelops_shared.kafka"}
PURE = {"urllib.parse"}  # string functions only


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_all_five_services_exist() -> None:
    assert SERVICES == ["assignment", "dataset", "export", "jobs", "prelabel"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    for path in (ROOT / "services" / service).rglob("*.py"):
        for name in _imports(path):
            if name.startswith("services."):
                assert name.split(".")[1] == service, f"{path} imports {name}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_does_no_io(service: str) -> None:
    for path in (ROOT / "services" / service / "domain").rglob("*.py"):
        for name in _imports(path):
            root = name.split(".")[0]
            if name in PURE:
                continue
            assert name not in IO_MODULES and root not in IO_MODULES, f"{path} imports {name}"


def test_the_shared_kernel_imports_no_service() -> None:
    for path in (ROOT / "shared" / "labelops_shared").rglob("*.py"):
        assert not any(n.startswith("services") for n in _imports(path)), path


def test_the_cli_imports_no_service() -> None:
    """The command talks to a deployment over gRPC, Kafka and the databases, as any outside
    client would (``labelops check`` folds events with the shared replay, not a service's)."""
    for path in (ROOT / "cli" / "labelops_cli").rglob("*.py"):
        assert not any(n.startswith("services") for n in _imports(path)), path
