"""Uploads live under the uploader's workspace folder of the uploads bucket, the only uploads
an import of that workspace may name: the CLI's file and folder uploads and the demo's
manifest land there, and another workspace's imports cannot name them (the dataset service
answers NOT_FOUND "no such object", as for a missing file: see
services/dataset/tests/test_object_access.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from labelops.dataset.v1 import dataset_pb2 as dpb
from labelops_cli import datasets, demo
from labelops_shared import storage

pytestmark = pytest.mark.unit
UPLOADS = storage.UPLOADS_BUCKET


class FakeMinio:
    """Records every object put in it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.put: list[tuple[str, str]] = []

    def put_object(self, bucket: str, key: str, data: Any, length: int, **_: Any) -> None:
        assert data.read(length) is not None
        self.put.append((bucket, key))

    def fput_object(self, bucket: str, key: str, path: str, **_: Any) -> None:
        self.put.append((bucket, key))


def _only_for(bucket: str, key: str, workspace: str) -> None:
    assert bucket == UPLOADS and key.startswith(f"{workspace}/"), key
    assert not storage.foreign_object(bucket, key, workspace)
    assert storage.foreign_object(bucket, key, "other")
    assert storage.foreign_object(bucket, key, workspace + "x")


def test_the_cli_uploads_a_file_and_a_folder_under_its_workspace(tmp_path: Path) -> None:
    (tmp_path / "items.manifest").write_text('{"data": {"source": "a"}}\n')
    (tmp_path / "shots" / "day1").mkdir(parents=True)
    (tmp_path / "shots" / "day1" / "a.png").write_bytes(b"png")
    minio = FakeMinio()
    uri = datasets._upload(minio, tmp_path / "items.manifest")  # type: ignore[arg-type]
    folder = datasets._upload_folder(minio, tmp_path / "shots")  # type: ignore[arg-type]
    assert [f"s3://{b}/{k}" for b, k in minio.put] == [uri, folder + "day1/a.png"]
    for bucket, key in minio.put:
        _only_for(bucket, key, datasets.WORKSPACE)
    bucket, prefix = storage.parse_s3_uri(folder)
    assert prefix.endswith("/shots/")
    _only_for(bucket, prefix, datasets.WORKSPACE)


def test_the_cli_imports_as_the_workspace_it_uploads_to(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens: list[str] = []
    monkeypatch.setattr(datasets, "connect", lambda token: tokens.append(token))
    datasets._client({"LABELOPS_JWT_SECRET": "s" * 32})
    [token] = tokens
    assert jwt.decode(token, options={"verify_signature": False})["ws"] == datasets.WORKSPACE


def test_the_demo_uploads_its_manifest_under_the_datasets_workspace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    minio = FakeMinio()
    monkeypatch.setattr(demo, "Minio", lambda *a, **k: minio)
    imported: list[str] = []

    class Datasets:
        def CreateDataset(self, request: Any) -> Any:
            return SimpleNamespace(id="d1", workspace="demo")

        def ImportDataset(self, request: Any) -> Any:
            assert minio.put, "uploaded before the import"
            imported.append(request.source_uri)

        def GetVersion(self, request: Any) -> Any:
            return SimpleNamespace(state=dpb.VERSION_STATE_READY)

    manifest = tmp_path / "reviews.manifest"
    manifest.write_text('{"data": {"source": "a"}}\n')
    env = {"LABELOPS_MINIO_ENDPOINT": "x", "LABELOPS_MINIO_ACCESS_KEY": "x",
           "LABELOPS_MINIO_SECRET_KEY": "x"}
    demo.import_manifest(SimpleNamespace(dataset=Datasets()), env,  # type: ignore[arg-type]
                         manifest, name_prefix="reviews")
    [(bucket, key)] = minio.put
    assert imported == [f"s3://{bucket}/{key}"]
    _only_for(bucket, key, "demo")


def test_a_workspace_that_cannot_own_a_folder_has_no_uploads() -> None:
    assert storage.upload_key("ws1", "u1", "a.csv") == "ws1/u1/a.csv"
    for workspace in ("", "a/b", "..", "a\\b"):
        with pytest.raises(ValueError):
            storage.upload_key(workspace, "u1", "a.csv")
        assert storage.foreign_object(UPLOADS, f"{workspace}/u1/a.csv", workspace)
    # "a/b" must not reach "a"'s folder, nor "a" the uploads of "a/b"
    assert storage.foreign_object(UPLOADS, "a/b/u1/a.csv", "a/b")
    assert storage.foreign_object(UPLOADS, "a/u1/a.csv", "a/b")
    assert not storage.foreign_object(UPLOADS, "a/u1/a.csv", "*")  # the platform's services
