"""Mapping an offline pre-label value (a dataset field) to a topic's answer. Pure."""

from __future__ import annotations

from typing import Any


class InvalidPrelabel(ValueError):
    """The value does not fit the topic's answer schema; the message says why."""


def to_answer(topic: dict[str, Any], value: Any) -> Any:
    kind = topic["kind"]
    options = topic.get("options", [])
    if kind == "single_choice":
        if not isinstance(value, str) or value not in options:
            raise InvalidPrelabel(f"{value!r} is not one of the labels {options}")
        return value
    if kind == "multiple_choice":
        values = value if isinstance(value, list) else [value]
        if not values or any(not isinstance(v, str) or v not in options for v in values):
            raise InvalidPrelabel(f"{value!r} is not a list of the labels {options}")
        return values
    raise InvalidPrelabel(f"topic kind {kind!r} cannot take offline pre-labels yet")
