"""Job-level acceptance, the rules: how items are sampled, what a decision needs, what a
finish scope and overwrite policy make of each item and package, and the acceptance
report. Pure.

An acceptance (a session) takes in the job's packages waiting for acceptance, samples their
items, and collects per sampled item a pass (rating A-D) or a reject (reason). Finishing
decides every item of the session's packages:

- scope ``all_pass``: every item passes, rejected ones too;
- ``all_reject``: every item is rejected, passed ones too (they are labeled and accepted
  again later);
- ``remaining_pass``: rejected items stay rejected, every other item passes;
- ``remaining_reject``: passed items stay passed, every other item (rejected, undecided,
  not sampled) is rejected.

An item passed by an earlier acceptance whose package went back for rework has an earlier
result: policy ``keep`` keeps it (the item passes with its earlier answer, whatever this
acceptance says); ``overwrite`` lets this acceptance's outcome replace it.

A package whose items all pass is accepted; a package with a rejected item goes back to
its labeler with the rejected items' reasons.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.assignment.domain.workflow import RATINGS

HOLDER_PREFIX = "acceptance:"
MAX_DECISIONS = 1000  # per DecideItems call


class SessionState(StrEnum):
    STARTING = "starting"    # taking the packages in
    ONGOING = "ongoing"      # deciding
    FINISHING = "finishing"  # moving the packages
    FINISHED = "finished"


class Scope(StrEnum):
    ALL_PASS = "all_pass"
    ALL_REJECT = "all_reject"
    REMAINING_PASS = "remaining_pass"
    REMAINING_REJECT = "remaining_reject"


class Overwrite(StrEnum):
    KEEP = "keep"
    OVERWRITE = "overwrite"


class Verdict(StrEnum):
    PASS = "pass"
    REJECT = "reject"


class AcceptanceError(ValueError):
    """A request the acceptance rules refuse; the message names the field and the rule."""


def holder(session_id: str) -> str:
    """The holder of a package taken into the session: no worker can be it."""
    return f"{HOLDER_PREFIX}{session_id}"


def session_id(job_id: str, number: int) -> str:
    """The n-th acceptance of the job. Numbered, so two acceptances started at once
    compete for the same id and only one is created."""
    return f"{job_id}-a{number:03d}"


# --- sampling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    """By percentage (0-100] or by quantity (at least 1)."""

    by: str  # "percent" | "quantity"
    value: float

    def validate(self) -> None:
        if self.by == "percent":
            if not (0 < self.value <= 100) or not math.isfinite(self.value):
                raise AcceptanceError("percent: a share of the items above 0 and at most 100")
        elif self.by == "quantity":
            if self.value < 1 or self.value != int(self.value):
                raise AcceptanceError("quantity: a whole number of items, at least 1")
        else:
            raise AcceptanceError("sample: give a percent or a quantity")

    def size(self, total: int) -> int:
        """How many of ``total`` items are sampled (at least one, at most all)."""
        if total <= 0:
            return 0
        if self.by == "percent":
            # a float like 10.000000000000002 % of 50 must still be 5
            wanted = math.ceil(round(self.value * total / 100, 9))
        else:
            wanted = int(self.value)
        return max(1, min(total, wanted))


def sample(session: str, item_ids: Sequence[str], sampling: Sampling) -> list[str]:
    """The sampled items: the first ``size`` in an order fixed by a hash of (session, item),
    so the sample is the same however often it is computed, and differs between sessions.
    Returned in the order given."""
    count = sampling.size(len(item_ids))
    ranked = sorted(item_ids,
                    key=lambda i: hashlib.sha256(f"{session}:{i}".encode()).hexdigest())
    chosen = set(ranked[:count])
    return [i for i in item_ids if i in chosen]


# --- decisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    rating: str = ""
    reason: str = ""


def decision(item_id: str, verdict: str, rating: str, reason: str,
             sampled: Mapping[str, object]) -> Decision:
    """A checked decision on one sampled item: a pass needs a rating A-D, a reject a
    reason. Raises AcceptanceError naming the item and the rule."""
    if item_id not in sampled:
        raise AcceptanceError(f"decisions: {item_id!r} is not a sampled item of this "
                              "acceptance")
    if verdict == Verdict.PASS:
        if rating not in RATINGS:
            raise AcceptanceError(f"decisions: passing {item_id!r} needs a rating A-D")
        return Decision(Verdict.PASS, rating=rating)
    if verdict == Verdict.REJECT:
        if not reason.strip():
            raise AcceptanceError(f"decisions: rejecting {item_id!r} needs a reason")
        return Decision(Verdict.REJECT, reason=reason.strip())
    raise AcceptanceError(f"decisions: {item_id!r} needs a verdict, pass or reject")


# --- finishing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemOutcome:
    item_id: str
    passed: bool
    rating: str = ""   # passed items: the decision's rating ("" when passed by the scope)
    reason: str = ""   # rejected items
    kept: bool = False  # passed by an earlier acceptance, kept (policy keep)


@dataclass(frozen=True)
class PackageOutcome:
    items: tuple[ItemOutcome, ...]

    @property
    def accepted(self) -> bool:
        return all(o.passed for o in self.items)

    @property
    def rejections(self) -> list[tuple[str, str]]:
        return [(o.item_id, o.reason) for o in self.items if not o.passed]

    @property
    def passed(self) -> list[ItemOutcome]:
        return [o for o in self.items if o.passed]


def _scope_reason(session: str, scope: Scope) -> str:
    if scope is Scope.ALL_REJECT:
        return f"rejected with every item of acceptance {session}"
    return f"not passed in acceptance {session}"


def item_outcome(item_id: str, decided: Decision | None, scope: Scope, overwrite: Overwrite,
                 earlier_rating: str | None, session: str) -> ItemOutcome:
    """What finishing makes of one item: its decision (if sampled and decided), read through
    the scope; an earlier acceptance's pass (``earlier_rating`` not None) wins under keep."""
    if earlier_rating is not None and overwrite is Overwrite.KEEP:
        return ItemOutcome(item_id, passed=True, rating=earlier_rating, kept=True)
    rating = decided.rating if decided and decided.verdict is Verdict.PASS else ""
    reason = decided.reason if decided and decided.verdict is Verdict.REJECT else ""
    if scope is Scope.ALL_PASS:
        return ItemOutcome(item_id, passed=True, rating=rating)
    if scope is Scope.ALL_REJECT:
        return ItemOutcome(item_id, passed=False, reason=reason or _scope_reason(session, scope))
    if decided is not None and decided.verdict is Verdict.REJECT:
        return ItemOutcome(item_id, passed=False, reason=reason)
    if decided is not None and decided.verdict is Verdict.PASS:
        return ItemOutcome(item_id, passed=True, rating=rating)
    # remaining: sampled but undecided, or not sampled
    if scope is Scope.REMAINING_PASS:
        return ItemOutcome(item_id, passed=True)
    return ItemOutcome(item_id, passed=False, reason=_scope_reason(session, scope))


def package_outcome(item_ids: Iterable[str], decisions: Mapping[str, Decision], scope: Scope,
                    overwrite: Overwrite, earlier: Mapping[str, str],
                    session: str) -> PackageOutcome:
    """Every item of the package through :func:`item_outcome`; ``earlier`` maps the items
    passed by an earlier acceptance to that acceptance's rating."""
    return PackageOutcome(tuple(
        item_outcome(i, decisions.get(i), scope, overwrite, earlier.get(i), session)
        for i in item_ids))


# --- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Over the sampled items: accepted = decided (passed + rejected), pending = not yet;
    the pass rate is passed / accepted in percent (0 while nothing is decided)."""

    sampled: int
    passed: int
    rejected: int

    @property
    def accepted(self) -> int:
        return self.passed + self.rejected

    @property
    def pending(self) -> int:
        return max(0, self.sampled - self.accepted)

    @property
    def pass_rate(self) -> float:
        return round(100.0 * self.passed / self.accepted, 2) if self.accepted else 0.0


def report(sampled: int, verdicts: Iterable[str]) -> Report:
    """The report of a session from the verdicts of its sampled items ("" = undecided)."""
    passed = rejected = 0
    for verdict in verdicts:
        if verdict == Verdict.PASS:
            passed += 1
        elif verdict == Verdict.REJECT:
            rejected += 1
    return Report(sampled=sampled, passed=passed, rejected=rejected)


@dataclass(frozen=True)
class Outcome:
    """What finishing did, summed over the session's packages."""

    packages_accepted: int = 0
    packages_returned: int = 0
    packages_left_out: int = 0
    items_passed: int = 0
    items_rejected: int = 0
    items_kept: int = 0


def total_outcome(per_package: Iterable[PackageOutcome], left_out: int) -> Outcome:
    accepted = returned = passed = rejected = kept = 0
    for outcome in per_package:
        if outcome.accepted:
            accepted += 1
        else:
            returned += 1
        passed += len(outcome.passed)
        rejected += len(outcome.items) - len(outcome.passed)
        kept += sum(1 for o in outcome.items if o.kept)
    return Outcome(accepted, returned, left_out, passed, rejected, kept)
