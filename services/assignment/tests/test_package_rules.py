"""Package rules through publication: items grouped by a dataset field, packages reserved
for named labelers or teams (team membership from TeamChanged), bad rules refused."""

from __future__ import annotations

import uuid
from typing import Any

import grpc

from labelops.assignment.v1 import assignment_pb2 as pb
from labelops_shared import auth
from labelops_shared.contracts import (
    JobMembers,
    JobPublished,
    JobSpec,
    LabelDef,
    PackageCreated,
    PackageRuleSpec,
    TeamChanged,
    TeamMember,
)
from services.assignment.adapters.repository import JOBS, PACKAGES
from services.assignment.tests.conftest import TOPICS, WORKSPACE, Harness
from services.assignment.tests.support import (
    claim,
    label_all,
    packages_of,
    publish,
    refused,
)

NOT_FOUND = grpc.StatusCode.NOT_FOUND


async def test_items_with_the_same_group_value_share_packages(harness: Harness) -> None:
    """Items 0-6 are cats, 7-9 dogs, 10-11 have no kind: cats fill two packages and leave
    one over, dogs one, the items without the field one; the partial packages come last."""
    items = harness.datasets.add("dgroups", 1, 12)
    for n, item_id in enumerate(items):
        if n < 10:
            harness.datasets.per_item[item_id] = {"kind": "cat" if n < 7 else "dog"}
    job_id, _, _ = await _publish_on(harness, "dgroups", PackageRuleSpec(
        kind="group", size=3, group_field="kind"))

    cut = [(p["group"], p["item_ids"]) for p in await packages_of(harness, job_id)]
    assert cut == [("cat", items[0:3]), ("cat", items[3:6]), ("dog", items[7:10]),
                   ("cat", [items[6]]), ("", items[10:12])]
    assert (await harness.db[JOBS].find_one({"_id": job_id}))["package_count"] == 5
    created = [e["data"] for e in await harness.events(PackageCreated.TYPE)
               if e["data"]["job_id"] == job_id]
    assert [(e["index"], e["item_ids"]) for e in created] == [
        (n, ids) for n, (_, ids) in enumerate(cut)]

    # Labelers get them in package order, each showing its group.
    lee = harness.client("lee", auth.LABELER)
    claimed = [await claim(lee, job_id) for _ in range(5)]
    assert [(p.index, p.group, p.item_count) for p in claimed] == [
        (0, "cat", 3), (1, "cat", 3), (2, "dog", 3), (3, "cat", 1), (4, "", 2)]
    listed = await harness.client("ada", auth.ANNOTATION_ADMIN).ListPackages(
        pb.ListPackagesRequest(job_id=job_id))
    assert [p.group for p in listed.packages] == ["cat", "cat", "dog", "cat", ""]


async def _publish_on(harness: Harness, dataset_id: str, rule: PackageRuleSpec,
                      **changes: Any) -> tuple[str, str, list[str]]:
    """Publish a job over an existing fake dataset (version 1)."""
    job_id = uuid.uuid4().hex
    spec = _spec(job_id, dataset_id, rule, **changes)
    items = harness.datasets.versions[(dataset_id, 1)]
    assert await harness.deliver(JobPublished(job_id=job_id, job=spec,
                                              item_count=len(items))) == "handled"
    return job_id, dataset_id, items


def _spec(job_id: str, dataset_id: str, rule: PackageRuleSpec, **changes: Any) -> JobSpec:
    return JobSpec(**{
        "job_id": job_id, "workspace": WORKSPACE, "name": "job", "dataset_id": dataset_id,
        "dataset_version": 1, "template": "text_classification", "topics": TOPICS,
        "labels": [LabelDef(name="pos"), LabelDef(name="neg")], "workflow": "label",
        "package_size": rule.size or 5, "check_ratio": 1.0, "members": JobMembers(),
        "package_rule": rule, **changes})


async def test_booleans_and_numbers_group_by_their_text(harness: Harness) -> None:
    items = harness.datasets.add("dtypes", 1, 5)
    values: list[Any] = [True, 2, False, True, 2]
    harness.datasets.per_item = {i: {"flag": v} for i, v in zip(items, values, strict=True)}
    job_id, _, _ = await _publish_on(harness, "dtypes", PackageRuleSpec(
        kind="group", size=10, group_field="flag"))
    cut = [(p["group"], p["item_ids"]) for p in await packages_of(harness, job_id)]
    assert cut == [("true", [items[0], items[3]]), ("2", [items[1], items[4]]),
                   ("false", [items[2]])]


async def test_bad_package_rules_are_refused_and_nothing_is_cut(harness: Harness) -> None:
    refusals: list[str] = []

    async def dead_letter(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        refusals.append(headers["x-labelops-reason"])

    harness.consumer._dead_letter = dead_letter
    items = harness.datasets.add("dbad", 1, 4)
    assert items
    for rule, why in ((PackageRuleSpec(kind="by_moon", size=2), "unknown package rule"),
                      (PackageRuleSpec(kind="targeted", size=2),
                       "a targeted rule needs labelers or teams")):
        job_id = f"bad-{rule.kind}"
        spec = _spec(job_id, "dbad", rule)
        outcome = await harness.deliver(JobPublished(job_id=job_id, job=spec, item_count=4))
        assert outcome == "dead_lettered"
        assert f"job {job_id}: package_rule: {why}" in refusals[-1]
        assert await harness.db[PACKAGES].count_documents({"job_id": job_id}) == 0
        assert await harness.db[JOBS].find_one({"_id": job_id}) is None


# --- targeted packages ------------------------------------------------------------------------


async def test_packages_targeted_at_people_go_only_to_them(harness: Harness) -> None:
    job_id, _, _ = await publish(harness, items=8, package_size=2, rule=PackageRuleSpec(
        kind="targeted", size=2, labelers=["ann", "bob"]))
    ann, bob = harness.client("ann", auth.LABELER), harness.client("bob", auth.LABELER)
    eve = harness.client("eve", auth.LABELER)
    stored = await packages_of(harness, job_id)
    assert [p["targets"] for p in stored] == [{"people": ["ann"]}, {"people": ["bob"]}] * 2

    await refused(claim(eve, job_id), NOT_FOUND, "no open package")  # none is hers
    first_bob = await claim(bob, job_id)
    assert (first_bob.index, list(first_bob.targets)) == (1, ["bob"])
    assert (await claim(ann, job_id)).index == 0  # passed over by bob and eve, still there
    assert (await claim(bob, job_id)).index == 3
    assert (await claim(ann, job_id)).index == 2
    await refused(claim(ann, job_id), NOT_FOUND)
    await label_all(bob, first_bob.id)
    done = await bob.SubmitPackage(pb.SubmitPackageRequest(package_id=first_bob.id))
    assert done.state == pb.PACKAGE_STATE_ACCEPTED


async def test_packages_targeted_at_a_team_go_to_its_labelers(harness: Harness) -> None:
    job_id, _, _ = await publish(harness, items=4, package_size=1, rule=PackageRuleSpec(
        kind="targeted", size=1, labelers=["ann"], teams=["t1"]))
    tim, una = harness.client("tim", auth.LABELER), harness.client("una", auth.LABELER)
    mgr = harness.client("mgr", auth.LABELER)
    listed = await harness.client("ada", auth.ANNOTATION_ADMIN).ListPackages(
        pb.ListPackagesRequest(job_id=job_id))
    assert [(list(p.targets), list(p.target_teams)) for p in listed.packages] == [
        (["ann"], []), ([], ["t1"]), (["ann"], []), ([], ["t1"])]

    # Nobody is known in t1 yet.
    await refused(claim(tim, job_id), NOT_FOUND, "no open package")

    async def team(*members: TeamMember, deleted: bool = False) -> None:
        assert await harness.deliver(TeamChanged(team_id="t1", workspace=WORKSPACE,
                                                 name="Team one", members=list(members),
                                                 deleted=deleted)) == "handled"

    await team(TeamMember(email="tim", role="labeler"), TeamMember(email="mgr", role="manager"))
    assert (await claim(tim, job_id)).index == 1
    await refused(claim(mgr, job_id), NOT_FOUND)  # in the team, but not one of its labelers
    await refused(claim(una, job_id), NOT_FOUND)

    await team(TeamMember(email="una", role="labeler"))  # tim left, una joined
    await refused(claim(tim, job_id), NOT_FOUND)
    assert (await claim(una, job_id)).index == 3

    await team(deleted=True)
    assert await harness.db["teams"].find_one({"_id": "t1"}) is None
    assert (await claim(harness.client("ann", auth.LABELER), job_id)).index == 0


async def test_a_targeted_package_is_found_behind_many_reserved_for_others(
    harness: Harness,
) -> None:
    """Seventy labelers, one package each in turn: the last one named still gets hers,
    however many packages reserved for others come first (and again after a release)."""
    people = [f"p{n:02d}" for n in range(70)]
    job_id, _, _ = await publish(harness, items=140, package_size=1, rule=PackageRuleSpec(
        kind="targeted", size=1, labelers=people))
    last = harness.client("p69", auth.LABELER)
    first = await claim(last, job_id)
    assert (first.index, list(first.targets)) == (69, ["p69"])
    assert (await claim(last, job_id)).index == 139
    await refused(claim(last, job_id), NOT_FOUND, "no open package")
    await last.ReleasePackage(pb.ReleasePackageRequest(package_id=first.id, reason="later"))
    assert (await claim(last, job_id)).index == 69
