"""Mapping an offline pre-label value (a dataset field) to a topic's answer, and the tally
of one pre-label run. Pure: values in, values or errors out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SUPPORTED_KINDS = ("single_choice", "multiple_choice")


class InvalidPrelabel(ValueError):
    """The value does not fit the topic's answer schema; the message says why."""


def supports(topic: dict[str, Any]) -> bool:
    """Whether values can be mapped to this topic at all (checked once per job)."""
    return topic.get("kind") in SUPPORTED_KINDS


def to_answer(topic: dict[str, Any], value: Any) -> Any:
    """The answer `value` gives to `topic`: for single_choice one of the options; for
    multiple_choice a non-empty list of distinct options (a lone option counts as a list
    of one). Raises InvalidPrelabel saying what is wrong."""
    kind = topic["kind"]
    options = topic.get("options", [])
    if kind == "single_choice":
        if not isinstance(value, str):
            raise InvalidPrelabel(f"expected one label as a string, got {_type(value)} {value!r}")
        if value not in options:
            raise InvalidPrelabel(f"{value!r} is not one of the labels {options}")
        return value
    if kind == "multiple_choice":
        values = value if isinstance(value, list) else [value]
        if not values:
            raise InvalidPrelabel("an empty list: expected at least one label")
        for v in values:
            if not isinstance(v, str):
                raise InvalidPrelabel(f"expected labels as strings, got {_type(v)} {v!r}")
            if v not in options:
                raise InvalidPrelabel(f"{v!r} is not one of the labels {options}")
        if len(set(values)) != len(values):
            raise InvalidPrelabel(f"a label appears twice in {values!r}")
        return values
    raise InvalidPrelabel(f"topic kind {kind!r} cannot take offline pre-labels yet")


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass
class Tally:
    """Counts of one run; keeps the first `max_reasons` refusals with their reasons."""

    field: str
    max_reasons: int = 20
    items_seen: int = 0
    predictions: int = 0
    missing: int = 0
    invalid: int = 0
    invalid_values: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def refuse(self, item_id: str, reason: str) -> None:
        self.invalid += 1
        if len(self.invalid_values) < self.max_reasons:
            self.invalid_values.append({"item_id": item_id, "field": self.field,
                                        "reason": reason})

    def as_fields(self) -> dict[str, Any]:
        return {"field": self.field, "items_seen": self.items_seen,
                "predictions": self.predictions, "missing": self.missing,
                "invalid": self.invalid, "invalid_values": self.invalid_values}
