"""Auto labeling's rules (ModelArts "auto labeling", active learning): what a job must offer
before a run starts, what a run learns, and its bookkeeping. Pure: values in, values or
errors out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.prelabel.domain.learning import ALGORITHMS, IMAGE, TEXT

MIN_LABELS = 2           # labels used on labeled items...
MIN_ITEMS_PER_LABEL = 5  # ...each on at least this many


class TrainOn(StrEnum):
    ACCEPTED = "accepted"
    SUBMITTED = "submitted"


class RunState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Refused(Exception):
    """A run cannot start; the message says why and what would make it possible."""


@dataclass(frozen=True)
class Target:
    """What a run learns: one single-choice topic, from one text or image content field."""

    topic: str
    options: tuple[str, ...]
    field: str
    kind: str  # TEXT | IMAGE

    @property
    def algorithm(self) -> str:
        return ALGORITHMS[self.kind]


def target_of(topics: Sequence[Mapping[str, Any]], content: Sequence[Mapping[str, Any]]
              ) -> Target:
    """The job's classification question. Auto labeling takes text and image
    classification: a single-choice topic over a text or an image content field."""
    topic = next((t for t in topics if t.get("kind") == "single_choice"), None)
    if topic is None:
        kinds = ", ".join(str(t.get("kind")) for t in topics) or "none"
        raise Refused(f"auto labeling needs a classification job (a single-choice topic); "
                      f"this job's topics are: {kinds}")
    components = list(content) or [{"kind": "text", "field": "source"}]
    for kind in (IMAGE, TEXT):
        found = next((c for c in components if c.get("kind") == kind), None)
        if found is not None:
            return Target(str(topic["name"]), tuple(topic.get("options", ())),
                          str(found.get("field", "source")), kind)
    kinds = ", ".join(str(c.get("kind")) for c in components)
    raise Refused(f"auto labeling learns from text or image content; this job shows: {kinds}")


def label_of(answer: Mapping[str, Any] | None, target: Target) -> str | None:
    """The label an answer gives the target topic (None: no usable label)."""
    if not isinstance(answer, Mapping):
        return None
    value = answer.get(target.topic)
    return value if isinstance(value, str) and value in target.options else None


def training_label(item: Mapping[str, Any], target: Target, train_on: TrainOn) -> str | None:
    """An item's label for training: its accepted answer, or with ``submitted`` its latest
    submitted answer when nothing is accepted yet. ``item`` holds the decoded answers
    under "accepted" and "submitted"."""
    label = label_of(item.get("accepted"), target)
    if label is None and train_on is TrainOn.SUBMITTED:
        label = label_of(item.get("submitted"), target)
    return label


def is_labeled(item: Mapping[str, Any], train_on: TrainOn) -> bool:
    """Whether people labeled the item already (then a run does not pre-label it)."""
    if item.get("accepted") is not None:
        return True
    return train_on is TrainOn.SUBMITTED and item.get("submitted") is not None


@dataclass(frozen=True)
class Plan:
    labeled: list[tuple[str, str]]  # (item id, label)
    unlabeled: list[str]
    counts: dict[str, int]


def plan(items: Iterable[Mapping[str, Any]], target: Target, train_on: TrainOn) -> Plan:
    """Split the job's items into training examples and items to pre-label."""
    labeled: list[tuple[str, str]] = []
    unlabeled: list[str] = []
    for item in items:
        if item.get("removed") or item.get("invalid"):
            continue  # gone from the job, or marked invalid by a labeler (no answer expected)
        label = training_label(item, target, train_on)
        if label is not None:
            labeled.append((str(item["item_id"]), label))
        elif not is_labeled(item, train_on):
            unlabeled.append(str(item["item_id"]))
    counts = dict(Counter(label for _, label in labeled))
    return Plan(labeled, unlabeled, counts)


def check_preconditions(found: Plan, running: str | None = None) -> None:
    """The reference's preconditions, each refused with what is missing."""
    if running:
        raise Refused(f"auto-labeling run {running} of this job is still in progress; "
                      "wait for it to finish")
    enough = sorted(label for label, n in found.counts.items() if n >= MIN_ITEMS_PER_LABEL)
    if len(enough) < MIN_LABELS:
        used = ", ".join(f"{label}: {n}" for label, n in sorted(found.counts.items()))
        raise Refused(f"auto labeling needs at least {MIN_LABELS} labels each used on at "
                      f"least {MIN_ITEMS_PER_LABEL} labeled items; labeled items per label: "
                      f"{used or 'none'}")
    if not found.unlabeled:
        raise Refused("auto labeling needs at least one unlabeled item; every item of the "
                      "job is labeled")


def check_thresholds(confidence: float, margin: float) -> None:
    if not 0 <= confidence <= 1:
        raise ValueError(f"confidence_threshold: between 0 and 1, got {confidence:g}")
    if not 0 <= margin <= 1:
        raise ValueError(f"margin_threshold: between 0 and 1, got {margin:g}")


def model_version(target: Target, number: int) -> str:
    return f"{target.algorithm}/v{number}"
