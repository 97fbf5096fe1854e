"""Object-level access to datasets, items and their files (OWASP API1), through the real
server (auth interceptor and roles map) on the fake database and a fake object store: a
member of another workspace (holding every role) reaches no dataset, version or item by id;
no request imports or deletes another workspace's export or the platform's own files;
every role a method does not allow is refused. Each refused call changes no stored
document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops_shared import auth, storage
from services.dataset.adapters.repository import DATASETS, VERSIONS, version_id
from services.dataset.api import ROLES
from services.dataset.tests.conftest import WORKSPACE, Harness
from tests.access import (
    EVERY_MEMBER_ROLE,
    HIDDEN,
    OTHER_WORKSPACE,
    assert_every_method_placed,
    assert_roles_refused,
    refused_unchanged,
)

pytestmark = pytest.mark.unit
DATASET = "d0123456789abcdef"


@pytest.fixture
async def harness(harness: Harness) -> Harness:
    """The service holding a dataset of the workspace, with a version."""
    await harness.db[DATASETS].insert_one({
        "_id": DATASET, "workspace": WORKSPACE, "name": "secret-dataset", "kind": "image",
        "latest_version": 1, "item_count": 0, "created_at": datetime.now(UTC),
        "created_by": "ada"})
    await harness.db[VERSIONS].insert_one({
        "_id": version_id(DATASET, 1), "dataset_id": DATASET, "version": 1, "state": "ready",
        "source_uri": f"s3://labelops-uploads/{WORKSPACE}/secret.manifest", "format": "manifest",
        "item_count": 0})
    return harness


MATRIX: dict[str, Any] = {
    "ImportDataset": pb.ImportDatasetRequest(
        dataset_id=DATASET, source_uri=f"s3://labelops-uploads/{WORKSPACE}/mine.manifest"),
    "GetDataset": pb.GetDatasetRequest(dataset_id=DATASET),
    "GetVersion": pb.GetVersionRequest(dataset_id=DATASET, version=1),
    "StreamItems": pb.StreamItemsRequest(dataset_id=DATASET),
    "GetItems": pb.GetItemsRequest(dataset_id=DATASET, item_ids=[f"{DATASET}-v0001-000001"]),
    "ListItems": pb.ListItemsRequest(dataset_id=DATASET),
    "DeleteItems": pb.DeleteItemsRequest(dataset_id=DATASET,
                                         item_ids=[f"{DATASET}-v0001-000001"],
                                         delete_sources=True),
    "DeleteDataset": pb.DeleteDatasetRequest(dataset_id=DATASET),
}


def test_every_rpc_is_in_the_matrix() -> None:
    assert_every_method_placed(pb, "DatasetService", MATRIX, ("CreateDataset",))


async def test_another_workspace_reaches_nothing_by_id(harness: Harness) -> None:
    outsider = harness.client("ada", *EVERY_MEMBER_ROLE, workspace=OTHER_WORKSPACE)
    for method, request in MATRIX.items():
        await refused_unchanged(harness.db, getattr(outsider, method)(request), HIDDEN,
                                secrets=["secret-dataset", "secret.manifest"])
    assert harness.storage.asked == []
    # A dataset of the same name is its own: names are unique per workspace.
    mine = await outsider.CreateDataset(pb.CreateDatasetRequest(
        name="secret-dataset", kind=pb.DATASET_KIND_TEXT))
    assert mine.workspace == OTHER_WORKSPACE and mine.id != DATASET
    ada = harness.client("ada", auth.ANNOTATION_ADMIN)  # the dataset exists
    found = await ada.GetDataset(pb.GetDatasetRequest(dataset_id=DATASET))
    assert found.name == "secret-dataset" and [v.version for v in found.versions] == [1]


@pytest.mark.parametrize(("uri", "foreign"), [
    (f"s3://{storage.EXPORTS_BUCKET}/{OTHER_WORKSPACE}/j1/export-v1-manifest.jsonl", True),
    (f"s3://{storage.EXPORTS_BUCKET}/{WORKSPACE}x/j1/export-v1-manifest.jsonl", True),
    (f"s3://{storage.EXPORTS_BUCKET}/", True),
    (f"s3://{storage.DATASETS_BUCKET}/reports/d9/v1-rejected.jsonl", True),
    (f"s3://{storage.DATASETS_BUCKET}/fingerprints/d9/v1.bin", True),
    (f"s3://{storage.DATASETS_BUCKET}/", True),
    (f"s3://{storage.EXPORTS_BUCKET}/{WORKSPACE}/j1/export-v1-manifest.jsonl", False),
    (f"s3://{storage.UPLOADS_BUCKET}/{OTHER_WORKSPACE}/u1/a.manifest", True),
    (f"s3://{storage.UPLOADS_BUCKET}/uploads/u1/a.manifest", True),
    (f"s3://{storage.UPLOADS_BUCKET}/{WORKSPACE}x/u1/a.manifest", True),
    (f"s3://{storage.UPLOADS_BUCKET}/{WORKSPACE}", True),
    (f"s3://{storage.UPLOADS_BUCKET}/", True),
    (f"s3://{storage.UPLOADS_BUCKET}/{OTHER_WORKSPACE}/u1/", True),
    (f"s3://{storage.UPLOADS_BUCKET}/{WORKSPACE}//u1/a.manifest", True),
    (f"s3://{storage.UPLOADS_BUCKET}/{WORKSPACE}/u1/a.manifest", False),
])
async def test_an_import_never_reads_another_workspaces_or_the_platforms_files(
        harness: Harness, uri: str, foreign: bool) -> None:
    ada = harness.client("ada", auth.WORKSPACE_ADMIN)
    details = await refused_unchanged(harness.db, ada.ImportDataset(pb.ImportDatasetRequest(
        dataset_id=DATASET, source_uri=uri)), HIDDEN)
    assert details.endswith("no such object")  # the same answer as a missing object
    assert bool(harness.storage.asked) is not foreign, harness.storage.asked


async def test_deleting_sources_never_removes_another_workspaces_or_the_platforms_files(
        harness: Harness) -> None:
    sources = {
        f"s3://{storage.EXPORTS_BUCKET}/{OTHER_WORKSPACE}/j1/export-v1-coco.json": False,
        f"s3://{storage.DATASETS_BUCKET}/fingerprints/d9/v1.bin": False,
        f"s3://{storage.DATASETS_BUCKET}/reports/d9/v1-rejected.jsonl": False,
        f"s3://{storage.EXPORTS_BUCKET}/{WORKSPACE}/j1/export-v1-coco.json": True,
        f"s3://{storage.UPLOADS_BUCKET}/{OTHER_WORKSPACE}/u1/cat.jpg": False,
        f"s3://{storage.UPLOADS_BUCKET}/uploads/u1/cat.jpg": False,
        f"s3://{storage.UPLOADS_BUCKET}/{WORKSPACE}/u1/cat.jpg": True,
    }
    docs = [{"_id": f"{DATASET}-v0001-{n:06d}", "data": json.dumps({"source": s})}
            for n, s in enumerate(sources)]
    removed = harness.deleter._delete_sources(docs, WORKSPACE)
    assert removed == 2
    assert {f"s3://{b}/{k}" for _, b, k in harness.storage.asked} == {
        s for s, ok in sources.items() if ok}


async def test_every_role_a_method_does_not_allow_is_refused(harness: Harness) -> None:
    checked = await assert_roles_refused(harness.db, pb, "DatasetService", ROLES,
                                         lambda role: harness.client("lee", role))
    assert checked >= len(ROLES)
