"""The generated catalogues for integrators: docs/asyncapi.json (FastStream's generator over
the services' real wiring), parsed by the AsyncAPI parser, and docs/grpc-reference.md (from
proto/); both regenerated here and compared with the committed files."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

from tests.ops.conftest import ROOT

ASYNCAPI = ROOT / "docs" / "asyncapi.json"
GRPC_REFERENCE = ROOT / "docs" / "grpc-reference.md"
PARSE = Path(__file__).with_name("asyncapi_parse.cjs")


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(parser: Path, document: Path) -> dict[str, object]:
    node = shutil.which("node")
    assert node, "node is needed for the AsyncAPI parser"
    done = subprocess.run([node, str(PARSE), str(document)], capture_output=True, text=True,
                          timeout=120, env={**os.environ,
                                            "NODE_PATH": str(parser / "node_modules")})
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_asyncapi_document_is_up_to_date() -> None:
    fresh = _script("gen_asyncapi").render()
    assert ASYNCAPI.read_text() == fresh, "docs/asyncapi.json drifted: run scripts/gen_asyncapi.py"


def test_the_asyncapi_document_names_every_event_and_consumer() -> None:
    from labelops_shared import topics
    from labelops_shared.events import EventData

    doc = json.loads(ASYNCAPI.read_text())
    channels = doc["channels"]
    for event_type, data_cls in EventData.registry.items():
        assert channels[event_type]["address"] == data_cls.TOPIC
    receivers = {name.split(":")[0] for name in channels if ":" in name}
    assert receivers == {f"labelops-{s}" for s in
                         ("dataset", "jobs", "assignment", "prelabel", "export")}
    assert channels[topics.DEAD_LETTER]["address"] == topics.DEAD_LETTER
    imported = doc["components"]["schemas"]["DatasetImportedEvent"]
    assert imported["properties"]["type"]["const"] == "labelops.dataset.imported.v1"


def test_the_asyncapi_parser_accepts_the_document(asyncapi_parser: Path) -> None:
    result = _parse(asyncapi_parser, ASYNCAPI)
    assert result["parsed"] and not result["errors"], result
    assert result["version"] == "3.0.0" and result["channels"] == len(
        json.loads(ASYNCAPI.read_text())["channels"])


def test_the_asyncapi_parser_rejects_a_broken_document(asyncapi_parser: Path,
                                                       tmp_path: Path) -> None:
    doc = json.loads(ASYNCAPI.read_text())
    first = next(iter(doc["operations"].values()))
    first["action"] = "publish"  # AsyncAPI 3 knows only send and receive
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    result = _parse(asyncapi_parser, broken)
    assert result["errors"], result


def test_the_grpc_reference_is_up_to_date() -> None:
    fresh = _script("gen_grpc_reference").render()
    assert GRPC_REFERENCE.read_text() == fresh, (
        "docs/grpc-reference.md drifted: run scripts/gen_grpc_reference.py")


def test_the_grpc_reference_lists_every_call() -> None:
    from grpc_tools import protoc  # noqa: F401  (the reference comes from the same protoc)

    text = GRPC_REFERENCE.read_text()
    for proto in sorted((ROOT / "proto").rglob("*.proto")):
        for line in proto.read_text().splitlines():
            if line.strip().startswith("rpc "):
                method = line.split()[1].split("(")[0]
                assert f"| `{method}` |" in text, f"{proto.name}: {method} missing"
