"""``labelops export`` with typer's CliRunner against the export service in process (its real
gRPC server, outbox and handlers on the in-memory fakes: services/export/tests/conftest.py):
start with a format and filters, follow the progress, download through the presigned URL
(served over HTTP here) with the checksum checked, list, show, reconcile, and errors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from labelops.export.v1 import export_pb2 as epb
from labelops.export.v1 import export_pb2_grpc
from labelops_cli import exports
from labelops_cli.client import _Bearer
from labelops_cli.main import app
from labelops_shared.annotations import build_template
from services.export.tests.conftest import Harness, harness  # noqa: F401  (the fixture)

DETECTION = build_template("object_detection", [{"name": "cat"}, {"name": "dog"}]).to_dict()


def _image(n: int, label: str, who: str) -> tuple[str, dict[str, Any], dict[str, Any], str, int]:
    return (f"ds1:1:{n:04d}", {"source": f"s3://b/{n}.jpg", "width": 200, "height": 100},
            {"objects": [{"type": "rectangle", "label": label, "x": n, "y": 10, "width": 20,
                          "height": 30}]}, who, 1)


class _Clients:
    def __init__(self, port: int, token: str) -> None:
        self.channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"),
                                              _Bearer(lambda: token))
        self.export = export_pb2_grpc.ExportServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


class _Served:
    corrupt = False  # serve each file with its last byte changed


@pytest.fixture
def objects(harness: Harness) -> Iterator[_Served]:  # noqa: F811
    """The fake object storage's files served over HTTP at its presigned URLs."""
    served = _Served()

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            bucket, key = self.path.split("?")[0].lstrip("/").split("/", 1)
            found = harness.storage.objects.get((bucket, key))
            if found is None:
                self.send_error(404)
                return
            body = found[0][:-1] + b"?" if served.corrupt else found[0]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    harness.storage.url_base = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture
def cli(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    """Runs ``labelops …`` in a worker thread (the service answers on the test's loop)."""
    monkeypatch.setattr(exports, "_connect", lambda workspace: _Clients(harness.port,
                                                                        harness.token))
    monkeypatch.setattr(exports, "console", Console(width=200))  # lines are not wrapped
    runner = CliRunner()

    async def run(*args: str) -> Result:
        return await asyncio.to_thread(runner.invoke, app, list(args), catch_exceptions=False)

    return run


async def _job(harness: Harness) -> None:  # noqa: F811
    await harness.create_job("j1", DETECTION, ["cat", "dog"])
    await harness.accept("j1", "p1", [_image(n, "cat" if n % 2 else "dog",
                                             "bob" if n < 6 else "eve") for n in range(10)])


async def test_an_export_with_filters_is_followed_and_downloaded(
        harness: Harness, cli: Any, objects: _Served, tmp_path: Path) -> None:  # noqa: F811
    await _job(harness)
    result = await cli("export", "j1", "--format", "manifest", "--label", "cat",
                       "--labeler", "bob", "--download", str(tmp_path), "--poll", "0.01")
    assert result.exit_code == 0, result.output
    assert "version 1 of job j1, manifest, labels=cat; labelers=bob" in result.output
    assert "3 items" in result.output and "sha256 checked" in result.output
    saved = tmp_path / "export-v1-manifest.jsonl"
    assert [json.loads(line)["id"] for line in saved.read_text().splitlines()] == [
        "ds1:1:0001", "ds1:1:0003", "ds1:1:0005"]
    record = (await harness.stub.ListExports(epb.ListExportsRequest(job_id="j1"),
                                             metadata=harness.metadata)).exports[0]
    assert record.sha256 == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert list(record.filter.labels) == ["cat"] and list(record.filter.labelers) == ["bob"]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")]


async def test_coco_hard_only_time_window_and_incremental_reach_the_service(
        harness: Harness, cli: Any, objects: _Served, tmp_path: Path) -> None:  # noqa: F811
    await _job(harness)
    first = await cli("export", "start", "j1", "-f", "coco", "--incremental",
                      "--accepted-from", "2020-01-01T00:00:00Z",
                      "--accepted-to", "2999-01-01T00:00:00Z",
                      "--download", str(tmp_path / "first.json"), "--poll", "0.01")
    assert first.exit_code == 0, first.output
    coco = json.loads((tmp_path / "first.json").read_text())
    assert len(coco["images"]) == 10 and len(coco["annotations"]) == 10
    second = await cli("export", "j1", "-f", "coco", "--incremental", "--hard-only",
                       "--poll", "0.01")
    assert second.exit_code == 0, second.output
    assert "hard only; incremental since" in second.output and "0 items" in second.output
    listed = await cli("export", "list", "j1")
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.output.splitlines() if "coco" in line]
    assert [line.split("│")[1].strip() for line in lines] == ["2", "1"]
    assert all("completed" in line for line in lines)


async def test_show_downloads_again_and_a_bad_download_is_not_kept(
        harness: Harness, cli: Any, objects: _Served, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    await _job(harness)
    done = await harness.finished((await harness.start("j1", "yolo")).id)
    shown = await cli("export", "show", done.id, "--download", str(tmp_path / "y.zip"))
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / "y.zip").read_bytes()[:2] == b"PK"

    original = exports.httpx.stream

    def tampered(method: str, url: str, **kwargs: Any) -> Any:
        return original(method, url.replace("/labelops-exports/", "/missing/"), **kwargs)

    monkeypatch.setattr(exports.httpx, "stream", tampered)
    missing = await cli("export", "show", done.id, "--download", str(tmp_path / "z.zip"))
    assert missing.exit_code != 0 and "HTTP 404" in missing.output
    assert not (tmp_path / "z.zip").exists()

    monkeypatch.setattr(exports.httpx, "stream", original)
    objects.corrupt = True
    broken = await cli("export", "show", done.id, "--download", str(tmp_path / "b.zip"))
    assert broken.exit_code == 1 and "the download does not match the export" in broken.output
    assert not [name for name in os.listdir(tmp_path) if name.startswith("b.zip")], (
        "neither the file nor its partial download is kept")


async def test_errors_end_the_command_with_the_services_message(
        harness: Harness, cli: Any) -> None:  # noqa: F811
    await _job(harness)
    refused = await cli("export", "j1", "--format", "conll")
    assert refused.exit_code == 1
    assert "CoNLL BIO needs a span topic" in refused.output
    unknown = await cli("export", "list", "nope")
    assert unknown.exit_code == 1 and "job 'nope' not found" in unknown.output
    await harness.accept("j1", "p2", [(f"x{n}", {"source": "s3://b/x.jpg"},
                                       {"objects": [{"type": "rectangle", "label": "cat",
                                                     "x": 1, "y": 1, "width": 2,
                                                     "height": 2}]}, "ann", 1)
                                      for n in range(2)])
    failed = await cli("export", "j1", "--format", "yolo", "--poll", "0.01")
    assert failed.exit_code == 1
    assert "failed:" in failed.output and "has no positive width and height" in failed.output


async def test_reconcile_prints_both_counts_and_the_packages_that_differ(
        harness: Harness, cli: Any) -> None:  # noqa: F811
    await _job(harness)
    harness.assignment.accepted["j1"] = 12
    harness.assignment.packages["j1"] = {"p1": 10, "p9": 2}
    found = await cli("export", "reconcile", "j1", "--by-package")
    assert found.exit_code == 0, found.output
    assert ("labeled view 10 items, assignment service 12 accepted items, difference -2"
            in found.output)
    assert "1 in the view, 2 accepted, 1 differ" in found.output
    assert "p9" in found.output and "p1 " not in found.output
    harness.assignment.accepted["j1"] = 10
    same = await cli("export", "reconcile", "j1")
    assert "difference +0 → match" in same.output
