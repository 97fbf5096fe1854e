"""The platform's invariants as pure comparisons: stored documents and folded events in,
violations out. No I/O, so each rule is tested with synthetic events and documents;
``sources`` reads the servers and ``command`` prints the report.

Each violation names what an operator needs to find it: the job, the package, the item and
the event id, as far as the rule knows them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labelops_shared.contracts import ItemRevised, PackageAccepted, PackageItemsRemoved
from labelops_shared.package_states import State
from labelops_shared.replay import Replay, Replayed

COVERAGE = "items in one package"
ONE_HOLDER = "one holder"
REBUILD = "log rebuilds state"
VIEW = "export view"
DEAD_LETTERS = "dead letters"
CHECKS = (COVERAGE, ONE_HOLDER, REBUILD, VIEW, DEAD_LETTERS)

# A package may be left without items when they were all deleted from the dataset: the
# service closes it, or keeps it accepted (accepted results are never taken back).
MAY_BE_EMPTY = (State.CLOSED.value, State.ACCEPTED.value)


@dataclass(frozen=True)
class Violation:
    check: str
    detail: str
    job_id: str = ""
    package_id: str = ""
    item_id: str = ""
    event_id: str = ""


# --- 1. every item of a job in exactly one package --------------------------------------


def package_coverage(job_id: str, package_count: int | None,
                     packages: Iterable[Mapping[str, Any]]) -> list[Violation]:
    """Each item in one package only, each package's item count true to its items, and as
    many packages as the job records. Memory: one entry per item of the job."""
    found: list[Violation] = []
    holder_of: dict[str, str] = {}  # item id -> the first package seen holding it
    seen = 0
    for doc in packages:
        seen += 1
        pkg_id, item_ids = str(doc["_id"]), list(doc.get("item_ids") or [])

        def violation(detail: str, item_id: str = "", pkg_id: str = pkg_id) -> None:
            found.append(Violation(COVERAGE, detail, job_id, pkg_id, item_id))

        if doc.get("item_count") != len(item_ids):
            violation(f"item_count is {doc.get('item_count')} but the package holds "
                      f"{len(item_ids)} items")
        state = str(doc.get("state", ""))
        if not item_ids and state not in MAY_BE_EMPTY:
            violation(f"no items left but the package is {state}, not closed")
        if item_ids and state == State.CLOSED:
            violation(f"closed but still holds {len(item_ids)} items")
        here: set[str] = set()
        for item_id in item_ids:
            first = holder_of.setdefault(item_id, pkg_id)
            if item_id in here:
                violation("item listed twice in the package", item_id)
            elif first != pkg_id:
                violation(f"item also in package {first}", item_id)
            here.add(item_id)
    if package_count is None:
        found.append(Violation(COVERAGE, "the job's packages are still being cut "
                                         "(package_count not recorded)", job_id))
    elif package_count != seen:
        found.append(Violation(COVERAGE, f"the job records {package_count} packages, "
                                         f"{seen} are stored", job_id))
    return found


# --- 2. no package ever had two holders ----------------------------------------------------


def holder_violations(job_id: str, replayed: Replay) -> list[Violation]:
    return [Violation(ONE_HOLDER, v.message, job_id, v.package_id, event_id=v.event_id)
            for v in replayed.violations]


# --- 3. the event log rebuilds the stored state ---------------------------------------------


def rebuild_mismatches(job_id: str, replayed: Mapping[str, Replayed],
                       stored: Iterable[Mapping[str, Any]]) -> list[Violation]:
    """Every stored package as its events leave it (state, holder, item count), and no
    package announced that is not stored."""
    found: list[Violation] = []
    matched: set[str] = set()
    for doc in stored:
        pkg_id = str(doc["_id"])
        pkg = replayed.get(pkg_id)
        if pkg is None:
            found.append(Violation(REBUILD, "stored, but no PackageCreated in the event log",
                                   job_id, pkg_id))
            continue
        matched.add(pkg_id)
        have = (str(doc.get("state", "")), str(doc.get("holder", "")))
        if have != (pkg.state, pkg.holder):
            found.append(Violation(
                REBUILD, f"stored {_state(*have)}, the events give {_state(pkg.state, pkg.holder)}",
                job_id, pkg_id, event_id=pkg.last_event))
        if doc.get("item_count") != pkg.items:
            found.append(Violation(
                REBUILD, f"stores {doc.get('item_count')} items, the events give {pkg.items}",
                job_id, pkg_id, event_id=pkg.last_event))
    for pkg_id in sorted(set(replayed) - matched):
        found.append(Violation(REBUILD, "in the event log but not stored", job_id, pkg_id,
                               event_id=replayed[pkg_id].last_event))
    return found


def _state(state: str, holder: str) -> str:
    return f"{state} held by {holder}" if holder else state


# --- 4. every accepted item once in the export view, at its latest revision ---------------


@dataclass
class AcceptedItems:
    """Fold of a job's assignment events into the latest accepted revision of each item,
    as the export view should hold it. Memory: one (revision, event id) per item."""

    latest: dict[str, tuple[int, str]] = field(default_factory=dict)

    def apply(self, event: Mapping[str, Any]) -> None:
        kind, data, event_id = event.get("type"), event.get("data") or {}, str(event.get("id"))
        if kind == PackageAccepted.TYPE:
            for item in data.get("items") or ():
                self._take(str(item["item_id"]), int(item["revision"]), event_id)
        elif kind == ItemRevised.TYPE:
            self._take(str(data["item_id"]), int(data["revision"]), event_id)
        elif kind == PackageItemsRemoved.TYPE:  # the view lets removed items go
            for item_id in data.get("item_ids") or ():
                self.latest.pop(str(item_id), None)

    def _take(self, item_id: str, revision: int, event_id: str) -> None:
        # The view keeps the first event of the newest revision (a later event with the
        # same revision changes nothing there), so the fold does the same.
        held = self.latest.get(item_id)
        if held is None or revision > held[0]:
            self.latest[item_id] = (revision, event_id)


@dataclass
class JobLog:
    """One job's assignment events folded: its package states and accepted revisions."""

    replay: Replay
    accepted: AcceptedItems = field(default_factory=AcceptedItems)

    def apply(self, event: Mapping[str, Any]) -> None:
        # The replay knows a re-publication (same event id) when it sees one; it changes
        # the view no more than the packages (an acceptance re-sent after its items were
        # removed must not bring them back).
        if self.replay.apply(event):
            self.accepted.apply(event)


def view_mismatches(job_id: str, accepted: Mapping[str, tuple[int, str]],
                    view: Iterable[Mapping[str, Any]]) -> list[Violation]:
    """Compare the view's documents (job_id, item_id, revision, event_id, package_id) with
    the accepted items: each exactly once, at its latest revision, and nothing else."""
    found: list[Violation] = []
    seen: set[str] = set()
    for doc in view:
        item_id, pkg_id = str(doc.get("item_id", "")), str(doc.get("package_id", ""))
        view_event = str(doc.get("event_id", ""))
        if item_id in seen:
            found.append(Violation(VIEW, "item more than once in the view", job_id, pkg_id,
                                   item_id, view_event))
            continue
        seen.add(item_id)
        expected = accepted.get(item_id)
        if expected is None:
            found.append(Violation(VIEW, "in the view but not accepted (or removed since)",
                                   job_id, pkg_id, item_id, view_event))
        elif doc.get("revision") != expected[0]:
            found.append(Violation(
                VIEW, f"view holds revision {doc.get('revision')}, the latest accepted is "
                      f"{expected[0]}", job_id, pkg_id, item_id, expected[1]))
    for item_id in sorted(set(accepted) - seen):
        revision, event_id = accepted[item_id]
        found.append(Violation(VIEW, f"accepted (revision {revision}) but not in the view",
                               job_id, "", item_id, event_id))
    return found


# --- 5. every dead letter says why ---------------------------------------------------------

# The headers the consumers write on a dead letter (labelops_shared.kafka); read here by
# name so the checker does not pull in the broker plumbing.
REASON_HEADER = "x-labelops-reason"


def dead_letter_violation(where: str, headers: Mapping[str, str]) -> Violation | None:
    """A dead-lettered message without a reason (``where``: topic/partition@offset)."""
    if headers.get(REASON_HEADER, "").strip():
        return None
    origin = headers.get("x-labelops-original-topic", "?")
    return Violation(DEAD_LETTERS, f"{where} (from {origin}, group "
                                   f"{headers.get('x-labelops-consumer-group', '?')}) has no "
                                   "reason", event_id=headers.get("x-labelops-event-id", ""))
