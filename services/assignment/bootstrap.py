"""Wire the assignment service."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from labelops.assignment.v1 import acceptance_pb2_grpc, assignment_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.assignment import acceptance, handlers
from services.assignment.adapters import acceptances
from services.assignment.adapters.dataset_client import DatasetClient
from services.assignment.adapters.repository import ANNOTATIONS, INDEXES, Repository
from services.assignment.api import ROLES, AssignmentServicer
from services.assignment.moves import Packages
from services.assignment.settings import AssignmentSettings

log = logging.getLogger(__name__)


def build(rt: Runtime) -> ServiceParts:
    settings = AssignmentSettings()
    answers = rt.db.client[settings.answers_database or f"{rt.db.name}_answers"]
    rt.outbox.place(ANNOTATIONS, answers)
    repo = Repository(rt.db, answers)
    datasets = DatasetClient(rt.settings.dataset_addr, rt.service_token)
    packages = Packages(repo, rt.outbox, rt.source, settings)
    handlers.register(rt.consumer, repo, datasets, packages)
    servicer = AssignmentServicer(repo, rt.outbox, datasets, rt.source, packages)
    accepting = acceptance.AcceptanceServicer(
        repo, acceptances.Acceptances(rt.db), rt.outbox, datasets, rt.source, packages,
        complete=servicer.maybe_complete)
    return ServiceParts(
        grpc_services=[
            GrpcService("labelops.assignment.v1.AssignmentService", servicer,
                        assignment_pb2_grpc.add_AssignmentServiceServicer_to_server, ROLES,
                        first=frozenset({"ClaimPackage"})),
            GrpcService("labelops.assignment.v1.AcceptanceService", accepting,
                        acceptance_pb2_grpc.add_AcceptanceServiceServicer_to_server,
                        acceptance.ROLES)],
        indexes={**INDEXES, **acceptances.INDEXES},
        background=[packages.run],
        startup=[_answers_moved_in(repo)],
    )


def _answers_moved_in(repo: Repository) -> Callable[[], Coroutine[Any, Any, None]]:
    """Saved answers of a version that kept them in the main database move to theirs
    before the first call is served (drafts of packages at work are not lost)."""
    async def move() -> None:
        moved = await repo.move_answers_in()
        if moved:
            log.info("saved answers moved to their own database", extra={"answers": moved})
    return move
