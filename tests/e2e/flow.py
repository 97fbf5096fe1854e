"""A job of a few thousand items driven through label → check → accept → export by a small
crowd of workers, each a thread with its own channels, while a fault test breaks things.

Workers behave as people at a labeling page would when a service is down: a call that fails
with UNAVAILABLE, DEADLINE_EXCEEDED or ABORTED is tried again after a pause; anything else is
recorded as an error (the fault tests expect none). A retried state change whose first
attempt went through answers FAILED_PRECONDITION; the worker then reads the package and
moves on when it already left the state. Before claiming, every worker first takes up what
it already holds (a claim whose answer was lost, a package a checker sent back), so nothing
is stranded. Checkers send every fifth package back once with a reason, and the labeler
answers it again with other labels: the export must carry each item's last answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops.export.v1 import export_pb2 as epb
from labelops.jobs.v1 import jobs_pb2 as jpb
from labelops_cli.check.runner import run_checks
from labelops_cli.check.sources import CheckSettings
from labelops_cli.client import Clients, connect
from labelops_cli.demo import import_manifest
from labelops_shared import auth

WORKSPACE = "faults"
LABELS = ("positive", "negative", "neutral")
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.ABORTED)
CALL_TIMEOUT = 30.0
OUTAGE_PATIENCE = 180.0  # how long a worker keeps retrying one call
SEND_BACK_EVERY = 5      # checkers send packages 0, 5, 10, ... back to their labeler once

T = TypeVar("T")


def token(env: dict[str, str], subject: str, *roles: str) -> str:
    return auth.issue_token(env["LABELOPS_JWT_SECRET"], subject=subject, workspace=WORKSPACE,
                            roles=roles, ttl_seconds=3600)


def admin_client(env: dict[str, str], addrs: Mapping[str, str] | None = None) -> Clients:
    """An admin's clients; ``addrs`` as for ``connect`` (other processes than the stack's)."""
    return connect(token(env, "fault-admin", auth.ANNOTATION_ADMIN, auth.WORKSPACE_ADMIN),
                   addrs)


def retrying(call: Callable[[], T], errors: Counter[str] | None = None,
             patience: float = OUTAGE_PATIENCE) -> T:
    """Call until it answers something other than a retryable code."""
    deadline = time.monotonic() + patience
    pause = 0.1
    while True:
        try:
            return call()
        except grpc.RpcError as exc:
            if exc.code() not in RETRYABLE or time.monotonic() > deadline:
                raise
            if errors is not None:
                errors[f"retried {exc.code().name}"] += 1
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def write_manifest(path: Path, items: int) -> Path:
    """Text reviews; every third carries an offline pre-label, so the prelabel service takes
    part in the flow."""
    with path.open("w") as out:
        for n in range(items):
            data: dict[str, Any] = {"source": f"review {n}: delivery took {n % 9} days",
                                    "review_id": f"r{n:06d}"}
            if n % 3 == 0:
                data["label"] = LABELS[n % 3]
            out.write(json.dumps({"data": data}) + "\n")
    return path


@dataclass
class FlowJob:
    dataset_id: str
    job_id: str
    items: int
    packages: int
    started_ms: int = 0  # when its dataset was created (Kafka timestamps are in ms)


def publish_job(env: dict[str, str], manifest: Path, items: int,
                package_size: int, addrs: Mapping[str, str] | None = None) -> FlowJob:
    admin = admin_client(env, addrs)
    started_ms = int(time.time() * 1000)
    try:
        dataset, version = import_manifest(admin, env, manifest, name_prefix="faults")
        assert version.item_count == items
        job = admin.jobs.CreateJob(jpb.CreateJobRequest(
            name=f"faults-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
            template="text_classification", labels=[jpb.Label(name=n) for n in LABELS],
            workflow=jpb.WORKFLOW_LABEL_CHECK_ACCEPT, package_size=package_size,
            check_ratio=1.0, prelabel_field="label"))
        admin.jobs.PublishJob(jpb.PublishJobRequest(job_id=job.id))
    finally:
        admin.close()
    return FlowJob(dataset.id, job.id, items, -(-items // package_size), started_ms)


@dataclass
class Tally:
    """What the crowd did, shared by its threads (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: dict[str, str] = field(default_factory=dict)  # item → the last label saved
    rounds: Counter[str] = field(default_factory=Counter)  # package → times labeled
    sent_back: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    checked: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # unexpected answers: must be none
    retries: Counter[str] = field(default_factory=Counter)  # outages ridden out
    error_samples: list[str] = field(default_factory=list)

    def error(self, what: str, exc: BaseException) -> None:
        with self.lock:
            self.errors[what] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{what}: {exc}")


class Crowd:
    """Labelers, checkers and accepters working the job until every package is accepted."""

    def __init__(self, env: dict[str, str], job: FlowJob, labelers: int = 4, checkers: int = 2,
                 accepters: int = 2, addrs: Sequence[Mapping[str, str]] = (),
                 think_seconds: float = 0.0) -> None:
        """``addrs``: the services to call (as for ``connect``), dealt out to the workers in
        turn (none: the stack's own). ``think_seconds``: a labeler's pause after each
        answer, so a test's faults land mid-flow however fast the platform works."""
        self.env, self.job = env, job
        self.think_seconds = think_seconds
        self.tally = Tally()
        self._stop = threading.Event()
        roles = ([(f"lab-{n}", auth.LABELER) for n in range(labelers)]
                 + [(f"chk-{n}", auth.CHECKER) for n in range(checkers)]
                 + [(f"acc-{n}", auth.ACCEPTER) for n in range(accepters)])
        self._threads = [threading.Thread(target=self._work, args=(name, role),
                                          name=name, daemon=True) for name, role in roles]
        self._addrs = {name: addrs[n % len(addrs)] for n, (name, _) in enumerate(roles)
                       if addrs}
        self._admin_addrs = addrs[0] if addrs else None

    # -- the crowd as a whole ------------------------------------------------------------

    def start(self) -> Crowd:
        for thread in self._threads:
            thread.start()
        return self

    @property
    def accepted(self) -> int:
        with self.tally.lock:
            return len(self.tally.accepted)

    def wait_accepted(self, packages: int, timeout: float = 600.0) -> None:
        """Block until at least ``packages`` packages are accepted (the fault tests inject
        their fault at such a point)."""
        deadline = time.monotonic() + timeout
        while self.accepted < packages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.accepted} of {packages} packages accepted; "
                                   f"errors {dict(self.tally.errors)}")
            if not any(t.is_alive() for t in self._threads):
                raise RuntimeError(f"every worker stopped; errors {self.tally.error_samples}")
            time.sleep(0.1)

    def finish(self, timeout: float = 600.0) -> Tally:
        try:
            self.wait_accepted(self.job.packages, timeout)
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=CALL_TIMEOUT + 5)
        return self.tally

    # -- one worker --------------------------------------------------------------------------

    def _work(self, name: str, role: str) -> None:
        client = connect(token(self.env, name, role), self._addrs.get(name))
        stage, held = {auth.LABELER: (apb.STAGE_LABEL, apb.PACKAGE_STATE_LABELING),
                       auth.CHECKER: (apb.STAGE_CHECK, apb.PACKAGE_STATE_CHECKING),
                       auth.ACCEPTER: (apb.STAGE_ACCEPT, apb.PACKAGE_STATE_ACCEPTING)}[role]
        try:
            while not self._stop.is_set():
                try:
                    package = self._next(client, name, stage, held)
                    if package is None:
                        time.sleep(0.2)  # nothing to do yet: ask again, as a person would
                        continue
                    {auth.LABELER: self._label, auth.CHECKER: self._check,
                     auth.ACCEPTER: self._accept}[role](client, package)
                except grpc.RpcError as exc:
                    self.tally.error(f"{role} {exc.code().name}", exc)
                    time.sleep(0.5)
        finally:
            client.close()

    def _call(self, fn: Callable[..., T], request: Any) -> T:
        return retrying(lambda: fn(request, timeout=CALL_TIMEOUT), self.tally.retries)

    def _next(self, client: Clients, name: str, stage: int, held: int) -> Any:
        mine = self._call(client.assignment.ListPackages, apb.ListPackagesRequest(
            job_id=self.job.job_id, state=held, mine=True))
        for package in mine.packages:
            if package.holder == name:  # "mine" lists what I labeled and another holds, too
                return package
        try:
            # one request id for every attempt: a retry whose first attempt went through
            # gets that package back instead of a second one
            return self._call(client.assignment.ClaimPackage, apb.ClaimPackageRequest(
                job_id=self.job.job_id, stage=stage, request_id=uuid.uuid4().hex))
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED):
                return None
            raise

    def _moved(self, client: Clients, package_id: str, move: Callable[[], Any],
               left: int) -> None:
        """Run a state change. After a retried attempt, FAILED_PRECONDITION (the package is
        in another state) or PERMISSION_DENIED (the move cleared its holder) is fine when the
        package already left state ``left``: the first attempt went through before its
        answer was lost. An administrator looks, since the worker no longer holds it."""
        retried = Counter[str]()
        try:
            retrying(move, retried)
        except grpc.RpcError as exc:
            first_went_through = (grpc.StatusCode.FAILED_PRECONDITION,
                                  grpc.StatusCode.PERMISSION_DENIED)
            if exc.code() not in first_went_through or not retried:
                raise
            admin = admin_client(self.env, self._admin_addrs)
            try:
                now = self._call(admin.assignment.GetPackage,
                                 apb.GetPackageRequest(package_id=package_id)).package
            finally:
                admin.close()
            if now.state == left:
                raise
        finally:
            with self.tally.lock:
                self.tally.retries.update(retried)

    def _label(self, client: Clients, package: Any) -> None:
        detail = self._call(client.assignment.GetPackage,
                            apb.GetPackageRequest(package_id=package.id))
        with self.tally.lock:
            round_ = self.tally.rounds[package.id]
        for n, item in enumerate(detail.items):
            label = LABELS[(package.index + n + round_) % len(LABELS)]
            self._call(client.assignment.SaveAnnotation, apb.SaveAnnotationRequest(
                package_id=package.id, item_id=item.item_id,
                answer_json=json.dumps({"label": label})))
            with self.tally.lock:
                self.tally.answers[item.item_id] = label
            if self.think_seconds:
                time.sleep(self.think_seconds)
        self._moved(client, package.id, lambda: client.assignment.SubmitPackage(
            apb.SubmitPackageRequest(package_id=package.id), timeout=CALL_TIMEOUT),
            apb.PACKAGE_STATE_LABELING)
        with self.tally.lock:
            self.tally.rounds[package.id] += 1

    def _check(self, client: Clients, package: Any) -> None:
        detail = self._call(client.assignment.GetPackage,
                            apb.GetPackageRequest(package_id=package.id))
        with self.tally.lock:
            send_back = (package.index % SEND_BACK_EVERY == 0
                         and package.id not in self.tally.sent_back)
            if send_back:
                self.tally.sent_back.add(package.id)
        if send_back:
            request = apb.ReviewPackageRequest(
                package_id=package.id, passed=False,
                rejections=[apb.ItemRejection(item_id=detail.items[0].item_id,
                                              reason="the label does not fit the review")])
        else:
            request = apb.ReviewPackageRequest(
                package_id=package.id, passed=True, rating=apb.RATING_A,
                approved=[i.item_id for i in detail.items if i.to_inspect])
        self._moved(client, package.id, lambda: client.assignment.ReviewPackage(
            request, timeout=CALL_TIMEOUT), apb.PACKAGE_STATE_CHECKING)
        with self.tally.lock:
            self.tally.checked += 1

    def _accept(self, client: Clients, package: Any) -> None:
        self._call(client.assignment.GetPackage, apb.GetPackageRequest(package_id=package.id))
        self._moved(client, package.id, lambda: client.assignment.AcceptPackage(
            apb.AcceptPackageRequest(package_id=package.id, accepted=True),
            timeout=CALL_TIMEOUT), apb.PACKAGE_STATE_ACCEPTING)
        with self.tally.lock:
            self.tally.accepted.add(package.id)


def export_lines(env: dict[str, str], job: FlowJob, timeout: float = 300.0,
                 addrs: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Wait until the export service's view holds every item, export the job as JSON lines
    and return the lines."""
    admin = admin_client(env, addrs)
    deadline = time.monotonic() + timeout
    try:
        while retrying(lambda: admin.export.GetLabeledView(epb.GetLabeledViewRequest(
                job_id=job.job_id), timeout=CALL_TIMEOUT)).item_count < job.items:
            if time.monotonic() > deadline:
                raise TimeoutError("the labeled view never held every item")
            time.sleep(0.5)
        export = retrying(lambda: admin.export.StartExport(epb.StartExportRequest(
            job_id=job.job_id, format="manifest"), timeout=CALL_TIMEOUT))
        while True:
            record = retrying(lambda: admin.export.GetExport(epb.GetExportRequest(
                export_id=export.id), timeout=CALL_TIMEOUT))
            if record.state == epb.EXPORT_STATE_FAILED:
                raise RuntimeError(f"export failed: {record.error}")
            if record.state == epb.EXPORT_STATE_COMPLETED:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the export never completed")
            time.sleep(0.5)
    finally:
        admin.close()
    with urllib.request.urlopen(record.download_url, timeout=60) as response:  # noqa: S310
        return [json.loads(line) for line in response.read().decode().splitlines() if line]


def wait_packaged(env: dict[str, str], job: FlowJob,
                  addrs: Mapping[str, str] | None = None) -> None:
    """Wait until the assignment service has cut every package of the job."""
    admin = admin_client(env, addrs)
    deadline = time.monotonic() + 300
    try:
        while True:
            try:
                progress = retrying(lambda: admin.assignment.GetJobProgress(
                    apb.GetJobProgressRequest(job_id=job.job_id), timeout=CALL_TIMEOUT))
                if progress.package_count == job.packages:
                    return
            except grpc.RpcError as exc:  # NOT_FOUND until the published event arrives
                if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
    finally:
        admin.close()


def verify_flow(env: dict[str, str], job: FlowJob, crowd: Crowd,
                addrs: Mapping[str, str] | None = None, *,
                assignment_db: str = "labelops_assignment",
                export_db: str = "labelops_export") -> None:
    """After a fault: the workers saw no error but outages they rode out; the export holds
    every item once with its last answer; the assignment and jobs services count every item
    once; ``labelops check`` finds every invariant held."""
    tally = crowd.finish()
    assert not tally.errors, tally.error_samples
    assert len(tally.sent_back) == -(-job.packages // SEND_BACK_EVERY)

    lines = export_lines(env, job, addrs=addrs)
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == job.items  # every item once
    assert {line["id"]: line["label"] for line in lines} == tally.answers  # its last answer

    admin = admin_client(env, addrs)
    try:
        progress = retrying(lambda: admin.assignment.GetJobProgress(
            apb.GetJobProgressRequest(job_id=job.job_id), timeout=CALL_TIMEOUT))
        assert (progress.package_count, progress.item_count) == (job.packages, job.items)
        assert progress.accepted_items == job.items and progress.completed

        def jobs_view() -> jpb.Job:
            return retrying(lambda: admin.jobs.GetJob(jpb.GetJobRequest(job_id=job.job_id),
                                                      timeout=CALL_TIMEOUT))
        deadline = time.monotonic() + 120
        while (seen := jobs_view()).progress.accepted < job.items:
            assert time.monotonic() < deadline, seen.progress
            time.sleep(0.5)
        assert seen.progress.accepted == seen.progress.labeled == job.items, seen.progress
        assert seen.progress.packages == job.packages and seen.progress.claimed == 0
    finally:
        admin.close()

    report = asyncio.run(run_checks(CheckSettings(
        kafka_bootstrap=env["LABELOPS_KAFKA_BOOTSTRAP"], mongo_url=env["LABELOPS_MONGO_URL"],
        assignment_db=assignment_db, export_db=export_db), [job.job_id]))
    assert report.ok, report.violations
    assert report.seen["accepted items"] == job.items
