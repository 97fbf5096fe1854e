"""Managing a dataset on the real stack: duplicate sources, items-added events in chunks
(resumed after a kill), listing with filters and cursor paging, deleting items by id or
filter (with their source objects), the import history, deleting a dataset and its refusal
while a published job uses it, and a local folder uploaded by the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from minio import Minio
from pymongo import MongoClient

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.dataset.v1 import dataset_pb2 as dpb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import Clients, connect
from labelops_cli.demo import wait_for, wait_for_packages
from labelops_cli.services import ServiceProcesses, wait_healthy
from labelops_shared import auth, storage, topics
from tests.e2e.event_tap import Event, EventTap
from tests.e2e.test_dataset_import import (
    WORKSPACE,
    _image,
    admin,  # noqa: F401 - fixture
    import_file,
    items,
    minio,  # noqa: F401 - fixture
    new_dataset,
    upload,
)

pytestmark = pytest.mark.e2e


def _manifest(sources: list[str], **extra: Any) -> bytes:
    return "\n".join(json.dumps({"data": {"source": s, **extra}}) for s in sources).encode()


def _of(dataset_id: str, kind: str) -> Callable[[Event], bool]:
    return lambda e: e["type"] == kind and e["data"]["dataset_id"] == dataset_id


ADDED = "labelops.dataset.items_added.v1"
DELETED = "labelops.dataset.items_deleted.v1"


@pytest.fixture
def tap(stack_env: dict[str, str]) -> EventTap:
    return EventTap(stack_env["LABELOPS_KAFKA_BOOTSTRAP"], topics.DATASET_EVENTS)


def test_duplicate_sources_are_skipped_or_kept_and_reported(admin: Clients,  # noqa: F811
                                                            minio: Minio) -> None:  # noqa: F811
    dataset, first = import_file(admin, minio, "a.manifest", _manifest(["a", "b", "a"]))
    assert first.state == dpb.VERSION_STATE_READY, first.error
    assert first.item_count == 2 and first.duplicate_count == 1
    assert first.duplicates[0].line == 3 and "skipped" in first.duplicates[0].reason
    # Adding data: sources of earlier versions count too; keep imports them again.
    _, kept = import_file(admin, minio, "b.manifest", _manifest(["b", "c"]), dataset=dataset,
                          duplicates="keep")
    assert kept.item_count == 2 and kept.duplicate_count == 1 and kept.duplicates_mode == "keep"
    assert [i["source"] for i in items(admin, dataset.id)] == ["a", "b", "b", "c"]
    # Nothing new at all: the import fails and says why.
    _, none_new = import_file(admin, minio, "c.manifest", _manifest(["a", "c"]),
                              dataset=dataset)
    assert none_new.state == dpb.VERSION_STATE_FAILED
    assert "already in the dataset" in none_new.error
    bad = pytest.raises(grpc.RpcError, import_file, admin, minio, "d.manifest",
                        _manifest(["z"]), dataset=dataset, duplicates="maybe")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_items_added_events_carry_every_id_in_chunks_with_group_values(
        admin: Clients, minio: Minio, tap: EventTap) -> None:  # noqa: F811
    sources = [f"text {n}" for n in range(2_500)]
    body = "\n".join(json.dumps({"data": {"source": s, "video": f"v{n // 1000}", "n": n,
                                          "long": "x" * 300}})
                     for n, s in enumerate(sources)).encode()
    dataset, version = import_file(admin, minio, "big.manifest", body)
    assert version.state == dpb.VERSION_STATE_READY
    events = tap.collect(_of(dataset.id, ADDED), lambda found: len(found) >= 3)
    events.sort(key=lambda e: e["data"]["chunk"])
    assert [(e["data"]["chunk"], e["data"]["chunks"]) for e in events] == [(0, 3), (1, 3), (2, 3)]
    ids = [i for e in events for i in e["data"]["item_ids"]]
    assert ids == [item.id for item in admin.dataset.StreamItems(
        dpb.StreamItemsRequest(dataset_id=dataset.id))]
    assert [len(e["data"]["item_ids"]) for e in events] == [1000, 1000, 500]
    groups = events[2]["data"]["group_values"]
    assert groups["video"] == ["v2"] * 500 and groups["n"][0] == 2000
    assert "long" not in groups and "source" not in groups  # content, not a grouping key


def _items_collection(stack_env: dict[str, str]) -> Any:
    return MongoClient(stack_env["LABELOPS_MONGO_URL"])["labelops_dataset"]


@pytest.mark.fault
def test_items_added_resume_after_a_kill_without_loss_or_repeat(
        admin: Clients, minio: Minio, tap: EventTap,  # noqa: F811
        platform: ServiceProcesses, stack_env: dict[str, str]) -> None:
    body = _manifest([f"row {n}" for n in range(100_000)])
    dataset = new_dataset(admin)
    started = admin.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=upload(minio, "many.manifest", body)))
    versions = _items_collection(stack_env)["versions"]
    vid = f"{dataset.id}:v{started.version}"

    def announcing() -> bool | None:
        doc = versions.find_one({"_id": vid}) or {}
        assert doc.get("state") != "failed", doc.get("error")
        return True if doc.get("announced", 0) >= 1 else None

    wait_for("the first items-added events", announcing, timeout=300)
    platform.kill("dataset")
    announced = versions.find_one({"_id": vid})
    assert 1 <= announced["announced"] < announced["chunks"] == 100, "killed too late"
    platform.start("dataset", stack_env)
    wait_healthy(platform, ["dataset"])
    events = tap.collect(_of(dataset.id, ADDED),
                         lambda found: {e["data"]["chunk"] for e in found} == set(range(100)),
                         seconds=300)
    by_chunk: dict[int, list[str]] = {}
    for event in events:  # at-least-once: a re-sent chunk carries the same ids
        by_chunk.setdefault(event["data"]["chunk"], event["data"]["item_ids"])
        assert by_chunk[event["data"]["chunk"]] == event["data"]["item_ids"]
    ids = [i for n in sorted(by_chunk) for i in by_chunk[n]]
    assert len(ids) == len(set(ids)) == 100_000
    assert ids == sorted(ids)


def test_list_items_pages_with_filters(admin: Clients, minio: Minio) -> None:  # noqa: F811
    lines = [{"data": {"source": f"s3://pics/cats/{n:03d}.jpg", "team": "a" if n % 2 else "b",
                       "n": n}} for n in range(25)]
    lines += [{"data": {"source": f"s3://pics/dogs/d{n}.png", "team": "a", "n": 100 + n}}
              for n in range(5)]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    dataset, version = import_file(admin, minio, "pics.manifest", body,
                                   kind=dpb.DATASET_KIND_IMAGE)
    assert version.state == dpb.VERSION_STATE_READY, version.error

    def every(**request: Any) -> list[dict[str, Any]]:
        found, token, pages = [], "", 0
        while True:
            page = admin.dataset.ListItems(dpb.ListItemsRequest(
                dataset_id=dataset.id, page_size=4, page_token=token, **request))
            found += [json.loads(i.data_json) for i in page.items]
            pages += 1
            token = page.next_page_token
            if not token:
                return found
            assert pages < 20

    assert [d["n"] for d in every()] == [d["data"]["n"] for d in lines]
    team_a = every(filter=dpb.ItemFilter(fields={"team": "a"}))
    assert [d["n"] for d in team_a] == [n for n in range(25) if n % 2] + list(range(100, 105))
    assert [d["n"] for d in every(filter=dpb.ItemFilter(fields={"n": "7"}))] == [7]
    dogs = every(filter=dpb.ItemFilter(path_prefix="dogs/"))
    assert len(dogs) == 5 and dogs == every(filter=dpb.ItemFilter(path_prefix="s3://pics/dogs"))
    assert [d["n"] for d in every(filter=dpb.ItemFilter(name_contains="01"))] == \
        [n for n in range(25) if "01" in f"{n:03d}"]
    assert every(filter=dpb.ItemFilter(fields={"team": "a"}, path_prefix="dogs/",
                                       name_contains="D3")) == [lines[28]["data"]]
    with pytest.raises(grpc.RpcError) as bad:
        admin.dataset.ListItems(dpb.ListItemsRequest(dataset_id=dataset.id, page_token="junk"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in (bad.value.details() or "")


def test_delete_items_by_id_and_by_filter_with_their_sources(
        admin: Clients, minio: Minio, tap: EventTap) -> None:  # noqa: F811
    pictures = [upload(minio, f"p{n}.png", _image("PNG", (4, 3))) for n in range(6)]
    lines = [{"data": {"source": uri, "batch": "old" if n < 4 else "new"}}
             for n, uri in enumerate(pictures)]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    dataset, version = import_file(admin, minio, "p.manifest", body, kind=dpb.DATASET_KIND_IMAGE)
    assert version.state == dpb.VERSION_STATE_READY, version.error
    ids = [i.id for i in admin.dataset.StreamItems(dpb.StreamItemsRequest(dataset_id=dataset.id))]

    by_id = admin.dataset.DeleteItems(dpb.DeleteItemsRequest(
        dataset_id=dataset.id, item_ids=[ids[0], ids[1], "no-such-item"]))
    assert by_id.deleted_count == 2 and by_id.sources_deleted == 0
    assert minio.stat_object(*storage.parse_s3_uri(pictures[0])).size > 0  # kept
    by_filter = admin.dataset.DeleteItems(dpb.DeleteItemsRequest(
        dataset_id=dataset.id, filter=dpb.ItemFilter(fields={"batch": "old"}),
        delete_sources=True))
    assert by_filter.deleted_count == 2 and by_filter.sources_deleted == 2
    for uri in pictures[2:4]:
        with pytest.raises(Exception, match="NoSuchKey|does not exist"):
            minio.stat_object(*storage.parse_s3_uri(uri))
    assert [i["batch"] for i in items(admin, dataset.id)] == ["new", "new"]
    shown = admin.dataset.GetDataset(dpb.GetDatasetRequest(dataset_id=dataset.id))
    assert (shown.item_count, shown.deleted_count) == (2, 4)

    events = tap.collect(_of(dataset.id, DELETED), lambda found: len(found) >= 2)
    assert sorted(i for e in events for i in e["data"]["item_ids"]) == ids[:4]
    assert {e["data"]["deletion_id"] for e in events} == {by_id.deletion_id,
                                                          by_filter.deletion_id}
    for request in (dpb.DeleteItemsRequest(dataset_id=dataset.id),
                    dpb.DeleteItemsRequest(dataset_id=dataset.id, item_ids=[ids[4]],
                                           filter=dpb.ItemFilter(fields={"batch": "new"}))):
        with pytest.raises(grpc.RpcError) as bad:
            admin.dataset.DeleteItems(request)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_get_dataset_shows_counts_fields_and_import_history(
        admin: Clients, minio: Minio) -> None:  # noqa: F811
    dataset, _ = import_file(admin, minio, "one.manifest", _manifest(["a", "b"], lang="en"))
    import_file(admin, minio, "two.manifest", b'{"data": {"source": "c"}}\n{"bad": 1}\n',
                dataset=dataset)
    import_file(admin, minio, "three.manifest", _manifest(["d"], topic="x"), dataset=dataset)
    shown = admin.dataset.GetDataset(dpb.GetDatasetRequest(dataset_id=dataset.id))
    assert shown.item_count == 3 and shown.latest_version == 3
    assert list(shown.fields) == ["lang", "source", "topic"]
    states = [(v.version, dpb.VersionState.Name(v.state), v.item_count) for v in shown.versions]
    assert states == [(1, "VERSION_STATE_READY", 2), (2, "VERSION_STATE_FAILED", 0),
                      (3, "VERSION_STATE_READY", 1)]
    failed = shown.versions[1]
    assert failed.errors[0].line == 2 and failed.errors[0].field == "data"
    assert failed.started_at and failed.finished_at >= failed.started_at


def test_delete_dataset_refused_while_a_published_job_uses_it(
        admin: Clients, minio: Minio, stack_env: dict[str, str]) -> None:  # noqa: F811
    dataset, _ = import_file(admin, minio, "used.manifest", _manifest(["a"]))
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"sentiment-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification", labels=[jpb.Label(name="pos"), jpb.Label(name="neg")],
        workflow=jpb.WORKFLOW_LABEL, package_size=10, check_ratio=1.0))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    job_id = job.id
    uses = _items_collection(stack_env)["job_uses"]
    wait_for("the dataset service to learn of the job",
             lambda: uses.find_one({"_id": job_id}))
    with pytest.raises(grpc.RpcError) as refused:
        admin.dataset.DeleteDataset(dpb.DeleteDatasetRequest(dataset_id=dataset.id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert repr(job.name) in (refused.value.details() or "")
    assert "unpublish" in (refused.value.details() or "")
    assert items(admin, dataset.id) == [{"source": "a"}]  # nothing deleted
    admin.jobs.UnpublishJob(jpb.UnpublishJobRequest(job_id=job_id))  # the job lets go

    def deleted() -> dpb.DeleteDatasetResponse | None:
        try:
            return admin.dataset.DeleteDataset(dpb.DeleteDatasetRequest(dataset_id=dataset.id))
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
            return None

    assert wait_for("the deletion", deleted).deleted_count == 1
    with pytest.raises(grpc.RpcError) as gone:
        admin.dataset.GetDataset(dpb.GetDatasetRequest(dataset_id=dataset.id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_cli_uploads_a_local_folder_and_scans_it(
        platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    (folder / "day1").mkdir(parents=True)
    (folder / "day1" / "a.png").write_bytes(_image("PNG", (8, 6)))
    (folder / "b.jpg").write_bytes(_image("JPEG", (5, 7)))
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(_image("PNG", (1, 1)))
    name = f"shots-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([sys.executable, "-m", "labelops_cli.main", "dataset", "create", name,
                           "--from", str(folder), "--kind", "image"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **stack_env,
                                                       "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 items" in done.stdout
    text = subprocess.run([sys.executable, "-m", "labelops_cli.main", "dataset", "create",
                           name + "-t", "--from", str(folder)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **stack_env, "COLUMNS": "200"})
    assert text.returncode != 0 and "this dataset is text" in text.stdout + text.stderr



def test_an_auto_synchronising_job_takes_new_items_and_loses_deleted_ones(
        admin: Clients, minio: Minio, stack_env: dict[str, str]) -> None:  # noqa: F811
    """Through the dataset service's events: a second import's items become new packages
    of the job; deleted items leave their packages, an emptied package closes and a held
    one stays with its labeler, who submits what is left."""
    dataset, _ = import_file(admin, minio, "first.manifest",
                             _manifest([f"first {n}" for n in range(4)]))
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"sync-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification", labels=[jpb.Label(name="good"), jpb.Label(name="bad")],
        workflow=jpb.WORKFLOW_LABEL, package_size=2, auto_sync=True))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    wait_for_packages(admin, job.id, 2)
    lee = connect(auth.issue_token(stack_env["LABELOPS_JWT_SECRET"], subject="lee",
                                   workspace=WORKSPACE, roles=[auth.LABELER]))
    held = lee.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id,
                                                               stage=apb.STAGE_LABEL))

    import_file(admin, minio, "more.manifest", _manifest([f"more {n}" for n in range(3)]),
                dataset=dataset)
    wait_for_packages(admin, job.id, 4)  # 3 new items in packages of 2: two more

    def packages() -> dict[str, apb.Package]:
        listed = admin.assignment.ListPackages(apb.ListPackagesRequest(job_id=job.id))
        return {p.id: p for p in listed.packages}

    assert sum(p.item_count for p in packages().values()) == 7
    other = next(p for p in packages().values() if p.id != held.id and p.index < 2)
    held_items = [i.item_id for i in admin.assignment.GetPackage(
        apb.GetPackageRequest(package_id=held.id)).items]
    other_items = [i.item_id for i in admin.assignment.GetPackage(
        apb.GetPackageRequest(package_id=other.id)).items]
    admin.dataset.DeleteItems(dpb.DeleteItemsRequest(
        dataset_id=dataset.id, item_ids=[*other_items, held_items[0]]))

    def removed() -> dict[str, apb.Package] | None:
        now = packages()
        return now if now[other.id].state == apb.PACKAGE_STATE_CLOSED and (
            now[held.id].item_count == 1) else None

    after = wait_for("the deleted items to leave their packages", removed)
    assert (after[other.id].item_count, after[held.id].state, after[held.id].holder) == (
        0, apb.PACKAGE_STATE_LABELING, "lee")
    assert sum(p.item_count for p in after.values()) == 4
    [left] = lee.assignment.GetPackage(apb.GetPackageRequest(package_id=held.id)).items
    assert left.item_id == held_items[1]
    lee.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
        package_id=held.id, item_id=left.item_id, answer_json=json.dumps({"label": "good"})))
    done = lee.assignment.SubmitPackage(apb.SubmitPackageRequest(package_id=held.id))
    assert done.state == apb.PACKAGE_STATE_ACCEPTED
    lee.close()
