"""Progress and claims of a job, kept from the assignment service's package events. Pure.

Each package has a small view (:class:`PackageView`) that every package event moves to a
new absolute state; the job's counters are the sum over its packages, adjusted by the
difference between a package's view before and after the event. Applying an event a second
time gives the same view, so the counters never count twice, whatever the redelivery.

Counters, in items: ``labeled`` (submitted at least once), ``checked`` (passed a check),
``accepted`` (final), ``rejected`` (sent back by the latest review and not yet resubmitted).
``held`` counts packages someone has claimed and not yet handed on; ``holders`` counts
them per person (who may not leave a team while holding work).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class PackageView:
    package_id: str
    job_id: str
    items: int = 0
    holder: str = ""
    stage: str = ""
    labeler: str = ""
    labeled: bool = False
    checked: bool = False
    accepted: bool = False
    rejected: int = 0  # items rejected by the latest review, until resubmitted

    def to_doc(self) -> dict[str, Any]:
        return {"_id": self.package_id, **{k: v for k, v in asdict(self).items()
                                           if k != "package_id"}}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> PackageView:
        return cls(package_id=doc["_id"], **{k: doc[k] for k in (
            "job_id", "items", "holder", "stage", "labeler", "labeled", "checked", "accepted",
            "rejected") if k in doc})


@dataclass(frozen=True)
class Counters:
    packages: int = 0
    labeled: int = 0
    checked: int = 0
    accepted: int = 0
    rejected: int = 0
    held: int = 0
    holders: dict[str, int] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        """Holders are people's emails: they may hold '.', so they are values, never keys."""
        doc = asdict(self)
        doc["holders"] = [{"who": who, "n": n} for who, n in sorted(self.holders.items())]
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Counters:
        if not doc:
            return cls()
        values = {k: doc[k] for k in ("packages", "labeled", "checked", "accepted",
                                      "rejected", "held") if k in doc}
        holders = {h["who"]: h["n"] for h in doc.get("holders", [])}
        return cls(**values, holders=holders)


def created(job_id: str, package_id: str, items: int) -> PackageView:
    return PackageView(package_id, job_id, items=items)


def claimed(view: PackageView, stage: str, holder: str) -> PackageView:
    labeler = holder if stage == "label" else view.labeler
    return replace(view, holder=holder, stage=stage, labeler=labeler)


def submitted(view: PackageView, labeler: str, items: int) -> PackageView:
    return replace(view, holder="", labeled=True, rejected=0, labeler=labeler or view.labeler,
                   items=items or view.items)


def checked(view: PackageView, passed: bool, rejected_items: int = 0) -> PackageView:
    if not passed:  # a failed check sends the package back to its labeler
        return rejected(view, rejected_items)
    return replace(view, holder="", checked=True, rejected=0)


def rejected(view: PackageView, items: int) -> PackageView:
    # Back to its labeler, who holds it again for rework.
    return replace(view, holder=view.labeler, stage="label", checked=False, rejected=items)


def accepted(view: PackageView) -> PackageView:
    return replace(view, holder="", accepted=True, rejected=0, labeled=True)


def _contribution(view: PackageView | None) -> dict[str, int]:
    if view is None:
        return {"packages": 0, "labeled": 0, "checked": 0, "accepted": 0, "rejected": 0,
                "held": 0}
    return {"packages": 1,
            "labeled": view.items if view.labeled else 0,
            "checked": view.items if view.checked else 0,
            "accepted": view.items if view.accepted else 0,
            "rejected": view.rejected,
            "held": 1 if view.holder else 0}


def apply(counters: Counters, before: PackageView | None, after: PackageView) -> Counters:
    """The job's counters once one package went from ``before`` to ``after``."""
    old, new = _contribution(before), _contribution(after)
    values = {k: max(0, getattr(counters, k) + new[k] - old[k]) for k in old}
    holders = dict(counters.holders)
    if before is not None and before.holder:
        holders[before.holder] = holders.get(before.holder, 0) - 1
    if after.holder:
        holders[after.holder] = holders.get(after.holder, 0) + 1
    holders = {h: n for h, n in holders.items() if n > 0}
    return Counters(**values, holders=holders)
