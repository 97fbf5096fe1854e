"""The life of a job: draft -> published <-> unpublished -> completed, and deletion. Pure.

- **publish**: a draft becomes published (its packages are cut, pre-labeling starts); an
  unpublished job is published again (work resumes where it stopped).
- **unpublish**: a published job is taken back: no new claims; work in hand is kept.
- **complete**: the assignment service reports every package accepted, or an administrator
  finishes a published or unpublished job early; accepted results stay exportable.
- **delete**: any job, except one with claimed packages (someone is working on it) unless
  a workspace administrator forces it. Accepted results stay exportable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from labelops_shared.annotations import FieldError
from services.jobs.domain.model import JobError


class JobState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    COMPLETED = "completed"


class Transition(StrEnum):
    PUBLISH = "publish"
    REPUBLISH = "republish"
    UNPUBLISH = "unpublish"
    COMPLETE = "complete"


# (from, action) -> to
_MOVES: dict[tuple[JobState, str], tuple[JobState, Transition]] = {
    (JobState.DRAFT, "publish"): (JobState.PUBLISHED, Transition.PUBLISH),
    (JobState.UNPUBLISHED, "publish"): (JobState.PUBLISHED, Transition.REPUBLISH),
    (JobState.PUBLISHED, "unpublish"): (JobState.UNPUBLISHED, Transition.UNPUBLISH),
    (JobState.PUBLISHED, "complete"): (JobState.COMPLETED, Transition.COMPLETE),
    (JobState.UNPUBLISHED, "complete"): (JobState.COMPLETED, Transition.COMPLETE),
}
_ALLOWED_FROM = {
    "publish": "a draft or an unpublished job",
    "unpublish": "a published job",
    "complete": "a published or unpublished job",
}


def move(state: str, action: str) -> tuple[JobState, Transition]:
    """The state after ``action`` and which transition it is, or JobError (``state``)."""
    found = _MOVES.get((JobState(state), action))
    if found is None:
        raise JobError([FieldError("state", f"the job is {state}; only {_ALLOWED_FROM[action]} "
                                            f"can be {_past(action)}")])
    return found


def _past(action: str) -> str:
    return {"publish": "published", "unpublish": "unpublished",
            "complete": "completed"}[action]


@dataclass(frozen=True)
class DeleteDecision:
    allowed: bool
    forced: bool
    reason: str = ""


def may_delete(held_packages: int, *, force: bool, can_force: bool) -> DeleteDecision:
    """A job with claimed packages is deleted only when forced by a workspace administrator.
    ``held_packages`` is what the claims projection knows."""
    if held_packages == 0:
        return DeleteDecision(True, False)
    if not force:
        return DeleteDecision(False, False, f"state: {held_packages} package(s) are claimed; "
                                            "delete with force (workspace administrator)")
    if not can_force:
        return DeleteDecision(False, False, "force: only a workspace administrator may delete "
                                            "a job whose packages are claimed")
    return DeleteDecision(True, True)


def editable_labels(state: str) -> None:
    if state == JobState.COMPLETED:
        raise JobError([FieldError("state", "the job is completed; its labels are final")])
