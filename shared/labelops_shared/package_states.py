"""The package states and stages as the assignment events announce them, and the moves an
event implies. Published vocabulary, not service logic: the assignment service decides
the moves (``services/assignment/domain/workflow.py`` uses these), and anyone who folds
its events (the replay, the invariant checker) reads them the same way. Pure."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    OPEN = "open"
    LABELING = "labeling"
    TO_CHECK = "to_check"
    CHECKING = "checking"
    TO_ACCEPT = "to_accept"
    ACCEPTING = "accepting"
    ACCEPTED = "accepted"
    CLOSED = "closed"  # every item left it (deleted from the dataset)


class Stage(StrEnum):
    LABEL = "label"
    CHECK = "check"
    ACCEPT = "accept"


# Where a package waits to be claimed for a stage, and the state a claim puts it in.
CLAIMABLE = {Stage.LABEL: State.OPEN, Stage.CHECK: State.TO_CHECK, Stage.ACCEPT: State.TO_ACCEPT}
WORKING = {Stage.LABEL: State.LABELING, Stage.CHECK: State.CHECKING,
           Stage.ACCEPT: State.ACCEPTING}
# The labeler of a package the system submitted with its formal pre-labels: a rejection
# sends such a package back to the open pool instead of to a person.
SYSTEM_LABELER = "prelabel"
WORKFLOWS = ("label", "label_check", "label_check_accept")


def has_check(workflow: str) -> bool:
    return workflow in ("label_check", "label_check_accept")


def has_accept(workflow: str) -> bool:
    return workflow == "label_check_accept"


def after_labeling(workflow: str) -> State:
    """Where a submitted package goes: to the checkers, else the accepters, else done."""
    if has_check(workflow):
        return State.TO_CHECK
    return State.TO_ACCEPT if has_accept(workflow) else State.ACCEPTED


def after_passed_check(workflow: str) -> State:
    return State.TO_ACCEPT if has_accept(workflow) else State.ACCEPTED


def returned_to(labeler: str) -> tuple[State, str]:
    """(state, holder) of a rejected package: its labeler holds it again; one the system
    labeled waits in the open pool for any labeler."""
    if labeler == SYSTEM_LABELER:
        return State.OPEN, ""
    return State.LABELING, labeler
