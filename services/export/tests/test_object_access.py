"""Object-level access to exports and their downloads (OWASP API1), through the real server
on the fake database and object store: a member of another workspace (holding every role)
reaches no job's exports, view or reconciliation by id and gets no download URL; a file is
downloaded only through a short-lived presigned URL, issued after the caller's workspace is
checked; every role a method does not allow is refused. Each refused call changes no
stored document and issues no URL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from labelops.export.v1 import export_pb2 as pb
from labelops_shared import auth
from labelops_shared.annotations import build_template
from labelops_shared.grpc_server import bearer
from services.export.api import ROLES
from services.export.tests.conftest import SECRET, Harness
from tests.access import (
    EVERY_MEMBER_ROLE,
    HIDDEN,
    OTHER_WORKSPACE,
    assert_every_method_placed,
    assert_roles_refused,
    refused_unchanged,
)

pytestmark = [pytest.mark.unit,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
TEMPLATE = build_template("text_classification", [{"name": "pos"}, {"name": "neg"}]).to_dict()


class Caller:
    def __init__(self, harness: Harness, subject: str, *roles: str,
                 workspace: str = "ws1") -> None:
        self._stub = harness.stub
        self._metadata = bearer(auth.issue_token(SECRET, subject=subject, workspace=workspace,
                                                 roles=roles))

    def __getattr__(self, method: str) -> Any:
        async def invoke(request: Any) -> Any:
            return await getattr(self._stub, method)(request, metadata=self._metadata,
                                                     timeout=30)
        return invoke


async def _world(harness: Harness) -> tuple[str, pb.Export]:
    await harness.create_job("j1", TEMPLATE, ["pos", "neg"], name="secret-job")
    await harness.accept("j1", "p1", [(f"ds1:1:{n:04d}", {"text": f"t{n}"},
                                       {"label": "pos"}, "ann", 1) for n in range(3)])
    done = await harness.finished((await harness.start("j1")).id)
    assert done.download_url and done.object_key.startswith("ws1/j1/")
    return "j1", done


MATRIX: dict[str, Callable[[str, str], Any]] = {
    "StartExport": lambda job, export: pb.StartExportRequest(job_id=job),
    "GetExport": lambda job, export: pb.GetExportRequest(export_id=export),
    "ListExports": lambda job, export: pb.ListExportsRequest(job_id=job),
    "GetLabeledView": lambda job, export: pb.GetLabeledViewRequest(job_id=job),
    "ReconcileJob": lambda job, export: pb.ReconcileJobRequest(job_id=job, by_package=True),
}


def test_every_rpc_is_in_the_matrix() -> None:
    assert_every_method_placed(pb, "ExportService", MATRIX, ())


async def test_another_workspace_reaches_nothing_and_gets_no_url(harness: Harness) -> None:
    job, export = await _world(harness)
    issued: list[tuple[str, str, Any]] = []
    presign = harness.storage.presigned_get_object

    def recording(bucket: str, key: str, expires: Any = None) -> str:
        issued.append((bucket, key, expires))
        return presign(bucket, key, expires)

    harness.storage.presigned_get_object = recording  # type: ignore[method-assign]
    outsider = Caller(harness, "ada", *EVERY_MEMBER_ROLE, workspace=OTHER_WORKSPACE)
    for method, attack in MATRIX.items():
        await refused_unchanged(harness.db, getattr(outsider, method)(attack(job, export.id)),
                                HIDDEN, secrets=["secret-job", export.object_key])
    assert issued == [], "no URL is signed for a refused caller"
    assert harness.assignment.tokens == [], "nothing is asked of the assignment service"
    # The owner's workspace gets the file, through a URL valid for a short while only.
    ada = Caller(harness, "ada", auth.ANNOTATION_ADMIN)
    found = await ada.GetExport(pb.GetExportRequest(export_id=export.id))
    assert found.download_url and issued == [(found.bucket, found.object_key, issued[0][2])]
    assert timedelta(0) < issued[0][2] <= timedelta(hours=1)
    listed = await ada.ListExports(pb.ListExportsRequest(job_id=job))
    assert [e.id for e in listed.exports] == [export.id]


async def test_every_role_a_method_does_not_allow_is_refused(harness: Harness) -> None:
    await _world(harness)
    checked = await assert_roles_refused(harness.db, pb, "ExportService", ROLES,
                                         lambda role: Caller(harness, "lee", role))
    assert checked >= len(ROLES)
