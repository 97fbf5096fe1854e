"""Cutting a job's items into packages by its package rule. Pure and streaming: items go in
one at a time, packages come out as soon as they are full, so memory holds the packages
being filled (one for the fixed and targeted rules, one per group value for the group
rule), never the job's items.

- fixed: consecutive items, ``size`` per package;
- group: items with the same value of the group field share packages (a group larger than
  ``size`` fills several); a group's last, partial package closes when the items end;
- targeted: fixed-size packages reserved in turn for each named labeler or team.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

FIXED, GROUP, TARGETED = "fixed", "group", "targeted"


@dataclass(frozen=True)
class Cut:
    item_ids: list[str]
    group: str = ""
    targets: dict[str, list[str]] = field(default_factory=dict)  # {"people"|"teams": [..]}


def group_key(value: Any) -> str:
    """The group a field value puts an item in (items without the field share "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Cutter:
    kind: str
    size: int
    people: Sequence[str] = ()
    teams: Sequence[str] = ()
    turn: int = 0  # whose turn the next targeted package is: a job's packages so far
    _open: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("package size must be at least 1")
        if self.kind not in (FIXED, GROUP, TARGETED):
            raise ValueError(f"unknown package rule {self.kind!r}")
        if self.kind == TARGETED and not (self.people or self.teams):
            raise ValueError("a targeted rule needs labelers or teams")

    def _targets(self) -> dict[str, list[str]]:
        if self.kind != TARGETED:
            return {}
        named = [("people", p) for p in self.people] + [("teams", t) for t in self.teams]
        kind, name = named[self.turn % len(named)]
        self.turn += 1
        return {kind: [name]}

    def add(self, item_id: str, value: Any = None) -> Iterator[Cut]:
        key = group_key(value) if self.kind == GROUP else ""
        current = self._open.setdefault(key, [])
        current.append(item_id)
        if len(current) == self.size:
            del self._open[key]
            yield Cut(current, key, self._targets())

    def finish(self) -> Iterator[Cut]:
        """The partial packages left, in the order their groups first appeared."""
        for key, current in self._open.items():
            yield Cut(current, key, self._targets())
        self._open = {}
