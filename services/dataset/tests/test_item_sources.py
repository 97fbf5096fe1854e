"""An import never stores an item that names another workspace's files or the platform's own
(other services later read such an object or hand a model a URL to it): the line is an
error naming file, line and field, like every other bad line — the import fails, or with
skip_invalid the line is rejected and reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from labelops_shared import storage
from services.dataset.domain.items import Duplicates
from services.dataset.domain.manifest import ImportReport, LineError, Record
from services.dataset.domain.media import check_objects
from services.dataset.domain.model import ImportFormat
from services.dataset.importer import ImportRequest, _prepare, read_records

pytestmark = pytest.mark.unit
WORKSPACE, OTHER = "ws1", "ws2"
EXPORTS, DATASETS = storage.EXPORTS_BUCKET, storage.DATASETS_BUCKET
FOREIGN = [
    f"s3://{EXPORTS}/{OTHER}/j1/frame.png",
    f"s3://{EXPORTS}/{WORKSPACE}x/j1/frame.png",
    f"s3://{EXPORTS}/{WORKSPACE}/../{OTHER}/j1/frame.png",
    f"s3://{EXPORTS}//{WORKSPACE}/j1/a.png",
    f"s3://{DATASETS}/reports/d9/v1-rejected.png",
    f"s3://{DATASETS}/fingerprints/d9/v1.png",
    f"s3://{DATASETS}/./fingerprints/d9/v1.png",
    f"s3://{storage.UPLOADS_BUCKET}/{OTHER}/u1/cat.png",
    f"s3://{storage.UPLOADS_BUCKET}/uploads/u1/cat.png",
]
ALLOWED = [
    f"s3://{EXPORTS}/{WORKSPACE}/j1/frame.png",
    f"s3://{DATASETS}/imported/cat.png",
    f"s3://{storage.UPLOADS_BUCKET}/{WORKSPACE}/u1/cat.png",
    "s3://pictures/cats/1.png",  # a bucket of the customer's, not the platform's
    "https://example.com/a.png",
    "a plain text that mentions s3://",
]


class _Response:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self) -> bytes:
        return self.body

    def stream(self, size: int) -> Any:
        yield from (self.body[n:n + size] for n in range(0, len(self.body), size))

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class OneFile:
    """Object storage holding one file."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, bucket: str, key: str, length: int | None = None) -> _Response:
        return _Response(self.body[:length] if length else self.body)


def _dataset(kind: str = "image") -> dict[str, Any]:
    return {"_id": "d1", "workspace": WORKSPACE, "kind": kind}


def _read(body: bytes, fmt: ImportFormat, dataset: dict[str, Any],
          **options: Any) -> list[Record | LineError]:
    request = ImportRequest(bucket=storage.UPLOADS_BUCKET, key="in/items." + fmt.value,
                            format=fmt, duplicates=Duplicates.KEEP, **options)
    records = read_records(OneFile(body), request)  # type: ignore[arg-type]
    return [found for found, _, _ in _prepare(records, dataset, 1, request.key)]


@pytest.mark.parametrize("uri", FOREIGN)
def test_a_manifest_line_naming_a_foreign_object_is_an_error_naming_file_line_and_field(
        uri: str) -> None:
    lines = [{"data": {"source": f"s3://{EXPORTS}/{WORKSPACE}/j1/ok.png"}},
             {"data": {"source": uri}},
             {"data": {"source": f"s3://{EXPORTS}/{WORKSPACE}/j1/ok2.png"}}]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    first, error, third = _read(body, ImportFormat.MANIFEST, _dataset("multi"))
    assert isinstance(first, Record) and isinstance(third, Record)
    assert isinstance(error, LineError)
    assert (error.file, error.line, error.field) == ("in/items.manifest", 2, "data.source")
    assert "not an object of this workspace" in error.reason
    report = ImportReport(file="in/items.manifest")
    report.add_record(first)
    report.add_error(error)
    report.add_record(third)
    failure = report.failure()  # as every bad line: the import fails, naming the line
    assert failure is not None and "in/items.manifest:2: field 'data.source'" in failure
    assert report.failure(skip_invalid=True) is None  # or the line alone is rejected


def test_any_top_level_field_naming_a_foreign_object_is_refused_in_every_kind() -> None:
    """A template's media field of a multi dataset, or a text dataset's source."""
    lines = [{"data": {"source": "a caption", "picture": FOREIGN[0]}},
             {"data": {"source": FOREIGN[4]}},
             {"data": {"source": "a caption", "picture": ALLOWED[0], "other": ALLOWED[2]}}]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    for kind in ("multi", "text"):
        picture, source, fine = _read(body, ImportFormat.MANIFEST, _dataset(kind))
        assert isinstance(picture, LineError) and (picture.line, picture.field) == (
            1, "data.picture")
        assert isinstance(source, LineError) and (source.line, source.field) == (
            2, "data.source")
        assert isinstance(fine, Record)


def test_a_csv_row_naming_a_foreign_object_is_an_error() -> None:
    body = (f"text,picture\nhello,{ALLOWED[0]}\nbye,{FOREIGN[0]}\n").encode()
    ok, error = _read(body, ImportFormat.CSV, _dataset("multi"), text_column="text")
    assert isinstance(ok, Record)
    assert isinstance(error, LineError)
    assert (error.file, error.line, error.field) == ("in/items.csv", 3, "data.picture")


@pytest.mark.parametrize("uri", ALLOWED)
def test_the_workspaces_own_and_outside_objects_are_items(uri: str) -> None:
    record = Record(1, {"source": uri})
    assert check_objects(record, "f", WORKSPACE) is record


def test_platform_services_name_any_export_but_no_irregular_key() -> None:
    assert not storage.foreign_object(EXPORTS, f"{OTHER}/j1/export-v1-coco.json", "*")
    for key in (f"{OTHER}/../x", f"/{OTHER}/x", f"{OTHER}//x", f"{OTHER}/./x", "a\\b"):
        assert storage.foreign_object(EXPORTS, key, "*"), key
        assert storage.foreign_object(DATASETS, key, "*"), key
    assert storage.foreign_object(DATASETS, "fingerprints/d9/v1.bin", "*")
