"""Reconciliation: the labeled view's accepted items of a job against the assignment
service's count of them. Pure.

The assignment service counts the items of its accepted packages (``accepted_items``); the
view holds one document per accepted item, each naming the package it was accepted in. The
two agree once every accepted event is taken in, except for items the labeler marked
invalid: they count in their package but have no accepted answer, so never reach the view.
A difference while acceptances are being relayed is expected and passes; one that stays
is worth a look, and the per-package comparison says where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LISTED_PACKAGES = 100  # differing packages named in a report (all are counted)


@dataclass(frozen=True)
class PackageDifference:
    package_id: str
    view_items: int
    assignment_items: int
    accepted: bool


@dataclass(frozen=True)
class Reconciliation:
    job_id: str
    view_items: int
    assignment_items: int
    by_package: bool = False
    view_packages: int = 0
    accepted_packages: int = 0
    differing_packages: int = 0
    packages: list[PackageDifference] = field(default_factory=list)

    @property
    def difference(self) -> int:
        return self.view_items - self.assignment_items

    @property
    def matches(self) -> bool:
        return self.difference == 0 and self.differing_packages == 0


def reconcile(job_id: str, view_by_package: Mapping[str, int], assignment_items: int,
              accepted_packages: Mapping[str, int] | None = None,
              listed: int = LISTED_PACKAGES) -> Reconciliation:
    """Compare the view's items per package with the assignment side: its accepted item
    count, and (when given) its accepted packages with their item counts."""
    view_items = sum(view_by_package.values())
    if accepted_packages is None:
        return Reconciliation(job_id, view_items, assignment_items)
    differing = [
        PackageDifference(package, view_by_package.get(package, 0),
                          accepted_packages.get(package, 0), package in accepted_packages)
        for package in sorted(set(view_by_package) | set(accepted_packages))
        if view_by_package.get(package, 0) != accepted_packages.get(package, 0)
    ]
    return Reconciliation(job_id, view_items, assignment_items, by_package=True,
                          view_packages=sum(1 for n in view_by_package.values() if n),
                          accepted_packages=len(accepted_packages),
                          differing_packages=len(differing), packages=differing[:listed])
