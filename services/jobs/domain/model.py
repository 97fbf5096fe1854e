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


TOPIC_KINDS = ("single_choice", "multiple_choice")


@dataclass(frozen=True)
class Template:
    """A preset: what the labeler sees (content components, each showing one item field)
    and the one topic answered from the job's label set."""

    dataset_kinds: frozenset[str]
    content_kind: str
    field: str
    topic_kind: str

    def layout(self) -> dict[str, Any]:
        return {"content": [{"kind": self.content_kind, "field": self.field}]}

    def topics(self, labels: list[str]) -> list[dict[str, Any]]:
        return [{"name": "label", "kind": self.topic_kind, "options": list(labels)}]


_TEXT, _IMAGE = frozenset({"text"}), frozenset({"image"})
TEMPLATES = {
    "text_classification": Template(_TEXT, "text", "source", "single_choice"),
    "text_multi_classification": Template(_TEXT, "text", "source", "multiple_choice"),
    "image_classification": Template(_IMAGE, "image", "source", "single_choice"),
    "image_multi_classification": Template(_IMAGE, "image", "source", "multiple_choice"),
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


def template_for(template: str, dataset_kind: str) -> Template:
    preset = TEMPLATES.get(template)
    if preset is None:
        raise JobError(f"template: unknown {template!r}; one of {', '.join(sorted(TEMPLATES))}")
    if dataset_kind not in preset.dataset_kinds:
        raise JobError(f"template: {template} needs a {'/'.join(sorted(preset.dataset_kinds))} "
                       f"dataset, this one is {dataset_kind}")
    return preset


def topics_for(template: str, dataset_kind: str, labels: list[Label]) -> list[dict[str, Any]]:
    return template_for(template, dataset_kind).topics([label.name for label in labels])


def validate_prelabel_field(field: str, known_fields: list[str] | None) -> None:
    """The field holding offline pre-labels must exist in the items, when their fields are
    known (None: not known yet, e.g. the import event has not arrived; checked later)."""
    if not field or known_fields is None:
        return
    if field not in known_fields:
        raise JobError(f"prelabel_field: {field!r} is not a field of the dataset's items "
                       f"({', '.join(sorted(known_fields)) or 'none'})")


def validate_answer(topics: list[dict[str, Any]], answer: dict[str, Any]) -> list[str]:
    """Errors naming the topic and the reason; empty when the answer fits the topics."""
    by_name = {t["name"]: t for t in topics}
    errors = [f"topic {name!r}: not a topic of this job" for name in answer if name not in by_name]
    for name, topic in by_name.items():
        if name not in answer:
            errors.append(f"topic {name!r}: no answer")
            continue
        value, options = answer[name], topic.get("options", [])
        if topic["kind"] == "single_choice":
            if not isinstance(value, str) or value not in options:
                errors.append(f"topic {name!r}: {value!r} is not one of {options}")
        elif topic["kind"] == "multiple_choice":
            if (not isinstance(value, list) or not value
                    or any(not isinstance(v, str) or v not in options for v in value)):
                errors.append(f"topic {name!r}: expected a non-empty list of {options}")
            elif len(set(value)) != len(value):
                errors.append(f"topic {name!r}: a label appears twice")
        else:
            errors.append(f"topic {name!r}: unknown kind {topic['kind']!r}")
    return errors


def publish(state: str) -> str:
    if state != JobState.DRAFT:
        raise JobError(f"state: the job is {state}; only a draft can be published")
    return JobState.PUBLISHED.value
