"""Rebuild a job's package states from its events alone, as an outside consumer (or an
invariant checker) would, and note every event that contradicts the one-holder rule.

Every package change publishes exactly one event that says what happened, so folding a
job's events in order gives the states the service stores. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.assignment.domain import workflow as wf
from services.assignment.domain.workflow import Stage, State

PREFIX = "labelops.package."


@dataclass
class Replayed:
    state: str
    holder: str = ""
    labeler: str = ""
    items: int = 0


@dataclass
class Replay:
    workflow: str
    packages: dict[str, Replayed] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def apply(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if not kind.startswith(PREFIX):
            return
        kind = kind[len(PREFIX):].rsplit(".", 1)[0]  # "claimed" of ...claimed.v1
        data = event["data"]
        pkg_id = data.get("package_id", "")
        if kind == "created":
            self.packages[pkg_id] = Replayed(State.OPEN.value, items=len(data["item_ids"]))
            return
        pkg = self.packages.get(pkg_id)
        if pkg is None:
            self.violations.append(f"{kind} of {pkg_id} before it was created")
            return
        handler = getattr(self, f"_{kind}", None)
        if handler is not None:
            handler(pkg_id, pkg, data)

    def _claimed(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        if pkg.holder:
            self.violations.append(f"{pkg_id} claimed by {data['holder']} while "
                                   f"{pkg.holder} held it")
        stage = Stage(data["stage"])
        pkg.state, pkg.holder = wf.WORKING[stage].value, data["holder"]
        if stage is Stage.LABEL:
            pkg.labeler = data["holder"]

    def _submitted(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        pkg.state = wf.after_submit(State.LABELING, self.workflow).value
        pkg.holder, pkg.labeler = "", data["labeler"]

    def _checked(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        if data["passed"]:
            pkg.state = (State.TO_ACCEPT if wf.has_accept(self.workflow)
                         else State.ACCEPTED).value
            pkg.holder = ""
        else:  # back to its labeler with the rejections
            self._rejected(pkg_id, pkg, data)

    def _rejected(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        back = wf.back_to_labeler(pkg.labeler, 0, [])
        pkg.state, pkg.holder = back["state"], back["holder"]
        pkg.labeler = back.get("labeler", pkg.labeler)

    def _accepted(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        pkg.state, pkg.holder = State.ACCEPTED.value, ""

    def _released(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        pkg.state, pkg.holder = wf.CLAIMABLE[Stage(data["stage"])].value, ""

    def _transferred(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        stage = Stage(data["stage"])
        pkg.state, pkg.holder = wf.WORKING[stage].value, data["to_holder"]
        if stage is Stage.LABEL:
            pkg.labeler = data["to_holder"]

    def _items_removed(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any]) -> None:
        pkg.items -= len(data["item_ids"])
        if data.get("closed"):
            pkg.state, pkg.holder = State.CLOSED.value, ""


def replay(workflow: str, events: Iterable[Mapping[str, Any]]) -> Replay:
    """Fold the events (one job's, in the order they were published) into package states."""
    result = Replay(workflow)
    for event in events:
        result.apply(event)
    return result
