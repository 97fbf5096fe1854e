"""The walking skeleton, end to end: import a manifest → create and publish a text
classification job → packages → a labeler labels and submits → a checker approves → an
accepter accepts → export JSON lines to object storage. Every step goes through the real
services over gRPC and Kafka."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from minio import Minio

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.dataset.v1 import dataset_pb2 as dpb
from labelops.export.v1 import export_pb2 as epb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.client import Clients, connect
from labelops_shared import auth, storage

DEMO_MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "reviews.manifest"
LABELS = ("positive", "negative", "neutral")
_POSITIVE = ("love", "great", "excellent", "perfectly")
_NEGATIVE = ("disappoint", "terrible", "awful", "broke", "never again", "worst", "slow")

T = TypeVar("T")


@dataclass
class DemoResult:
    dataset_id: str
    job_id: str
    packages: int
    export: Any
    lines: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)


def guess_label(text: str) -> str:
    """The demo labeler's judgement: a keyword rule standing in for a person."""
    lowered = text.lower()
    if any(word in lowered for word in _NEGATIVE):
        return "negative"
    if any(word in lowered for word in _POSITIVE):
        return "positive"
    return "neutral"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def import_manifest(client: Clients, env: dict[str, str], manifest: Path,
                    name_prefix: str) -> tuple[dpb.Dataset, dpb.DatasetVersion]:
    """Create a text dataset, upload a manifest to its workspace's folder of the uploads
    bucket, import it and wait until the first version is ready."""
    minio = Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                  secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    dataset = client.dataset.CreateDataset(dpb.CreateDatasetRequest(
        name=f"{name_prefix}-{uuid.uuid4().hex[:8]}", kind=dpb.DATASET_KIND_TEXT))
    key = storage.upload_key(dataset.workspace, name_prefix, uuid.uuid4().hex, manifest.name)
    minio.fput_object(storage.UPLOADS_BUCKET, key, str(manifest))
    client.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset.id, source_uri=f"s3://{storage.UPLOADS_BUCKET}/{key}"))

    def version_ready() -> dpb.DatasetVersion | None:
        version = client.dataset.GetVersion(dpb.GetVersionRequest(dataset_id=dataset.id,
                                                                  version=1))
        if version.state == dpb.VERSION_STATE_FAILED:
            raise RuntimeError(f"import failed: {version.error}")
        return version if version.state == dpb.VERSION_STATE_READY else None

    return dataset, wait_for("the import", version_ready)


def wait_for_packages(client: Clients, job_id: str, expected: int) -> apb.JobProgress:
    """Wait until the assignment service has cut the published job into its packages."""

    def packaged() -> apb.JobProgress | None:
        try:
            progress = client.assignment.GetJobProgress(apb.GetJobProgressRequest(job_id=job_id))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # the event has not arrived yet
                return None
            raise
        return progress if progress.package_count == expected else None

    return wait_for("the packages", packaged)


def _token(env: dict[str, str], subject: str, *roles: str) -> str:
    return auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=subject, workspace="demo",
                            roles=roles, ttl_seconds=3600)


def _claim_all(client: Clients, job_id: str, stage: int) -> list[apb.Package]:
    claimed = []
    while True:
        try:
            claimed.append(client.assignment.ClaimPackage(
                apb.ClaimPackageRequest(job_id=job_id, stage=stage), timeout=30))
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED):
                return claimed
            raise


def run_demo(env: dict[str, str], say: Callable[[str], None] = print,
             manifest: Path = DEMO_MANIFEST, package_size: int = 10,
             after: Callable[[str], None] = lambda step: None) -> DemoResult:
    """Run the flow; ``after(step)`` is called after each step (the fault tests kill
    services there)."""
    admin = connect(_token(env, "ada", auth.ANNOTATION_ADMIN))
    labeler = connect(_token(env, "lee", auth.LABELER))
    checker = connect(_token(env, "chen", auth.CHECKER))
    accepter = connect(_token(env, "ava", auth.ACCEPTER))
    timings: dict[str, float] = {}
    started = time.monotonic()

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 2)

    # 1. Upload and import the manifest.
    dataset, version = import_manifest(admin, env, manifest, name_prefix="reviews")
    lap("imported")
    after("imported")
    say(f"imported {version.item_count} items into dataset {dataset.name}")

    # 2. Create and publish the job.
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"sentiment-{uuid.uuid4().hex[:6]}", description="demo sentiment labeling",
        dataset_id=dataset.id, template="text_classification",
        labels=[jpb.Label(name=n) for n in LABELS],
        workflow=jpb.WORKFLOW_LABEL_CHECK_ACCEPT, package_size=package_size,
        check_ratio=1.0, prelabel_field="label",
    ))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    after("published")
    expected_packages = -(-version.item_count // package_size)

    wait_for_packages(admin, job.id, expected_packages)
    lap("packaged")
    after("packaged")
    say(f"job {job.name} published: {expected_packages} packages")

    # 3. Label: claim every package, answer every item (pre-label if any), submit.
    labeled = _claim_all(labeler, job.id, apb.STAGE_LABEL)
    for package in labeled:
        detail = labeler.assignment.GetPackage(apb.GetPackageRequest(package_id=package.id))
        for item in detail.items:
            prelabel = json.loads(item.prelabel_json or "{}").get("label")
            text = json.loads(item.data_json)["source"]
            labeler.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
                package_id=package.id, item_id=item.item_id,
                answer_json=json.dumps({"label": prelabel or guess_label(text)})))
        labeler.assignment.SubmitPackage(apb.SubmitPackageRequest(package_id=package.id))
    lap("labeled")
    say(f"labeler lee labeled and submitted {len(labeled)} packages")

    # 4. Check and 5. accept. A submitted package reaches the check pool at once.
    checked = _claim_all(checker, job.id, apb.STAGE_CHECK)
    for package in checked:  # the checker inspects the sampled items and approves them
        detail = checker.assignment.GetPackage(apb.GetPackageRequest(package_id=package.id))
        checker.assignment.ReviewPackage(apb.ReviewPackageRequest(
            package_id=package.id, passed=True, rating=apb.RATING_A,
            approved=[i.item_id for i in detail.items if i.to_inspect]))
    lap("checked")
    accepted = _claim_all(accepter, job.id, apb.STAGE_ACCEPT)
    for package in accepted:
        accepter.assignment.AcceptPackage(apb.AcceptPackageRequest(
            package_id=package.id, accepted=True))
    lap("accepted")
    after("accepted")
    say(f"checker chen approved {len(checked)}, accepter ava accepted {len(accepted)} packages")

    # 6. Export once the export service has seen every accepted item.
    wait_for("the labeled view", lambda: True if admin.export.GetLabeledView(
        epb.GetLabeledViewRequest(job_id=job.id)).item_count == version.item_count else None)
    export = admin.export.StartExport(epb.StartExportRequest(job_id=job.id, format="manifest"))

    def export_done() -> epb.Export | None:
        record = admin.export.GetExport(epb.GetExportRequest(export_id=export.id))
        if record.state == epb.EXPORT_STATE_FAILED:
            raise RuntimeError(f"export failed: {record.error}")
        return record if record.state == epb.EXPORT_STATE_COMPLETED else None

    done = wait_for("the export", export_done)
    with urllib.request.urlopen(done.download_url, timeout=30) as response:  # noqa: S310
        body = response.read().decode()
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    lap("exported")
    say(f"exported {done.items_written} items to s3://{done.bucket}/{done.object_key} "
        f"({done.size_bytes} bytes, sha256 {done.sha256[:12]}…)")
    for client in (admin, labeler, checker, accepter):
        client.close()
    return DemoResult(dataset.id, job.id, expected_packages, done, lines, timings)
