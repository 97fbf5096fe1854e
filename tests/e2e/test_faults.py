"""Crashes lose nothing: SIGKILL services mid-flow, restart them, the flow completes with
every item exactly once."""

from __future__ import annotations

import pytest

from labelops.assignment.v1 import assignment_pb2 as apb
from labelops_cli.client import connect
from labelops_cli.demo import run_demo
from labelops_cli.services import ServiceProcesses, wait_healthy
from labelops_shared import auth

pytestmark = [pytest.mark.e2e, pytest.mark.fault]

# Which services to kill after which step of the flow: each is busy with events right then.
KILLS = {
    "imported": ["jobs", "dataset"],        # the import's event is in flight to jobs
    "published": ["assignment", "prelabel"],  # cutting packages, mapping pre-labels
    "accepted": ["export"],                 # building the labeled view from accepted events
}


def test_sigkill_services_mid_flow_and_restart(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    killed: list[str] = []

    def crash_and_restart(step: str) -> None:
        for name in KILLS.get(step, []):
            platform.kill(name)
            killed.append(name)
        for name in KILLS.get(step, []):
            platform.start(name, stack_env)
        wait_healthy(platform, KILLS.get(step, []))

    result = run_demo(stack_env, say=lambda _: None, after=crash_and_restart)

    assert killed == ["jobs", "dataset", "assignment", "prelabel", "export"]
    ids = [line["id"] for line in result.lines]
    assert len(ids) == 25 and len(set(ids)) == 25  # nothing lost, nothing twice
    admin = connect(auth.issue_token(stack_env["LABELOPS_JWT_SECRET"], subject="ada",
                                     workspace="demo", roles=[auth.ANNOTATION_ADMIN]))
    progress = admin.assignment.GetJobProgress(apb.GetJobProgressRequest(job_id=result.job_id))
    admin.close()
    assert progress.package_count == 3  # packages were not cut twice
    assert progress.item_count == 25
    assert progress.accepted_items == 25
    assert progress.completed
