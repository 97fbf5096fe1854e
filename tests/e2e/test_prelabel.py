"""Pre-labeling on the real servers, across the services: offline values mapped to a topic
with an invalid row reported; online pre-labels from the reference model server (over HTTP
and over gRPC) with a per-item model error; an auto-labeling run trained on accepted
answers whose "to be confirmed" pre-labels reach the packages; labor saved measured from
the acceptance of pre-labeled items."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops.prelabel.v1 import prelabel_pb2 as ppb
from labelops_cli.client import Clients, connect
from labelops_cli.demo import import_manifest, wait_for, wait_for_packages
from labelops_cli.services import ServiceProcesses
from labelops_shared import auth, topics
from tests.e2e.event_tap import EventTap

pytestmark = pytest.mark.e2e
WORKSPACE = f"prelabel-{uuid.uuid4().hex[:6]}"
LABEL = apb.STAGE_LABEL
ROOT = Path(__file__).resolve().parents[2]


def _client(env: dict[str, str], who: str, *roles: str) -> Clients:
    return connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=who,
                                    workspace=WORKSPACE, roles=roles))


def _manifest(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"{name}.manifest"
    path.write_text("".join(json.dumps({"data": r}) + "\n" for r in records))
    return path


def _status(client: Clients, job_id: str) -> ppb.PrelabelStatus:
    """The job's pre-label status once its pre-labeling is over (done or failed)."""
    def probe() -> ppb.PrelabelStatus | None:
        try:
            status = client.prelabel.GetPrelabelStatus(
                ppb.GetPrelabelStatusRequest(job_id=job_id))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # JobPublished not handled yet
                return None
            raise
        return status if status.state in ("done", "failed", "none") else None

    return wait_for("the pre-label status", probe, timeout=120)


def _prelabels(client: Clients, job_id: str, expected: int) -> dict[str, Any]:
    """item id -> pre-label, over the job's packages, once `expected` items have one."""
    def probe() -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        packages = client.assignment.ListPackages(apb.ListPackagesRequest(job_id=job_id))
        for package in packages.packages:
            detail = client.assignment.GetPackage(apb.GetPackageRequest(package_id=package.id))
            for item in detail.items:
                if item.prelabel_json:
                    found[item.item_id] = json.loads(item.prelabel_json)
        return found if len(found) >= expected else None

    return wait_for("the pre-labels in the packages", probe, timeout=120)


def _create(admin: Clients, dataset_id: str, labels: list[str], **kwargs: Any) -> jpb.Job:
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"prelabel-{uuid.uuid4().hex[:6]}", dataset_id=dataset_id,
        template="text_classification", labels=[jpb.Label(name=n) for n in labels],
        workflow=jpb.WORKFLOW_LABEL, package_size=10,
        members=jpb.Members(labelers=["lee"]), **kwargs))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    return job


def test_offline_values_are_mapped_and_an_invalid_row_is_reported(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path,
) -> None:
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    records = [{"source": f"review {n}", "review_id": n,
                **({"label": ["pos", "neg"][n % 2]} if n < 8 else {})} for n in range(12)]
    records[3]["label"] = "meh"  # not a label of the job
    dataset, _ = import_manifest(admin, stack_env, _manifest(tmp_path, "offline", records),
                                 name_prefix="prelabel-offline")
    job = _create(admin, dataset.id, ["pos", "neg"], prelabel=jpb.Prelabel(
        mode=jpb.PRELABEL_MODE_OFFLINE, mapping=[jpb.FieldTopic(field="label", topic="label")],
        stage=jpb.PRELABEL_STAGE_PRELABEL))

    status = _status(admin, job.id)
    assert (status.mode, status.state, status.field) == ("offline", "done", "label")
    assert (status.items_seen, status.predictions, status.invalid, status.missing) == (
        12, 7, 1, 4)
    rows = admin.prelabel.ListInvalidPrelabels(
        ppb.ListInvalidPrelabelsRequest(job_id=job.id)).invalid_values
    assert len(rows) == 1 and rows[0].field == "label" and rows[0].topic == "label"
    assert "'meh' is not one of 'pos', 'neg'" in rows[0].reason

    wait_for_packages(admin, job.id, 2)
    found = _prelabels(admin, job.id, 7)
    assert rows[0].item_id not in found
    assert sorted(p["label"] for p in found.values()) == ["neg"] * 3 + ["pos"] * 4
    admin.close()


@pytest.fixture(scope="module")
def reference_model() -> Iterator[dict[str, str]]:
    """The reference model server as its own process (any free ports)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.prelabel.reference_model", "--http", "0",
         "--grpc", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"HTTP (\S+), gRPC (\S+)", line)
    assert found, f"the reference model did not start: {line!r}"
    yield {"http": found[1], "grpc": found[2]}
    process.terminate()
    process.wait(timeout=20)


TEXTS = ["love it, excellent", "terrible, broke after a day", "it is a phone",
         "great value", "#model-error on purpose", "awful support", "works", "worst ever",
         "perfect gift", "slow and bad", "neutral box", "wonderful"]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_online_pre_labels_come_from_the_reference_model(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path,
    reference_model: dict[str, str], transport: str,
) -> None:
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    dataset, _ = import_manifest(admin, stack_env, _manifest(
        tmp_path, "online", [{"source": t} for t in TEXTS]), name_prefix="prelabel-online")
    events = EventTap(stack_env["LABELOPS_KAFKA_BOOTSTRAP"], topics.PRELABEL_EVENTS)
    job = _create(admin, dataset.id, ["positive", "negative", "neutral"],
                  prelabel=jpb.Prelabel(mode=jpb.PRELABEL_MODE_ONLINE,
                                        endpoint=reference_model[transport],
                                        stage=jpb.PRELABEL_STAGE_PRELABEL))

    status = _status(admin, job.id)
    assert (status.mode, status.state, status.predictions, status.failed) == (
        "online", "done", 11, 1)
    assert status.model_version == "reference-keywords-1" and status.breaker == "closed"
    failed = events.collect(
        lambda e: e["type"] == "labelops.prelabel.failed.v1" and e["data"]["job_id"] == job.id,
        lambda found: len(found) >= 1)
    [failure] = failed[0]["data"]["failures"]
    assert "the model refuses this item" in failure["reason"]

    wait_for_packages(admin, job.id, 2)
    found = _prelabels(admin, job.id, 11)
    assert failure["item_id"] not in found
    assert {p["label"] for p in found.values()} <= {"positive", "negative", "neutral"}
    assert sum(p["label"] == "negative" for p in found.values()) >= 4
    admin.close()


WORDS = {"sport": "goal match team score coach league ball player win season".split(),
         "food": "recipe taste dinner spicy bake sauce chef fresh kitchen flavour".split()}
FILLER = "the a it was this and with very really today about our new just".split()


def _synthetic(n: int) -> list[tuple[str, str]]:
    rng = random.Random(20)
    found = []
    for i in range(n):
        label = ["sport", "food"][i % 2]
        words = [rng.choice(WORDS[label] if rng.random() < 0.35 else FILLER)
                 for _ in range(10)]
        found.append((f"{i}: {' '.join(words)}", label))
    return found


def _label_package(client: Clients, package_id: str, truth: dict[str, str],
                   answers: dict[str, str] | None = None) -> list[str]:
    """Answer every item (the given answers first, else the truth of its text); submit."""
    detail = client.assignment.GetPackage(apb.GetPackageRequest(package_id=package_id))
    ids = []
    for item in detail.items:
        text = json.loads(item.data_json)["source"]
        label = (answers or {}).get(item.item_id) or truth[text]
        client.assignment.SaveAnnotation(apb.SaveAnnotationRequest(
            package_id=package_id, item_id=item.item_id,
            answer_json=json.dumps({"label": label})))
        ids.append(item.item_id)
    client.assignment.SubmitPackage(apb.SubmitPackageRequest(package_id=package_id))
    return ids


def test_an_auto_labeling_run_pre_labels_the_rest_and_labor_saved_is_measured(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path,
) -> None:
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    lee = _client(stack_env, "lee", auth.LABELER)
    # The first package (ten items) holds one label only and the second the other, so a
    # run can start only once both packages' acceptances reached the prelabel service.
    synthetic = _synthetic(60)
    samples = sorted(synthetic[:20], key=lambda s: s[1] != "sport") + synthetic[20:]
    truth = dict(samples)
    dataset, _ = import_manifest(admin, stack_env, _manifest(
        tmp_path, "auto", [{"source": t} for t, _ in samples]), name_prefix="prelabel-auto")
    job = _create(admin, dataset.id, ["sport", "food"])
    wait_for_packages(admin, job.id, 6)

    # Not enough labeled items yet: refused, saying what is missing.
    def refused() -> str | None:
        try:
            admin.prelabel.StartAutoLabel(ppb.StartAutoLabelRequest(job_id=job.id))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None  # the job has not reached the prelabel service yet
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc.details()
            return exc.details() or ""
        raise AssertionError("a run started without labeled items")

    assert "at least 2 labels each used on at least 5 labeled items" in wait_for(
        "the refusal", refused, timeout=60)

    # A labeler labels two packages (a label-only workflow accepts them on submit).
    for _ in range(2):
        package = lee.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id,
                                                                      stage=LABEL))
        _label_package(lee, package.id, truth)

    def started() -> ppb.AutoLabelRun | None:
        try:
            return admin.prelabel.StartAutoLabel(ppb.StartAutoLabelRequest(job_id=job.id))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "labeled items per " \
                    "label" in (exc.details() or ""):
                return None  # the acceptances are on their way
            raise

    run = wait_for("the run to start", started, timeout=120)
    assert run.state == "running" and run.model_version == "text-tfidf-logreg/v1"

    def finished() -> ppb.AutoLabelRun | None:
        found = admin.prelabel.GetAutoLabelRun(ppb.GetAutoLabelRunRequest(run_id=run.run_id))
        return found if found.state != "running" else None

    done = wait_for("the run to finish", finished, timeout=300)
    assert done.state == "done", done.error
    assert done.labeled == 40 and done.train_items + done.held_out_items == 20
    assert done.accuracy >= done.baseline_accuracy

    # The "to be confirmed" pre-labels reach the remaining packages; mostly right.
    found = _prelabels(admin, job.id, 40)
    right = sum(truth[t] == found[i]["label"] for i, t in _item_texts(admin, job.id).items()
                if i in found)
    assert right >= 30, right

    # The labeler confirms a package's pre-labels but corrects one: labor saved counts it.
    package = lee.assignment.ClaimPackage(apb.ClaimPackageRequest(job_id=job.id, stage=LABEL))
    detail = lee.assignment.GetPackage(apb.GetPackageRequest(package_id=package.id))
    answers = {i.item_id: json.loads(i.prelabel_json)["label"] for i in detail.items}
    first = detail.items[0].item_id
    answers[first] = "food" if answers[first] == "sport" else "sport"
    _label_package(lee, package.id, truth, answers)

    def saved() -> ppb.LaborSaved | None:
        labor = admin.prelabel.GetLaborSaved(ppb.GetLaborSavedRequest(job_id=job.id))
        return labor if labor.accepted >= len(answers) else None

    labor = wait_for("labor saved", saved, timeout=120)
    assert (labor.prelabeled, labor.accepted, labor.accepted_changed) == (40, 10, 1)
    assert labor.accepted_unchanged == 9 and labor.unchanged_ratio == pytest.approx(0.9)
    for client in (admin, lee):
        client.close()


def _item_texts(client: Clients, job_id: str) -> dict[str, str]:
    texts = {}
    for package in client.assignment.ListPackages(
            apb.ListPackagesRequest(job_id=job_id)).packages:
        detail = client.assignment.GetPackage(apb.GetPackageRequest(package_id=package.id))
        for item in detail.items:
            texts[item.item_id] = json.loads(item.data_json)["source"]
    return texts


def test_formal_pre_labels_skip_labeling_and_the_rest_waits_for_people(
    platform: ServiceProcesses, stack_env: dict[str, str], tmp_path: Path,
) -> None:
    """Effective stage "formal": the package whose every item has a valid pre-label goes
    straight to the checkers with those answers (the system is its labeler); the package
    with items left unlabeled waits for a person; a check rejection of a system-labeled
    package returns it to the open pool, where a labeler takes it."""
    admin = _client(stack_env, "ada", auth.ANNOTATION_ADMIN)
    lee = _client(stack_env, "lee", auth.LABELER)
    chen = _client(stack_env, "chen", auth.CHECKER)
    records = [{"source": f"review {n}", "review_id": n,
                **({"label": ["pos", "neg"][n % 2]} if n < 5 or n == 7 else {})}
               for n in range(10)]
    dataset, _ = import_manifest(admin, stack_env, _manifest(tmp_path, "formal", records),
                                 name_prefix="prelabel-formal")
    job = admin.jobs.CreateJob(jpb.CreateJobRequest(
        name=f"formal-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
        template="text_classification", labels=[jpb.Label(name=n) for n in ("pos", "neg")],
        workflow=jpb.WORKFLOW_LABEL_CHECK, package_size=5, check_ratio=1.0,
        members=jpb.Members(labelers=["lee"], checkers=["chen"]),
        prelabel=jpb.Prelabel(mode=jpb.PRELABEL_MODE_OFFLINE,
                              mapping=[jpb.FieldTopic(field="label", topic="label")],
                              stage=jpb.PRELABEL_STAGE_FORMAL)))
    admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    assert _status(admin, job.id).predictions == 6
    wait_for_packages(admin, job.id, 2)

    def states() -> dict[int, int] | None:
        found = {p.index: p.state for p in admin.assignment.ListPackages(
            apb.ListPackagesRequest(job_id=job.id)).packages}
        return found if found.get(0) == apb.PACKAGE_STATE_TO_CHECK else None

    # Package 0 (items 0-4, all pre-labeled) skipped labeling; package 1 (only item 7) waits.
    assert wait_for("the system's submission", states) == {
        0: apb.PACKAGE_STATE_TO_CHECK, 1: apb.PACKAGE_STATE_OPEN}
    checked = chen.assignment.ClaimPackage(apb.ClaimPackageRequest(
        job_id=job.id, stage=apb.STAGE_CHECK))
    assert checked.index == 0 and checked.labeler == "prelabel"
    detail = chen.assignment.GetPackage(apb.GetPackageRequest(package_id=checked.id))
    answers = [json.loads(item.answer_json)["label"] for item in detail.items]
    assert answers == ["pos", "neg", "pos", "neg", "pos"]  # the pre-labels, as answers

    # The checker sends it back: it returns to the open pool, not to a person.
    chen.assignment.ReviewPackage(apb.ReviewPackageRequest(
        package_id=checked.id, passed=False, rejections=[apb.ItemRejection(
            item_id=detail.items[1].item_id, reason="this one is positive")]))
    claimed = {lee.assignment.ClaimPackage(apb.ClaimPackageRequest(
        job_id=job.id, stage=LABEL)).index for _ in range(2)}
    assert claimed == {0, 1}
    for client in (admin, lee, chen):
        client.close()
