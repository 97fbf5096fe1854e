"""Rebuild a job's package states from its events alone, as an outside consumer (or the
invariant checker, ``labelops check``) would, and note every event that contradicts the
one-holder rule.

Every package change publishes exactly one event that says what happened, so folding a
job's events in order gives the states the assignment service stores. Events are published
at least once (the outbox re-publishes what it sent just before a crash, with the same
event id; a producer or an operator may re-send a whole batch much later), so the fold,
like every consumer, skips an event id it has already seen. Per package, its state and the
ids of its events are kept (never the events themselves: about 100 bytes per event). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labelops_shared.package_states import (
    CLAIMABLE,
    WORKING,
    Stage,
    State,
    after_labeling,
    after_passed_check,
    returned_to,
)

PREFIX = "labelops.package."


@dataclass
class Replayed:
    state: str
    holder: str = ""
    labeler: str = ""
    items: int = 0
    # Every event id of the package: a duplicate may come long after its original (a
    # batch delivered again), and folding it twice would move the state back.
    seen: set[str] = field(default_factory=set)
    last_event: str = ""  # the id of the package's latest event (names it in a report)


@dataclass(frozen=True)
class ReplayViolation:
    """An event the fold could not accept: it names the package and the event."""

    package_id: str
    event_id: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class Replay:
    workflow: str
    packages: dict[str, Replayed] = field(default_factory=dict)
    violations: list[ReplayViolation] = field(default_factory=list)

    def apply(self, event: Mapping[str, Any]) -> bool:
        """Fold one event; False when it is a re-publication of one already folded."""
        kind = str(event.get("type", ""))
        if not kind.startswith(PREFIX):
            return True
        kind = kind[len(PREFIX):].rsplit(".", 1)[0]  # "claimed" of ...claimed.v1
        data = event["data"]
        pkg_id = data.get("package_id", "")
        event_id = str(event.get("id", ""))
        pkg = self.packages.get(pkg_id)
        if pkg is not None and event_id in pkg.seen:
            return False
        if kind == "created":
            pkg = self.packages[pkg_id] = Replayed(State.OPEN.value,
                                                   items=len(data["item_ids"]))
        elif pkg is None:
            self._violation(pkg_id, event_id, f"{kind} of {pkg_id} before it was created")
            return True
        else:
            handler = getattr(self, f"_{kind}", None)
            if handler is not None:
                handler(pkg_id, pkg, data, event_id)
        pkg.seen.add(event_id)
        pkg.last_event = event_id
        return True

    def _violation(self, pkg_id: str, event_id: str, message: str) -> None:
        self.violations.append(ReplayViolation(pkg_id, event_id, message))

    def _claimed(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                 event_id: str) -> None:
        if pkg.holder:
            self._violation(pkg_id, event_id, f"{pkg_id} claimed by {data['holder']} while "
                                              f"{pkg.holder} held it")
        stage = Stage(data["stage"])
        pkg.state, pkg.holder = WORKING[stage].value, data["holder"]
        if stage is Stage.LABEL:
            pkg.labeler = data["holder"]

    def _submitted(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                   event_id: str) -> None:
        pkg.state = after_labeling(self.workflow).value
        pkg.holder, pkg.labeler = "", data["labeler"]

    def _checked(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                 event_id: str) -> None:
        if data["passed"]:
            pkg.state, pkg.holder = after_passed_check(self.workflow).value, ""
        else:  # back to its labeler with the rejections
            self._rejected(pkg_id, pkg, data, event_id)

    def _rejected(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                  event_id: str) -> None:
        state, pkg.holder = returned_to(pkg.labeler)
        pkg.state = state.value
        if not pkg.holder:  # in the open pool: whoever claims it next labels it
            pkg.labeler = ""

    def _accepted(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                  event_id: str) -> None:
        pkg.state, pkg.holder = State.ACCEPTED.value, ""

    def _released(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                  event_id: str) -> None:
        pkg.state, pkg.holder = CLAIMABLE[Stage(data["stage"])].value, ""

    def _transferred(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                     event_id: str) -> None:
        stage = Stage(data["stage"])
        pkg.state, pkg.holder = WORKING[stage].value, data["to_holder"]
        if stage is Stage.LABEL:
            pkg.labeler = data["to_holder"]

    def _items_removed(self, pkg_id: str, pkg: Replayed, data: Mapping[str, Any],
                       event_id: str) -> None:
        pkg.items -= len(data["item_ids"])
        if data.get("closed"):
            pkg.state, pkg.holder = State.CLOSED.value, ""


def replay(workflow: str, events: Iterable[Mapping[str, Any]]) -> Replay:
    """Fold the events (one job's, in the order they were published) into package states."""
    result = Replay(workflow)
    for event in events:
        result.apply(event)
    return result
