"""Object-level access to packages, claims, answers and acceptances (OWASP API1), through the
real server on the fake database: a member of another workspace (holding every role, and
even the same name as the worker holding the package) reaches nothing by its id; a worker
reaches only what they hold; every role a method does not allow is refused. Each refused
call changes no stored document, and each object attacked is first shown to exist."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from labelops.assignment.v1 import acceptance_pb2 as apb
from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from services.assignment import acceptance
from services.assignment.api import ROLES
from services.assignment.tests.conftest import ANSWER, Harness
from services.assignment.tests.fakes import FakeDatabase
from services.assignment.tests.test_api import label_all, pass_check
from tests.access import (
    EVERY_MEMBER_ROLE,
    HIDDEN,
    HIDDEN_OR_DENIED,
    OTHER_WORKSPACE,
    assert_every_method_placed,
    assert_roles_refused,
    refused_unchanged,
)

pytestmark = pytest.mark.unit
LABEL, CHECK, ACCEPT = pb.STAGE_LABEL, pb.STAGE_CHECK, pb.STAGE_ACCEPT
ADA = ("ada", auth.ANNOTATION_ADMIN)


@pytest.fixture
def db() -> FakeDatabase:
    """The in-memory database only: refusals compare every document before and after."""
    return FakeDatabase()


@dataclass
class World:
    """Workspace ws1's objects, in every state an attack needs."""

    job: str             # label → check → accept, with an acceptance under way
    dataset: str
    labeling: str        # held by lee, labeling
    item: str            # an item of ``labeling``
    accepting: str       # held by acc, accepting (claimed for acceptance)
    session: str         # acceptance of ``job``, ongoing
    sampled_item: str    # an item of the session
    checked_job: str     # label → check
    checking: str        # labeled by lee, held by cho, checking
    accepted: str        # accepted
    accepted_item: str


async def _world(harness: Harness) -> World:
    ada = harness.client(*ADA)
    lee = harness.client("lee", auth.LABELER)
    cho = harness.client("cho", auth.CHECKER)
    acc = harness.client("acc", auth.ACCEPTER)
    job = await harness.publish_job(items=15, package_size=5, check_ratio=1.0)
    for _ in range(2):  # two packages labeled, checked, waiting for acceptance
        pkg = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job, stage=LABEL))
        await label_all(lee, pkg.id)
        await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=pkg.id))
        await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job, stage=CHECK))
        await pass_check(cho, pkg.id)
    accepting = await acc.ClaimPackage(pb.ClaimPackageRequest(job_id=job, stage=ACCEPT))
    session = await harness.client(*ADA, stub=harness.acceptance).StartAcceptance(
        apb.StartAcceptanceRequest(job_id=job, percent=100))
    labeling = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job, stage=LABEL))
    item = (await lee.GetPackage(pb.GetPackageRequest(package_id=labeling.id))).items[0]

    checked_job = await harness.publish_job(items=10, package_size=5, check_ratio=1.0,
                                            workflow="label_check")
    done = []
    for _ in range(2):
        pkg = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=checked_job, stage=LABEL))
        await label_all(lee, pkg.id)
        await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=pkg.id))
        done.append(await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=checked_job,
                                                                  stage=CHECK)))
    await pass_check(cho, done[0].id, pb.RATING_B)
    accepted = await ada.GetPackage(pb.GetPackageRequest(package_id=done[0].id))
    assert accepted.package.state == pb.PACKAGE_STATE_ACCEPTED
    assert session.state == apb.ACCEPTANCE_STATE_ONGOING and session.package_ids
    job_doc = await harness.db["jobs"].find_one({"_id": job})
    sampled = await harness.client(*ADA, stub=harness.acceptance).GetAcceptance(
        apb.GetAcceptanceRequest(acceptance_id=session.id))
    return World(job=job, dataset=job_doc["dataset_id"], labeling=labeling.id,
                 item=item.item_id, accepting=accepting.id, session=session.id,
                 sampled_item=sampled.items[0].item_id, checked_job=checked_job,
                 checking=done[1].id, accepted=accepted.package.id,
                 accepted_item=accepted.items[0].item_id)


# RPC → (who owns the object attacked, the request, codes an outsider may get)
Attack = Callable[[World], tuple[str, Any, frozenset[grpc.StatusCode]]]
ASSIGNMENT: dict[str, Attack] = {
    "ListPackages": lambda w: ("ada", pb.ListPackagesRequest(job_id=w.job), HIDDEN),
    "ClaimPackage": lambda w: ("lee", pb.ClaimPackageRequest(job_id=w.job, stage=LABEL),
                               HIDDEN),
    "GetPackage": lambda w: ("lee", pb.GetPackageRequest(package_id=w.labeling),
                             HIDDEN_OR_DENIED),
    "SaveAnnotation": lambda w: ("lee", pb.SaveAnnotationRequest(
        package_id=w.labeling, item_id=w.item, answer_json=json.dumps(ANSWER)),
        HIDDEN_OR_DENIED),
    "SubmitPackage": lambda w: ("lee", pb.SubmitPackageRequest(package_id=w.labeling),
                                HIDDEN_OR_DENIED),
    "ReviewPackage": lambda w: ("cho", pb.ReviewPackageRequest(
        package_id=w.checking, passed=True, rating=pb.RATING_A), HIDDEN_OR_DENIED),
    "AcceptPackage": lambda w: ("acc", pb.AcceptPackageRequest(
        package_id=w.accepting, accepted=True), HIDDEN_OR_DENIED),
    "GetJobProgress": lambda w: ("ada", pb.GetJobProgressRequest(job_id=w.job), HIDDEN),
    "RenewClaim": lambda w: ("lee", pb.RenewClaimRequest(package_id=w.labeling),
                             HIDDEN_OR_DENIED),
    "ReleasePackage": lambda w: ("lee", pb.ReleasePackageRequest(
        package_id=w.labeling, reason="mine now"), HIDDEN_OR_DENIED),
    "TransferPackage": lambda w: ("ada", pb.TransferPackageRequest(
        package_id=w.labeling, to="mallory", reason="mine now"), HIDDEN),
    "GetWorkerStats": lambda w: ("lee", pb.GetWorkerStatsRequest(job_id=w.job), HIDDEN),
}
ACCEPTANCE: dict[str, Attack] = {
    "StartAcceptance": lambda w: ("ada", apb.StartAcceptanceRequest(
        job_id=w.checked_job, percent=100), HIDDEN),
    "GetAcceptance": lambda w: ("ada", apb.GetAcceptanceRequest(acceptance_id=w.session),
                                HIDDEN),
    "DecideItems": lambda w: ("ada", apb.DecideItemsRequest(
        acceptance_id=w.session, decisions=[apb.ItemDecision(
            item_id=w.sampled_item, verdict=apb.VERDICT_PASS, rating=pb.RATING_A)]), HIDDEN),
    "FinishAcceptance": lambda w: ("ada", apb.FinishAcceptanceRequest(
        acceptance_id=w.session, scope=apb.ACCEPTANCE_SCOPE_ALL_PASS,
        overwrite=apb.OVERWRITE_POLICY_KEEP), HIDDEN),
    "ListAcceptances": lambda w: ("ada", apb.ListAcceptancesRequest(job_id=w.job), HIDDEN),
    "ReviseAcceptedItem": lambda w: ("ada", apb.ReviseAcceptedItemRequest(
        package_id=w.accepted, item_id=w.accepted_item, answer_json=json.dumps(ANSWER),
        reason="mine now"), HIDDEN),
}


def test_every_rpc_is_in_the_matrix() -> None:
    assert_every_method_placed(pb, "AssignmentService", ASSIGNMENT, ())
    assert_every_method_placed(apb, "AcceptanceService", ACCEPTANCE, ())


async def test_another_workspace_reaches_nothing_by_id(harness: Harness) -> None:
    world = await _world(harness)
    for stub, matrix in ((harness.stub, ASSIGNMENT), (harness.acceptance, ACCEPTANCE)):
        for method, attack in matrix.items():
            owner, request, codes = attack(world)
            # Same name as the rightful caller, every role, another workspace.
            outsider = harness.client(owner, *EVERY_MEMBER_ROLE, workspace=OTHER_WORKSPACE,
                                      stub=stub)
            await refused_unchanged(harness.db, getattr(outsider, method)(request), codes,
                                    secrets=[world.dataset])
    # The service's own callers see every workspace; a member's "*" is no wildcard.
    star = harness.client("lee", *EVERY_MEMBER_ROLE, workspace="*x")
    await refused_unchanged(harness.db, star.ListPackages(pb.ListPackagesRequest(
        job_id=world.job)), HIDDEN)
    # The objects exist: their owners reach them.
    lee = harness.client("lee", auth.LABELER)
    assert (await lee.GetPackage(pb.GetPackageRequest(package_id=world.labeling))).items
    cho = harness.client("cho", auth.CHECKER)
    assert (await cho.GetPackage(pb.GetPackageRequest(package_id=world.checking))).items
    acc = harness.client("acc", auth.ACCEPTER)
    assert (await acc.GetPackage(pb.GetPackageRequest(package_id=world.accepting))).items
    ada_acc = harness.client(*ADA, stub=harness.acceptance)
    found = await ada_acc.ListAcceptances(apb.ListAcceptancesRequest(job_id=world.job))
    assert [a.id for a in found.acceptances] == [world.session]


async def test_a_worker_reaches_only_what_they_hold(harness: Harness) -> None:
    world = await _world(harness)
    eve = harness.client("eve", auth.LABELER, auth.CHECKER, auth.ACCEPTER)
    denied = {grpc.StatusCode.PERMISSION_DENIED}
    for method, attack in ASSIGNMENT.items():
        owner, request, _ = attack(world)
        if method in ("GetPackage", "SaveAnnotation", "SubmitPackage", "ReviewPackage",
                      "AcceptPackage", "RenewClaim", "ReleasePackage"):
            await refused_unchanged(harness.db, getattr(eve, method)(request), denied)
    # Nor by listing: a filter on the holder or labeler shows nothing held by another.
    for flt in ({"holder": "lee"}, {"labeler": "lee"}, {"holder": "cho"}, {"holder": "acc"}):
        for job in (world.job, world.checked_job):
            listed = await eve.ListPackages(pb.ListPackagesRequest(job_id=job, **flt))
            assert not listed.packages, flt
    stats = await eve.GetWorkerStats(pb.GetWorkerStatsRequest(job_id=world.job))
    assert {p.subject for p in stats.people} <= {"eve"}
    # A labeler never reaches an administrator's move, whatever the package.
    lee = harness.client("lee", auth.LABELER)
    await refused_unchanged(harness.db, lee.TransferPackage(pb.TransferPackageRequest(
        package_id=world.labeling, to="lee", reason="x")), denied)
    lee_acc = harness.client("lee", auth.LABELER, stub=harness.acceptance)
    await refused_unchanged(harness.db, lee_acc.ReviseAcceptedItem(
        apb.ReviseAcceptedItemRequest(package_id=world.accepted, item_id=world.accepted_item,
                                      answer_json=json.dumps(ANSWER), reason="x")), denied)
    # An accepter not named among the job's accepters... every accepter is, here; a
    # checker is no accepter: the session is not theirs to decide.
    cho_acc = harness.client("cho", auth.CHECKER, stub=harness.acceptance)
    await refused_unchanged(harness.db, cho_acc.DecideItems(apb.DecideItemsRequest(
        acceptance_id=world.session, decisions=[apb.ItemDecision(
            item_id=world.sampled_item, verdict=apb.VERDICT_PASS, rating=pb.RATING_A)])),
        denied)


async def test_a_checker_never_checks_their_own_package(harness: Harness) -> None:
    job = await harness.publish_job(items=5, package_size=5, check_ratio=1.0,
                                    workflow="label_check")
    lee = harness.client("lee", auth.LABELER, auth.CHECKER)
    pkg = await lee.ClaimPackage(pb.ClaimPackageRequest(job_id=job, stage=LABEL))
    await label_all(lee, pkg.id)
    await lee.SubmitPackage(pb.SubmitPackageRequest(package_id=pkg.id))
    await refused_unchanged(harness.db, lee.ClaimPackage(pb.ClaimPackageRequest(
        job_id=job, stage=CHECK)), HIDDEN)
    await refused_unchanged(harness.db, lee.ReviewPackage(pb.ReviewPackageRequest(
        package_id=pkg.id, passed=True, rating=pb.RATING_A)), {grpc.StatusCode.PERMISSION_DENIED})
    ada = harness.client(*ADA)
    await refused_unchanged(harness.db, ada.TransferPackage(pb.TransferPackageRequest(
        package_id=pkg.id, to="lee", reason="check it")), {grpc.StatusCode.FAILED_PRECONDITION})
    cho = harness.client("cho", auth.CHECKER)  # the control: another checker may
    assert (await cho.ClaimPackage(pb.ClaimPackageRequest(job_id=job, stage=CHECK))).id == pkg.id


async def test_fields_a_worker_must_not_set_are_not_settable(harness: Harness) -> None:
    """An answer naming package fields is an answer (refused by the template), never a change
    of the package; the package's holder, state, rating and version follow only moves."""
    world = await _world(harness)
    lee = harness.client("lee", auth.LABELER)
    for forged in ({"holder": "eve"}, {"state": "accepted", "rating": "A"},
                   {**ANSWER, "version": 99, "workspace": OTHER_WORKSPACE},
                   {"$set": {"holder": "eve"}}):
        await refused_unchanged(harness.db, lee.SaveAnnotation(pb.SaveAnnotationRequest(
            package_id=world.labeling, item_id=world.item, answer_json=json.dumps(forged))),
            {grpc.StatusCode.INVALID_ARGUMENT})
    # An item of another package (another object's id) is not saved into this one.
    await refused_unchanged(harness.db, lee.SaveAnnotation(pb.SaveAnnotationRequest(
        package_id=world.labeling, item_id=world.accepted_item,
        answer_json=json.dumps(ANSWER))), {grpc.StatusCode.INVALID_ARGUMENT})
    # A rejection naming an item outside the package is refused whole.
    cho = harness.client("cho", auth.CHECKER)
    await refused_unchanged(harness.db, cho.ReviewPackage(pb.ReviewPackageRequest(
        package_id=world.checking, passed=False, rejections=[pb.ItemRejection(
            item_id=world.item, reason="not yours")])), {grpc.StatusCode.INVALID_ARGUMENT})


@pytest.mark.parametrize(("service", "module", "roles"), [
    ("AssignmentService", pb, ROLES), ("AcceptanceService", apb, acceptance.ROLES)])
async def test_every_role_a_method_does_not_allow_is_refused(
        harness: Harness, service: str, module: Any, roles: Any) -> None:
    await _world(harness)
    stub = harness.stub if service == "AssignmentService" else harness.acceptance
    checked = await assert_roles_refused(
        harness.db, module, service, roles,
        lambda role: harness.client("lee", role, stub=stub))
    assert checked >= len(roles)
