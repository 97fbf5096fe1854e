"""The package workflow: states, who may move a package where, the check sample, and the
validation of answers against the job's topics. Pure."""

from __future__ import annotations

import hashlib
import math
from enum import StrEnum
from typing import Any


class State(StrEnum):
    OPEN = "open"
    LABELING = "labeling"
    TO_CHECK = "to_check"
    CHECKING = "checking"
    TO_ACCEPT = "to_accept"
    ACCEPTING = "accepting"
    ACCEPTED = "accepted"


class Stage(StrEnum):
    LABEL = "label"
    CHECK = "check"
    ACCEPT = "accept"


class WorkflowError(ValueError):
    """A move the workflow does not allow; the message says why."""


# Where a package waits to be claimed for a stage, and the state a claim puts it in.
CLAIMABLE = {Stage.LABEL: State.OPEN, Stage.CHECK: State.TO_CHECK, Stage.ACCEPT: State.TO_ACCEPT}
WORKING = {Stage.LABEL: State.LABELING, Stage.CHECK: State.CHECKING,
           Stage.ACCEPT: State.ACCEPTING}
RATINGS = ("A", "B", "C", "D")


def has_check(workflow: str) -> bool:
    return workflow in ("label_check", "label_check_accept")


def has_accept(workflow: str) -> bool:
    return workflow == "label_check_accept"


def claim(state: str, stage: Stage) -> State:
    if state != CLAIMABLE[stage]:
        raise WorkflowError(f"package is {state}; {stage} claims a {CLAIMABLE[stage]} package")
    return WORKING[stage]


def after_submit(state: str, workflow: str) -> State:
    if state != State.LABELING:
        raise WorkflowError(f"package is {state}; only a package being labeled is submitted")
    if has_check(workflow):
        return State.TO_CHECK
    return State.TO_ACCEPT if has_accept(workflow) else State.ACCEPTED


def after_review(state: str, workflow: str, passed: bool) -> State:
    if state != State.CHECKING:
        raise WorkflowError(f"package is {state}; only a package being checked is reviewed")
    if not passed:
        return State.LABELING
    return State.TO_ACCEPT if has_accept(workflow) else State.ACCEPTED


def after_acceptance(state: str, accepted: bool) -> State:
    if state != State.ACCEPTING:
        raise WorkflowError(f"package is {state}; only a package in acceptance is accepted")
    return State.ACCEPTED if accepted else State.LABELING


def check_sample(package_id: str, item_ids: list[str], ratio: float) -> list[str]:
    """The items a checker must inspect: the first ceil(ratio × n) in an order fixed by a
    hash of (package, item), so the sample is the same however often it is computed."""
    count = min(len(item_ids), max(1, math.ceil(ratio * len(item_ids))))
    ranked = sorted(item_ids,
                    key=lambda i: hashlib.sha256(f"{package_id}:{i}".encode()).hexdigest())
    return sorted(ranked[:count], key=item_ids.index)


def validate_answer(topics: list[dict[str, Any]], answer: Any) -> list[str]:
    """Errors naming the topic and the reason; empty when the answer fits the template."""
    if not isinstance(answer, dict) or not answer:
        return ["answer: expected an object {topic name: answer}"]
    by_name = {t["name"]: t for t in topics}
    errors = []
    for name, value in answer.items():
        topic = by_name.get(name)
        if topic is None:
            errors.append(f"topic {name!r}: not a topic of this job ({', '.join(by_name)})")
        elif topic["kind"] == "single_choice":
            if value not in topic["options"]:
                errors.append(f"topic {name!r}: {value!r} is not one of {topic['options']}")
        elif topic["kind"] == "multiple_choice":
            if (not isinstance(value, list) or not value
                    or any(v not in topic["options"] for v in value)):
                errors.append(f"topic {name!r}: expected a non-empty list of {topic['options']}")
            elif len(set(value)) != len(value):
                errors.append(f"topic {name!r}: a label appears twice")
    missing = [name for name in by_name if name not in answer]
    errors += [f"topic {name!r}: no answer" for name in missing]
    return errors
