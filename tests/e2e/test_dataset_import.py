"""Dataset imports on the real stack: every text format, bad input named by file, line and
field, nothing of a failed import visible, skip-invalid with a downloadable report, versions
that add data, and an import killed half-way."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from minio import Minio
from openpyxl import Workbook
from PIL import Image

from labelops.dataset.v1 import dataset_pb2 as dpb
from labelops_cli.client import Clients, connect
from labelops_cli.demo import wait_for
from labelops_cli.services import ServiceProcesses, wait_healthy
from labelops_shared import auth, storage

pytestmark = pytest.mark.e2e
WORKSPACE = f"ws-{uuid.uuid4().hex[:6]}"  # the admin's; uploads go under its folder


@pytest.fixture(scope="module")
def admin(platform: ServiceProcesses, stack_env: dict[str, str]) -> Iterator[Clients]:
    client = connect(auth.issue_token(stack_env["LABELOPS_JWT_SECRET"], subject="ada",
                                      workspace=WORKSPACE,
                                      roles=[auth.ANNOTATION_ADMIN]))
    yield client
    client.close()


@pytest.fixture(scope="module")
def minio(stack_env: dict[str, str]) -> Minio:
    return Minio(stack_env["LABELOPS_MINIO_ENDPOINT"],
                 access_key=stack_env["LABELOPS_MINIO_ACCESS_KEY"],
                 secret_key=stack_env["LABELOPS_MINIO_SECRET_KEY"], secure=False)


def upload(minio: Minio, name: str, body: bytes) -> str:
    key = storage.upload_key(WORKSPACE, "tests", uuid.uuid4().hex, name)
    minio.put_object(storage.UPLOADS_BUCKET, key, io.BytesIO(body), len(body))
    return f"s3://{storage.UPLOADS_BUCKET}/{key}"


def new_dataset(admin: Clients, kind: int = dpb.DATASET_KIND_TEXT) -> dpb.Dataset:
    return admin.dataset.CreateDataset(dpb.CreateDatasetRequest(
        name=f"ds-{uuid.uuid4().hex[:10]}", kind=kind))


def finished(admin: Clients, dataset_id: str, version: int,
             timeout: float = 120) -> dpb.DatasetVersion:
    def done() -> dpb.DatasetVersion | None:
        found = admin.dataset.GetVersion(dpb.GetVersionRequest(dataset_id=dataset_id,
                                                               version=version))
        return found if found.state != dpb.VERSION_STATE_IMPORTING else None

    return wait_for(f"import of {dataset_id} v{version}", done, timeout)


def import_file(admin: Clients, minio: Minio, name: str, body: bytes,
                kind: int = dpb.DATASET_KIND_TEXT, dataset: dpb.Dataset | None = None,
                **options: object) -> tuple[dpb.Dataset, dpb.DatasetVersion]:
    dataset = dataset or new_dataset(admin, kind)
    started = admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=upload(minio, name, body), **options))
    return dataset, finished(admin, dataset.id, started.version)


def items(admin: Clients, dataset_id: str, version: int = 0) -> list[dict[str, object]]:
    return [json.loads(item.data_json) for item in admin.dataset.StreamItems(
        dpb.StreamItemsRequest(dataset_id=dataset_id, version=version))]


def test_manifest_keeps_every_field_exactly(admin: Clients, minio: Minio) -> None:
    lines = [
        {"data": {"source": "text one", "label": "pos"}},
        {"data": {"picture_url": "s3://b/1.jpg", "text": "multi-field", "n": 12345678901234}},
        {"data": {"source": "nested", "pre": {"boxes": [[1, 2], [3, 4]]}, "$set": {"a.b": 1}}},
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode() + b"\n\n"
    dataset, version = import_file(admin, minio, "mixed.manifest", body)
    assert version.state == dpb.VERSION_STATE_READY, version.error
    assert version.item_count == 3 and version.format == "manifest"
    assert items(admin, dataset.id) == [line["data"] for line in lines]


@pytest.mark.parametrize(("body", "line", "field", "reason"), [
    (b'{"data": {"source": "ok"}}\n{"data": {"source": "x"\n', 2, "", "not valid JSON"),
    (b'{"data": {"source": "ok"}}\n{"nodata": 1}\n', 2, "data", "missing"),
    (b'{"data": "text"}\n', 1, "data", "must be an object"),
    (b'{"data": {"source": ""}}\n', 1, "data.source", "non-empty string"),
    (b'{"data": {"source": 7}}\n', 1, "data.source", "non-empty string"),
    (b'{"data": {"source": "a"}}\n{"data": {"source": "\xff\xfe bad"}}\n', 2, "",
     "undecodable"),
    (b'{"data": {"source": NaN}}\n', 1, "", "NaN is not valid JSON"),
])
def test_bad_manifest_line_fails_the_import_naming_it(
        admin: Clients, minio: Minio, body: bytes, line: int, field: str, reason: str) -> None:
    dataset, version = import_file(admin, minio, "bad.manifest", body, encoding="utf-8")
    assert version.state == dpb.VERSION_STATE_FAILED
    assert version.error_count == 1
    error = version.errors[0]
    assert (error.file.endswith("bad.manifest"), error.line, error.field) == (True, line, field)
    assert reason in error.reason
    with pytest.raises(grpc.RpcError) as failed:
        items(admin, dataset.id, version.version)
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_failed_import_leaves_nothing_readable(admin: Clients, minio: Minio) -> None:
    good = [json.dumps({"data": {"source": f"item {n}"}}) for n in range(2500)]
    body = "\n".join([*good, "{broken"]).encode()
    dataset, version = import_file(admin, minio, "late-error.manifest", body)
    assert version.state == dpb.VERSION_STATE_FAILED and version.errors[0].line == 2501
    ids = [f"{dataset.id}-v0001-{n:09d}" for n in (1, 1000, 2500)]
    got = admin.dataset.GetItems(dpb.GetItemsRequest(dataset_id=dataset.id, item_ids=ids))
    assert list(got.items) == []


def test_line_over_the_limit_and_a_file_without_newlines(admin: Clients, minio: Minio) -> None:
    huge = b'{"data": {"source": "' + b"x" * (3 << 20) + b'"}}'  # 3 MiB, no newline
    _, version = import_file(admin, minio, "huge.manifest", huge)
    assert version.state == dpb.VERSION_STATE_FAILED
    assert version.errors[0].line == 1 and "over the limit" in version.errors[0].reason


def test_zero_byte_and_unsafe_names_are_refused_at_once(admin: Clients, minio: Minio) -> None:
    dataset = new_dataset(admin)
    for uri, words in [(upload(minio, "empty.manifest", b""), "empty"),
                       (f"s3://{storage.UPLOADS_BUCKET}/a/../b.manifest", ".."),
                       (upload(minio, "data.parquet", b"x"), "format")]:
        with pytest.raises(grpc.RpcError) as refused:
            admin.dataset.ImportDataset(dpb.ImportDatasetRequest(dataset_id=dataset.id,
                                                                 source_uri=uri))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert words in refused.value.details()
    assert admin.dataset.GetDataset(dpb.GetDatasetRequest(dataset_id=dataset.id)) \
        .latest_version == 0


def test_csv_with_bom_quoted_newlines_and_other_columns(admin: Clients, minio: Minio) -> None:
    body = ('\ufeffid,review,stars\n1,"great,\nreally great",5\n2,"said ""meh""",2\n\n'
            ).encode()
    dataset, version = import_file(admin, minio, "reviews.csv", body, text_column="review")
    assert version.state == dpb.VERSION_STATE_READY, version.error
    assert items(admin, dataset.id) == [
        {"source": "great,\nreally great", "id": "1", "stars": "5"},
        {"source": 'said "meh"', "id": "2", "stars": "2"},
    ]
    streamed = list(admin.dataset.StreamItems(dpb.StreamItemsRequest(dataset_id=dataset.id)))
    assert [item.line for item in streamed] == [2, 4]  # numbered by the line they start on


def test_csv_single_column_gb18030_detected(admin: Clients, minio: Minio) -> None:
    body = "文本\n这家餐厅很好吃\n服务太慢了\n".encode("gb18030")
    dataset, version = import_file(admin, minio, "zh.csv", body)
    assert version.state == dpb.VERSION_STATE_READY, version.error
    assert [item["source"] for item in items(admin, dataset.id)] == ["这家餐厅很好吃", "服务太慢了"]


def test_csv_unknown_column_and_ragged_row(admin: Clients, minio: Minio) -> None:
    _, version = import_file(admin, minio, "a.csv", b"text,label\nhi,x\n", text_column="body")
    assert version.state == dpb.VERSION_STATE_FAILED
    assert (version.errors[0].line, version.errors[0].field) == (1, "body")
    assert "unknown column" in version.errors[0].reason
    _, version = import_file(admin, minio, "b.csv", b"text,label\nhi,x\nho\n",
                             text_column="text")
    assert version.state == dpb.VERSION_STATE_FAILED
    assert version.errors[0].line == 3 and "expected 2 columns" in version.errors[0].reason


def test_xlsx_rows_become_items(admin: Clients, minio: Minio) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["comment", "score", "when"])
    sheet.append(["fine product", 4, "2026-01-02"])
    sheet.append(["", 3, "x"])  # empty text: rejected
    sheet.append(["broke in a day", 1.0, None])
    buffer = io.BytesIO()
    book.save(buffer)
    dataset, version = import_file(admin, minio, "sheet.xlsx", buffer.getvalue(),
                                   text_column="comment", skip_invalid=True)
    assert version.state == dpb.VERSION_STATE_READY, version.error
    assert items(admin, dataset.id) == [
        {"source": "fine product", "score": 4, "when": "2026-01-02"},
        {"source": "broke in a day", "score": 1, "when": ""},
    ]
    assert version.error_count == 1
    assert (version.errors[0].line, version.errors[0].field) == (3, "comment")


def test_skip_invalid_imports_the_rest_and_stores_a_report(
        admin: Clients, minio: Minio) -> None:
    body = b'{"data": {"source": "a"}}\nnot json\n{"data": {"source": "b"}}\n{"x": 1}\n'
    dataset, version = import_file(admin, minio, "some-bad.manifest", body, skip_invalid=True)
    assert version.state == dpb.VERSION_STATE_READY, version.error
    assert version.item_count == 2 and version.error_count == 2
    bucket, key = storage.parse_s3_uri(version.error_report_uri)
    report = [json.loads(line) for line in minio.get_object(bucket, key).read().splitlines()]
    assert [(r["line"], r["field"]) for r in report] == [(2, ""), (4, "data")]
    assert [i["source"] for i in items(admin, dataset.id)] == ["a", "b"]


def test_media_dataset_refuses_other_kinds_and_unsafe_sources(
        admin: Clients, minio: Minio) -> None:
    body = "\n".join(json.dumps({"data": {"source": s}}) for s in [
        "s3://pics/cat.jpg", "s3://pics/clip.mp4", "s3://pics/../etc/x.png", "cat.png",
    ]).encode()
    _, version = import_file(admin, minio, "images.manifest", body,
                             kind=dpb.DATASET_KIND_IMAGE, skip_invalid=True)
    assert version.item_count == 1 and version.error_count == 3
    reasons = {e.line: e.reason for e in version.errors}
    assert "a video file cannot be an item of this image dataset" in reasons[2]
    assert "'..'" in reasons[3] and "object URI" in reasons[4]


def test_added_data_is_a_new_version_and_versions_accumulate(
        admin: Clients, minio: Minio) -> None:
    dataset, first = import_file(admin, minio, "v1.manifest", b'{"data": {"source": "one"}}')
    _, second = import_file(admin, minio, "v2.manifest", b'{"data": {"source": "two"}}',
                            dataset=dataset)
    assert (first.version, second.version) == (1, 2)
    assert [i["source"] for i in items(admin, dataset.id, 1)] == ["one"]
    assert [i["source"] for i in items(admin, dataset.id, 2)] == ["one", "two"]
    assert admin.dataset.GetDataset(dpb.GetDatasetRequest(dataset_id=dataset.id)) \
        .latest_version == 2


@pytest.mark.fault
def test_import_killed_half_way_leaves_nothing_visible(
        admin: Clients, minio: Minio, platform: ServiceProcesses,
        stack_env: dict[str, str]) -> None:
    body = "\n".join(json.dumps({"data": {"source": f"row {n}"}}) for n in range(60_000)).encode()
    dataset = new_dataset(admin)
    started = admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=upload(minio, "big.manifest", body)))

    def some_written() -> bool | None:
        got = admin.dataset.GetVersion(dpb.GetVersionRequest(dataset_id=dataset.id,
                                                             version=started.version))
        assert got.state == dpb.VERSION_STATE_IMPORTING, "finished before the kill"
        return True

    wait_for("the import to start", some_written)
    platform.kill("dataset")
    platform.start("dataset", stack_env)
    wait_healthy(platform, ["dataset"])
    version = finished(admin, dataset.id, started.version)
    assert version.state == dpb.VERSION_STATE_FAILED and "interrupted" in version.error
    first = admin.dataset.GetItems(dpb.GetItemsRequest(
        dataset_id=dataset.id, item_ids=[f"{dataset.id}-v0001-{n:09d}" for n in (1, 2, 3)]))
    assert list(first.items) == []
    # Importing the same file again gives the whole version.
    again = admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=upload(minio, "big.manifest", body)))
    done = finished(admin, dataset.id, again.version, timeout=300)
    assert done.state == dpb.VERSION_STATE_READY and done.item_count == 60_000


def test_cli_creates_a_dataset_from_a_local_file(
        platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path) -> None:
    table = tmp_path / "comments.csv"
    table.write_text("comment,lang\nhello,en\n,fr\nbonjour,fr\n")
    command = [sys.executable, "-m", "labelops_cli.main", "dataset", "create",
               f"cli-{uuid.uuid4().hex[:8]}", "--from", str(table), "--text-column", "comment"]
    failed = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **stack_env, "COLUMNS": "200"})
    assert failed.returncode == 1
    assert "comments.csv:3 comment: the text to label is empty" in failed.stdout
    done = subprocess.run([*command[:5], f"cli-{uuid.uuid4().hex[:8]}", *command[6:],
                           "--skip-invalid"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **stack_env, "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 items, 1 rejected" in done.stdout


def _image(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_folder_scan_makes_items_of_the_fitting_files(admin: Clients, minio: Minio) -> None:
    prefix = storage.upload_key(WORKSPACE, "scan", uuid.uuid4().hex)
    files = {
        "a/cat.jpg": _image("JPEG", (640, 480)), "b.png": _image("PNG", (32, 16)),
        "c.webp": _image("WEBP", (10, 20)), "d.gif": _image("GIF", (5, 7)),
        "e.bmp": _image("BMP", (3, 4)), "clip.mp4": b"\x00" * 64, "notes.txt": b"hello",
    }
    for name, body in files.items():
        minio.put_object(storage.UPLOADS_BUCKET, f"{prefix}/{name}", io.BytesIO(body), len(body))
    dataset = new_dataset(admin, dpb.DATASET_KIND_IMAGE)
    started = admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{prefix}/"))
    version = finished(admin, dataset.id, started.version)
    assert version.state == dpb.VERSION_STATE_READY, version.error
    found = {item["source"].rsplit("/", 1)[1]: item for item in items(admin, dataset.id)}
    assert sorted(found) == ["b.png", "c.webp", "cat.jpg", "d.gif", "e.bmp"]
    assert found["cat.jpg"] == {
        "source": f"s3://{storage.UPLOADS_BUCKET}/{prefix}/a/cat.jpg",
        "size": len(files["a/cat.jpg"]), "content_type": "image/jpeg",
        "width": 640, "height": 480}
    assert (found["c.webp"]["width"], found["c.webp"]["height"]) == (10, 20)
    manifest = minio.get_object(
        storage.UPLOADS_BUCKET, f"{prefix}/labelops-{dataset.id}-v1.manifest").read()
    assert [json.loads(line)["data"] for line in manifest.splitlines()] == \
        items(admin, dataset.id)


def test_folder_scan_errors(admin: Clients, minio: Minio) -> None:
    prefix = storage.upload_key(WORKSPACE, "scan", uuid.uuid4().hex)
    dataset = new_dataset(admin, dpb.DATASET_KIND_IMAGE)
    started = admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{prefix}/"))
    version = finished(admin, dataset.id, started.version)
    assert version.state == dpb.VERSION_STATE_FAILED and "no image files" in version.error
    minio.put_object(storage.UPLOADS_BUCKET, f"{prefix}/broken.jpg", io.BytesIO(b"nope"), 4)
    started = admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{prefix}/"))
    version = finished(admin, dataset.id, started.version)
    assert version.state == dpb.VERSION_STATE_FAILED
    assert version.errors[0].file.endswith("broken.jpg") and "not a readable image" in \
        version.errors[0].reason
    text = new_dataset(admin)
    with pytest.raises(grpc.RpcError) as refused:
        admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
            dataset_id=text.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{prefix}/"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
