"""Label management on a job's label set. Pure.

A change gives the new label set; the caller rebuilds the template from it (presets) so the
topics follow, and for custom templates :func:`rename_in_topics` / :func:`remove_from_topics`
rewrite the topic definitions. Stored annotations are rewritten downstream, from the event.

Labels are identified by name within a scope: relation labels form one scope, the entity
labels of each label class another (see ``annotations.validate_label_set``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelops_shared.annotations import FieldError
from services.jobs.domain.model import JobError, normalise_label

Label = dict[str, Any]


@dataclass(frozen=True)
class LabelRef:
    name: str
    kind: str = "entity"     # entity | relation
    label_class: str = ""    # audio segment label classes

    def matches(self, label: Mapping[str, Any]) -> bool:
        return (label.get("name") == self.name
                and label.get("kind", "entity") == (self.kind or "entity")
                and (label.get("class") or "") == self.label_class)


def _find(labels: Sequence[Mapping[str, Any]], ref: LabelRef) -> int:
    for i, label in enumerate(labels):
        if ref.matches(label):
            return i
    raise JobError([FieldError("name", f"no {ref.kind or 'entity'} label {ref.name!r}"
                                       + (f" in class {ref.label_class!r}"
                                          if ref.label_class else ""))])


def add(labels: Sequence[Mapping[str, Any]], label: Mapping[str, Any]) -> list[Label]:
    """The label set with ``label`` appended (the set's rules are checked by the caller,
    which rebuilds the template)."""
    return [copy.deepcopy(dict(x)) for x in labels] + [normalise_label(label)]


def update(labels: Sequence[Mapping[str, Any]], ref: LabelRef,
           changes: Mapping[str, Any]) -> tuple[list[Label], str | None]:
    """The label set with one label changed (name, colour, shortcut, attributes...), and
    the old name when it was renamed. Relation labels naming a renamed entity label follow."""
    found = _find(labels, ref)
    result = [copy.deepcopy(dict(x)) for x in labels]
    merged = {**result[found], **{k: v for k, v in changes.items() if k != "kind"}}
    result[found] = normalise_label(merged)
    new_name = result[found]["name"]
    if new_name == ref.name:
        return result, None
    if (ref.kind or "entity") == "entity":
        for label in result:
            if label.get("kind") == "relation":
                for end in ("source", "target"):
                    label[end] = [new_name if n == ref.name else n for n in label.get(end, [])]
    return result, ref.name


def delete(labels: Sequence[Mapping[str, Any]], ref: LabelRef) -> list[Label]:
    """The label set without the label. An entity label that a relation label names as its
    source or target cannot be deleted (delete or change the relation label first)."""
    found = _find(labels, ref)
    if (ref.kind or "entity") == "entity":
        users = [label["name"] for label in labels if label.get("kind") == "relation"
                 and (ref.name in label.get("source", []) or ref.name in label.get("target", []))]
        if users:
            raise JobError([FieldError("name", f"entity label {ref.name!r} is used by relation "
                                               f"label(s) {', '.join(map(repr, users))}")])
    return [copy.deepcopy(dict(x)) for i, x in enumerate(labels) if i != found]


# -- custom templates: the label appears inside topic definitions ------------------------


def rename_in_topics(topics: Sequence[Mapping[str, Any]], old: str, new: str,
                     kind: str = "entity") -> list[dict[str, Any]]:
    """Every topic definition with the label renamed wherever it is a label value."""
    result = copy.deepcopy([dict(t) for t in topics])

    def swap(values: list[str]) -> list[str]:
        return [new if v == old else v for v in values]

    for topic in result:
        if kind == "relation":
            for relation in topic.get("relations", []):
                if relation["name"] == old:
                    relation["name"] = new
            continue
        for key in ("options", "labels"):
            if key in topic:
                topic[key] = swap(topic[key])
        if old in topic.get("attributes", {}):
            topic["attributes"] = {new if k == old else k: v
                                   for k, v in topic["attributes"].items()}
        for label_class in topic.get("classes", []):
            label_class["labels"] = swap(label_class["labels"])
        for relation in topic.get("relations", []):
            relation["source"] = swap(relation["source"])
            relation["target"] = swap(relation["target"])
    return result


def remove_from_topics(topics: Sequence[Mapping[str, Any]], name: str,
                       kind: str = "entity") -> list[dict[str, Any]]:
    """Every topic definition without the label."""
    result = copy.deepcopy([dict(t) for t in topics])
    for topic in result:
        if kind == "relation":
            if "relations" in topic:
                topic["relations"] = [r for r in topic["relations"] if r["name"] != name]
            continue
        for key in ("options", "labels"):
            if key in topic:
                topic[key] = [v for v in topic[key] if v != name]
        topic.get("attributes", {}).pop(name, None)
        for label_class in topic.get("classes", []):
            label_class["labels"] = [v for v in label_class["labels"] if v != name]
    return result


def labels_in_topics(topics: Sequence[Mapping[str, Any]], kind: str = "entity") -> set[str]:
    """The label names a custom template's topics use (choice options, labels of labelled
    topics and their classes; relation labels for kind "relation")."""
    found: set[str] = set()
    for topic in topics:
        if kind == "relation":
            found.update(r["name"] for r in topic.get("relations", []))
            continue
        for key in ("options", "labels"):
            found.update(topic.get(key, []))
        for label_class in topic.get("classes", []):
            found.update(label_class["labels"])
    return found


def relation_users(topics: Sequence[Mapping[str, Any]], name: str) -> list[str]:
    """Relation labels of a custom template that name this entity label."""
    return [r["name"] for t in topics for r in t.get("relations", [])
            if name in r.get("source", []) or name in r.get("target", [])]
