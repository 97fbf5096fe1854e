"""The package workflow: states, the moves between them, who may see a package, the check
sample, and the validation of answers and rejections against the job. Pure."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

# The states, stages and event-implied moves are published vocabulary, shared with those
# who fold the events (the replay, the invariant checker); re-exported here for the service.
from labelops_shared.package_states import CLAIMABLE as CLAIMABLE
from labelops_shared.package_states import SYSTEM_LABELER as SYSTEM_LABELER
from labelops_shared.package_states import WORKFLOWS as WORKFLOWS
from labelops_shared.package_states import WORKING as WORKING
from labelops_shared.package_states import Stage as Stage
from labelops_shared.package_states import State as State
from labelops_shared.package_states import after_labeling, after_passed_check, returned_to
from labelops_shared.package_states import has_accept as has_accept
from labelops_shared.package_states import has_check as has_check


class WorkflowError(ValueError):
    """A move the workflow does not allow; the message says why (FAILED_PRECONDITION)."""


# States in which the holder may save answers, and the annotation stage they save: the
# labeler's answer, the checker's or the accepter's version beside it.
EDITING = {State.LABELING: Stage.LABEL, State.CHECKING: Stage.CHECK,
           State.ACCEPTING: Stage.ACCEPT}
# Saved within the same clock tick, the later stage's version wins.
_STAGE_RANK = {Stage.LABEL: 0, Stage.CHECK: 1, Stage.ACCEPT: 2}
RATINGS = ("A", "B", "C", "D")


def stage_of(state: str) -> str:
    """The stage a package in this state is at ("done" once accepted)."""
    for stage in Stage:
        if state in (CLAIMABLE[stage], WORKING[stage]):
            return stage.value
    return "done"


def _require(state: str, expected: State, action: str) -> None:
    if state != expected:
        raise WorkflowError(f"package is {state}; {action} needs a {expected} package")


def claim(state: str, stage: Stage) -> State:
    _require(state, CLAIMABLE[stage], f"a {stage} claim")
    return WORKING[stage]


def after_submit(state: str, workflow: str) -> State:
    """A labeler hands the package on: to the checkers, else the accepters, else done."""
    _require(state, State.LABELING, "submitting")
    return after_labeling(workflow)


def after_review(state: str, workflow: str, passed: bool) -> State:
    _require(state, State.CHECKING, "a review")
    if not passed:
        return State.LABELING
    return after_passed_check(workflow)


def after_acceptance(state: str, accepted: bool) -> State:
    _require(state, State.ACCEPTING, "an acceptance decision")
    return State.ACCEPTED if accepted else State.LABELING


def working_stage(state: str) -> Stage | None:
    """The stage a held package is being worked in (None: nobody holds it)."""
    for stage, working in WORKING.items():
        if state == working:
            return stage
    return None


def release(state: str) -> State:
    """The holder gives the package up (or its lease ran out): it waits again for the same
    stage, with the drafts kept."""
    stage = working_stage(state)
    if stage is None:
        raise WorkflowError(f"package is {state}; only a claimed package can be released")
    return CLAIMABLE[stage]


def transfer(state: str) -> tuple[Stage, State]:
    """An administrator hands the package to a named worker: a claimed package changes
    holder in place; a waiting one is claimed for them."""
    stage = working_stage(state)
    if stage is not None:
        return stage, State(state)
    for stage, waiting in CLAIMABLE.items():
        if state == waiting:
            return stage, WORKING[stage]
    raise WorkflowError(f"package is {state}; only a waiting or claimed package can be "
                        "transferred")


def editing_stage(state: str) -> Stage:
    """The annotation stage the holder writes in this state (only while working)."""
    stage = EDITING.get(State(state))
    if stage is None:
        raise WorkflowError(
            f"package is {state}; answers are saved while labeling, checking or accepting")
    return stage


def check_sample(package_id: str, item_ids: Sequence[str], ratio: float) -> list[str]:
    """The items a checker must inspect: the first ceil(ratio × n) in an order fixed by a
    hash of (package, item), so the sample is the same however often it is computed."""
    if not item_ids:
        return []
    count = min(len(item_ids), max(1, math.ceil(ratio * len(item_ids))))
    ranked = sorted(item_ids,
                    key=lambda i: hashlib.sha256(f"{package_id}:{i}".encode()).hexdigest())
    chosen = set(ranked[:count])
    return [i for i in item_ids if i in chosen]  # shown in package order


class JobStatus(StrEnum):
    """The job's publish state as the jobs service announced it."""

    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    FINISHED = "finished"
    DELETED = "deleted"


def claim_refusal(job_id: str, status: str) -> str | None:
    """Why no new claim may be made on the job (None: claims are open). Only a published
    job hands out packages; a job stored before lifecycle events counts as published."""
    if status in ("", JobStatus.PUBLISHED):
        return None
    return f"job {job_id} is {status}"


def work_refusal(job_id: str, status: str) -> str | None:
    """Why work in hand may not be saved or moved on (None: it may). Taking a job back
    (unpublished) stops new claims only; a finished or deleted job takes no more work, and
    what was accepted stays as it is."""
    if status in (JobStatus.FINISHED, JobStatus.DELETED):
        return f"job {job_id} is {status}"
    return None


def may_work(members: Mapping[str, Any], role: str, subject: str) -> bool:
    """Whether the subject works in a role ("labelers", "checkers", "accepters") of the job.
    The people lists already include the members of the teams named for the role; a role
    with neither people nor teams is open to everyone holding the workspace role, while a
    role given only to teams that have no member yet admits nobody."""
    people = members.get(role) or []
    if subject in people:
        return True
    teams = members.get(f"{role[:-1]}_teams") or []
    return not people and not teams


def validate_rejections(item_ids: Sequence[str],
                        rejections: Sequence[tuple[str, str]]) -> list[str]:
    """A rejection names at least one item of the package, each with a reason."""
    if not rejections:
        return ["rejections: a rejection needs at least one item with a reason"]
    known = set(item_ids)
    errors = []
    for item_id, reason in rejections:
        if item_id not in known:
            errors.append(f"rejections: {item_id!r} is not an item of this package")
        elif not reason.strip():
            errors.append(f"rejections: {item_id!r} needs a reason")
    return errors


def inspection(item_ids: Sequence[str], to_inspect: Sequence[str], approved: Sequence[str],
               modified: Iterable[str], rejected: Sequence[str],
               passed: bool) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """A check's verdict on each item it inspected: approved as labeled, modified (the
    checker saved their version in this check) or rejected with a reason. Returns the
    verdicts recorded (each list in package order), the errors of the request (refused as
    invalid) and the sampled items still without a verdict (a passed check needs none)."""
    known, order = set(item_ids), {item: n for n, item in enumerate(item_ids)}
    errors = [f"approved: {item!r} is not an item of this package"
              for item in dict.fromkeys(approved) if item not in known]
    errors += [f"approved: {item!r} is also rejected; an item has one verdict"
               for item in dict.fromkeys(approved) if item in set(rejected)]
    if passed and rejected:
        errors.append("rejections: a passed package rejects nothing; set passed to false "
                      "to send it back to its labeler")
    # One verdict per item: a rejection stands over the checker's own version, and a
    # version the checker saved says more than an approval of it.
    rejected_, modified_ = set(rejected) & known, (set(modified) & known) - set(rejected)
    verdicts = {
        "approved": sorted((set(approved) & known) - rejected_ - modified_,
                           key=order.__getitem__),
        "modified": sorted(modified_, key=order.__getitem__),
        "rejected": sorted(rejected_, key=order.__getitem__),
    }
    decided = set().union(*verdicts.values())
    missing = [item for item in to_inspect if item not in decided]
    return verdicts, errors, missing


def back_to_labeler(labeler: str, rework_count: int,
                    rejections: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The package fields of a rejection: the original labeler holds it again (a package
    the system labeled waits in the open pool for any labeler)."""
    found = [{"item_id": i, "reason": r} for i, r in rejections]
    state, holder = returned_to(labeler)
    fields: dict[str, Any] = {"state": state.value, "holder": holder,
                              "rework_count": rework_count + 1,
                              "rejections": found}
    if labeler == SYSTEM_LABELER:  # in the open pool: whoever claims it next labels it
        fields["labeler"] = ""
    return fields


def latest_answers(annotations: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Per item, the most recently saved annotation of any stage: the accepter's or the
    checker's version if one was made after the labeler's answer, else the labeler's (after
    a rework the labeler's new answer is the latest again)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for a in annotations:
        seen = latest.get(a["item_id"])
        if seen is None or (a["saved_at"], _STAGE_RANK.get(a["stage"], 0)) > (
                seen["saved_at"], _STAGE_RANK.get(seen["stage"], 0)):
            latest[a["item_id"]] = a
    return latest


def visible_to_worker(package: Mapping[str, Any], subject: str, roles: Iterable[str]) -> bool:
    """A worker sees the packages waiting for a stage they work in, and their own (held,
    labeled, checked or accepted by them); never a package another worker holds or
    labeled (unless it now waits for them to check)."""
    if subject in (package["holder"], package["labeler"], package.get("checker"),
                   package.get("accepter")):
        return True
    waiting = {"labeler": State.OPEN, "checker": State.TO_CHECK, "accepter": State.TO_ACCEPT}
    return any(package["state"] == waiting[r] for r in roles if r in waiting)
