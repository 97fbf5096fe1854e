"""The labor pre-labels save: an accepted item whose answer is its pre-label took a worker
one confirmation instead of labeling. Pure: answers in, outcomes out."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    UNCHANGED = "unchanged"  # accepted as pre-labeled
    CHANGED = "changed"      # a worker corrected the pre-label before acceptance


def canonical(value: Any) -> Any:
    """A form in which equal answers compare equal: a prediction's ``score`` is left out
    (a confidence, not part of the answer), choices are compared as sets and numbers as
    floats."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), canonical(v)) for k, v in value.items() if k != "score"))
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        if all(isinstance(v, str) for v in items):
            return ("set", tuple(sorted(items)))
        return ("list", tuple(items))
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return repr(value)


def kept(prelabel: Mapping[str, Any], final: Mapping[str, Any] | None) -> bool:
    """Whether the final answer keeps every pre-labeled topic's answer."""
    if final is None:
        return False
    return all(canonical(final.get(topic)) == canonical(answer)
               for topic, answer in prelabel.items())


def outcome(prelabel: Mapping[str, Any], final: Mapping[str, Any]) -> Outcome:
    return Outcome.UNCHANGED if kept(prelabel, final) else Outcome.CHANGED


def ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
