"""Jobs: settings rules and the template presets. Pure: values in, values or errors out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# A letter, digit or CJK character first, then also '_' and '-'; 1-100 characters.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NAME = re.compile(rf"^[A-Za-z0-9{_CJK}][A-Za-z0-9{_CJK}_-]{{0,99}}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

MAX_PACKAGE_SIZE = 10_000
DEFAULT_PACKAGE_SIZE = 100


class Workflow(StrEnum):
    LABEL = "label"
    LABEL_CHECK = "label_check"
    LABEL_CHECK_ACCEPT = "label_check_accept"


class JobState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class JobError(ValueError):
    """A setting that breaks a rule; the message names the field."""


@dataclass(frozen=True)
class Label:
    name: str
    color: str = ""


def _single_choice(labels: list[str]) -> list[dict[str, Any]]:
    return [{"name": "label", "kind": "single_choice", "options": labels}]


def _multi_choice(labels: list[str]) -> list[dict[str, Any]]:
    return [{"name": "label", "kind": "multiple_choice", "options": labels}]


# Preset name → (content kinds it can show, topics built from the label names).
TEMPLATES = {
    "text_classification": ({"text"}, _single_choice),
    "text_multi_classification": ({"text"}, _multi_choice),
    "image_classification": ({"image"}, _single_choice),
    "image_multi_classification": ({"image"}, _multi_choice),
}


def validate_name(name: str) -> None:
    if not _NAME.match(name):
        raise JobError(
            "name: 1-100 characters, starting with a letter, digit or CJK character, "
            "then letters, digits, CJK characters, '_' or '-'")


def validate_labels(labels: list[Label]) -> None:
    if not labels:
        raise JobError("labels: at least one label is required")
    seen: set[str] = set()
    for i, label in enumerate(labels):
        if not 1 <= len(label.name) <= 1024:
            raise JobError(f"labels[{i}].name: must be 1-1024 characters")
        if label.name in seen:
            raise JobError(f"labels[{i}].name: {label.name!r} appears twice")
        seen.add(label.name)
        if label.color and not _COLOUR.match(label.color):
            raise JobError(f"labels[{i}].color: {label.color!r} is not #rrggbb")


def package_size(requested: int) -> int:
    if requested == 0:
        return DEFAULT_PACKAGE_SIZE
    if not 1 <= requested <= MAX_PACKAGE_SIZE:
        raise JobError(f"package_size: must be 1-{MAX_PACKAGE_SIZE}")
    return requested


def check_ratio(requested: float) -> float:
    if requested == 0:
        return 1.0
    if not 0 < requested <= 1:
        raise JobError("check_ratio: must be in (0, 1]")
    return requested


def topics_for(template: str, dataset_kind: str, labels: list[Label]) -> list[dict[str, Any]]:
    preset = TEMPLATES.get(template)
    if preset is None:
        raise JobError(f"template: unknown {template!r}; one of {', '.join(sorted(TEMPLATES))}")
    kinds, build = preset
    if dataset_kind not in kinds:
        raise JobError(f"template: {template} needs a {'/'.join(sorted(kinds))} dataset, "
                       f"this one is {dataset_kind}")
    return build([label.name for label in labels])


def publish(state: str) -> str:
    if state != JobState.DRAFT:
        raise JobError(f"state: the job is {state}; only a draft can be published")
    return JobState.PUBLISHED.value
