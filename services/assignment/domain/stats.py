"""Per-person statistics of a job, from its packages. Pure.

A package records who labeled it, who last checked it, who accepted it, how often it was
sent back (``rework_count``), its rating, when its labeling last started and when it was
last submitted; the figures below are sums and medians over those records.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RATING_POINTS = {"A": 4, "B": 3, "C": 2, "D": 1}
NOT_SUBMITTED = frozenset({"open", "labeling"})


@dataclass
class PersonStats:
    subject: str
    items_labeled: int = 0
    items_checked: int = 0
    items_accepted: int = 0
    rejections_received: int = 0
    submissions: int = 0
    ratings: list[int] = field(default_factory=list)
    seconds_per_item: list[float] = field(default_factory=list)

    @property
    def rejection_rate(self) -> float:
        return self.rejections_received / self.submissions if self.submissions else 0.0

    @property
    def mean_rating(self) -> float:
        return statistics.fmean(self.ratings) if self.ratings else 0.0

    @property
    def mean_rating_letter(self) -> str:
        if not self.ratings:
            return ""
        points = round(self.mean_rating)
        return next(letter for letter, p in RATING_POINTS.items() if p == points)

    @property
    def median_seconds_per_item(self) -> float:
        return statistics.median(self.seconds_per_item) if self.seconds_per_item else 0.0


def _submitted(pkg: Mapping[str, Any]) -> bool:
    return pkg["state"] not in NOT_SUBMITTED or bool(pkg.get("rework_count"))


def person_stats(packages: Iterable[Mapping[str, Any]],
                 system: Iterable[str] = ()) -> list[PersonStats]:
    """One line per person who labeled, checked or accepted a package of the job (the
    system's own submissions of formal pre-labels are left out), sorted by subject."""
    skip = set(system) | {""}
    people: dict[str, PersonStats] = {}

    def person(subject: str) -> PersonStats:
        return people.setdefault(subject, PersonStats(subject))

    for pkg in packages:
        items = int(pkg.get("item_count", 0))
        labeler = pkg.get("labeler", "")
        if labeler not in skip and _submitted(pkg):
            who = person(labeler)
            rework = int(pkg.get("rework_count", 0))
            who.items_labeled += items
            who.rejections_received += rework
            # a package waiting for its rework was submitted once per rejection so far
            who.submissions += rework + (0 if pkg["state"] in NOT_SUBMITTED else 1)
            if pkg.get("rating") in RATING_POINTS:
                who.ratings.append(RATING_POINTS[pkg["rating"]])
            claimed, submitted = pkg.get("labeling_started_at"), pkg.get("submitted_at")
            if (isinstance(claimed, datetime) and isinstance(submitted, datetime) and items
                    and submitted >= claimed):
                who.seconds_per_item.append((submitted - claimed).total_seconds() / items)
        if pkg.get("checker", "") not in skip:
            person(pkg["checker"]).items_checked += items
        if pkg["state"] == "accepted" and pkg.get("accepter", "") not in skip:
            person(pkg["accepter"]).items_accepted += items
    return [people[s] for s in sorted(people)]
