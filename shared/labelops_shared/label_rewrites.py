"""The rewrites a label rename or deletion makes to a stored answer, shared by every
service that stores answers (assignment, export) so they agree. Pure (values in, values out).

Where labels live in an answer, by topic kind (``labelops_shared.annotations``):

- ``single_choice``: the value itself; ``multiple_choice``: the values of the list;
- ``span``, ``shape``, ``time_segment``, ``page``: each object's ``label`` (or its ``labels``
  list when the topic is ``multi_label``); a segment's ``classes`` maps a label class to a
  label (a rename or deletion scoped to a ``label_class`` touches only that class);
- ``relation``: each relation's ``label`` (relation labels, ``kind == "relation"``);
- ``free_text`` and ``table`` hold no labels.

A deletion removes the label; an object left without any label is removed with it, and so
are relations whose source or target span went. A topic left with no value is removed from
the answer. :func:`delete_label` says when the item has no label left at all (it was the
item's only label): the caller marks that answer as needing relabelling.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHOICE_KINDS = frozenset({"single_choice", "multiple_choice"})
OBJECT_KINDS = frozenset({"span", "shape", "time_segment", "page"})


def _labelled_topics(topics: Sequence[Mapping[str, Any]], kind: str
                     ) -> dict[str, Mapping[str, Any]]:
    """The topics (by name) whose answers hold labels of this kind. A label name is unique
    per kind (and label class) in a job, and the jobs service renames or removes it in
    every topic, so every topic of a matching kind is rewritten."""
    kinds = {"relation"} if kind == "relation" else CHOICE_KINDS | OBJECT_KINDS
    return {t["name"]: t for t in topics if t.get("kind") in kinds and "name" in t}


def _swap_object(obj: dict[str, Any], old: str, new: str, label_class: str) -> bool:
    changed = False
    if obj.get("label") == old and not label_class:
        obj["label"], changed = new, True
    labels = obj.get("labels")
    if isinstance(labels, list) and old in labels and not label_class:
        obj["labels"], changed = [new if x == old else x for x in labels], True
    classes = obj.get("classes")
    if isinstance(classes, dict):
        for cls, value in classes.items():
            if value == old and (not label_class or cls == label_class):
                classes[cls], changed = new, True
    return changed


def rename_label(topics: Sequence[Mapping[str, Any]], answer: Mapping[str, Any], *,
                 kind: str, old: str, new: str, label_class: str = "",
                 ) -> dict[str, Any] | None:
    """The answer with the label renamed, or None when it does not use the label (so a
    second application, after a redelivery, changes nothing)."""
    if old == new or not isinstance(answer, Mapping):
        return None
    result = copy.deepcopy(dict(answer))
    changed = False
    for name, topic in _labelled_topics(topics, kind).items():
        value = result.get(name)
        topic_kind = topic.get("kind")
        if kind == "entity" and topic_kind == "single_choice":
            if value == old:
                result[name], changed = new, True
        elif kind == "entity" and topic_kind == "multiple_choice":
            if isinstance(value, list) and old in value:
                result[name], changed = [new if v == old else v for v in value], True
        elif isinstance(value, list):
            for obj in value:
                if isinstance(obj, dict):
                    changed = _swap_object(obj, old, new, label_class) or changed
    return result if changed else None


@dataclass(frozen=True, slots=True)
class LabelRemoval:
    answer: dict[str, Any]
    only_label: bool  # the deleted label was the only label of the answer


def labels_in(topics: Sequence[Mapping[str, Any]], answer: Mapping[str, Any]) -> list[str]:
    """Every label value the answer holds, with repeats (choices, object labels, segment
    classes, relations)."""
    found: list[str] = []
    for topic in topics:
        value = answer.get(topic.get("name", ""))
        topic_kind = topic.get("kind")
        if topic_kind == "single_choice" and isinstance(value, str):
            found.append(value)
        elif topic_kind == "multiple_choice" and isinstance(value, list):
            found += [v for v in value if isinstance(v, str)]
        elif topic_kind in OBJECT_KINDS | {"relation"} and isinstance(value, list):
            for obj in value:
                if isinstance(obj, Mapping):
                    if isinstance(obj.get("label"), str) and obj["label"]:
                        found.append(obj["label"])
                    found += [v for v in obj.get("labels") or () if isinstance(v, str)]
                    classes = obj.get("classes") or {}
                    if isinstance(classes, Mapping):
                        for v in classes.values():
                            found += [v] if isinstance(v, str) else [
                                x for x in v if isinstance(x, str)] if isinstance(v, list) else []
    return found


def _labels_of(topics: Sequence[Mapping[str, Any]], answer: Mapping[str, Any]) -> int:
    """How many label values the answer holds (choices, object labels, relations)."""
    return len(labels_in(topics, answer))


def _strip_object(obj: dict[str, Any], name: str, label_class: str) -> tuple[bool, bool]:
    """Remove the label from one object: (changed, the object has no label left)."""
    changed = False
    had = "label" in obj or "labels" in obj or "classes" in obj
    if obj.get("label") == name and not label_class:
        del obj["label"]
        changed = True
    labels = obj.get("labels")
    if isinstance(labels, list) and name in labels and not label_class:
        obj["labels"] = [x for x in labels if x != name]
        changed = True
        if not obj["labels"]:
            del obj["labels"]
    classes = obj.get("classes")
    if isinstance(classes, dict):
        kept = {c: v for c, v in classes.items()
                if not (v == name and (not label_class or c == label_class))}
        if len(kept) != len(classes):
            changed = True
            if kept:
                obj["classes"] = kept
            else:
                del obj["classes"]
    empty = had and not any(k in obj for k in ("label", "labels", "classes"))
    return changed, empty


def delete_label(topics: Sequence[Mapping[str, Any]], answer: Mapping[str, Any], *,
                 kind: str, name: str, label_class: str = "") -> LabelRemoval | None:
    """The answer without the label, or None when it does not use it."""
    if not isinstance(answer, Mapping):
        return None
    before = _labels_of(topics, answer)
    result = copy.deepcopy(dict(answer))
    changed = False
    removed_ids: dict[str, set[str]] = {}  # span topic -> ids of removed spans
    for topic_name, topic in _labelled_topics(topics, kind).items():
        value = result.get(topic_name)
        topic_kind = topic.get("kind")
        if kind == "entity" and topic_kind == "single_choice":
            if value == name:
                del result[topic_name]
                changed = True
        elif kind == "entity" and topic_kind == "multiple_choice":
            if isinstance(value, list) and name in value:
                kept = [v for v in value if v != name]
                changed = True
                if kept:
                    result[topic_name] = kept
                else:
                    del result[topic_name]
        elif isinstance(value, list):
            kept_objects = []
            for obj in value:
                if not isinstance(obj, dict):
                    kept_objects.append(obj)
                    continue
                touched, empty = _strip_object(obj, name, label_class)
                changed = changed or touched
                if touched and empty:
                    if isinstance(obj.get("id"), str):
                        removed_ids.setdefault(topic_name, set()).add(obj["id"])
                    continue
                kept_objects.append(obj)
            if len(kept_objects) != len(value):
                if kept_objects:
                    result[topic_name] = kept_objects
                else:
                    del result[topic_name]
    # Relations whose source or target span was removed go with it.
    for topic in topics:
        gone = removed_ids.get(topic.get("spans_topic", ""), set())
        relations = result.get(topic.get("name", ""))
        if topic.get("kind") == "relation" and gone and isinstance(relations, list):
            kept = [r for r in relations if not (isinstance(r, Mapping) and (
                r.get("from") in gone or r.get("to") in gone))]
            if len(kept) != len(relations):
                changed = True
                if kept:
                    result[topic["name"]] = kept
                else:
                    del result[topic["name"]]
    if not changed:
        return None
    return LabelRemoval(result, only_label=before > 0 and _labels_of(topics, result) == 0)
