"""Object-level access to pre-label runs (OWASP API1), through the real server on the fake
database: a member of another workspace (holding every role) reaches no job's status,
invalid values, auto-labeling run or labor figures by id, and starts no run on another
workspace's job; every role a method does not allow is refused. Each refused call changes
no stored document, and each object attacked is first shown to exist."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from labelops.prelabel.v1 import prelabel_pb2 as pb
from services.prelabel.adapters.repository import RUNS
from services.prelabel.api import ROLES
from services.prelabel.tests.conftest import WORKSPACE, Harness, spec
from services.prelabel.tests.fakes import FakeDatabase
from tests.access import (
    EVERY_MEMBER_ROLE,
    HIDDEN,
    OTHER_WORKSPACE,
    assert_every_method_placed,
    assert_roles_refused,
    refused_unchanged,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def db() -> FakeDatabase:
    """The in-memory database only: refusals compare every document before and after."""
    return FakeDatabase()


async def _world(harness: Harness) -> tuple[str, str]:
    """A published job with pre-labels (one value invalid) and a finished run of it."""
    harness.items.add("d1", ["pos", "bad", "neg"])
    job = spec()
    await harness.publish(job)
    run_id = "run-of-ws1"
    await harness.db[RUNS].insert_one({
        "_id": run_id, "job_id": job.job_id, "workspace": WORKSPACE, "number": 1,
        "state": "done", "model_version": "secret-model-v1", "requested_by": "ada",
        "started_at": datetime.now(UTC), "finished_at": datetime.now(UTC)})
    return job.job_id, run_id


MATRIX: dict[str, Callable[[str, str], Any]] = {
    "GetPrelabelStatus": lambda job, run: pb.GetPrelabelStatusRequest(job_id=job),
    "ListInvalidPrelabels": lambda job, run: pb.ListInvalidPrelabelsRequest(job_id=job),
    "StartAutoLabel": lambda job, run: pb.StartAutoLabelRequest(job_id=job),
    "GetAutoLabelRun": lambda job, run: pb.GetAutoLabelRunRequest(run_id=run),
    "ListAutoLabelRuns": lambda job, run: pb.ListAutoLabelRunsRequest(job_id=job),
    "GetLaborSaved": lambda job, run: pb.GetLaborSavedRequest(job_id=job),
}


def test_every_rpc_is_in_the_matrix() -> None:
    assert_every_method_placed(pb, "PrelabelService", MATRIX, ())


async def test_another_workspace_reaches_nothing_by_id(harness: Harness) -> None:
    job, run = await _world(harness)
    outsider = harness.client("ada", *EVERY_MEMBER_ROLE, workspace=OTHER_WORKSPACE)
    for method, attack in MATRIX.items():
        await refused_unchanged(harness.db, getattr(outsider, method)(attack(job, run)),
                                HIDDEN, secrets=["secret-model-v1", "bad"])
    ada = harness.admin()  # the objects exist
    assert (await ada.GetPrelabelStatus(pb.GetPrelabelStatusRequest(job_id=job))).invalid == 1
    assert (await ada.ListInvalidPrelabels(pb.ListInvalidPrelabelsRequest(job_id=job))).total
    assert (await ada.GetAutoLabelRun(pb.GetAutoLabelRunRequest(run_id=run))).job_id == job
    listed = await ada.ListAutoLabelRuns(pb.ListAutoLabelRunsRequest(job_id=job))
    assert [r.run_id for r in listed.runs] == [run]


async def test_every_role_a_method_does_not_allow_is_refused(harness: Harness) -> None:
    await _world(harness)
    checked = await assert_roles_refused(harness.db, pb, "PrelabelService", ROLES,
                                         lambda role: harness.client("lee", role))
    assert checked >= len(ROLES)
