"""The invariant checker's rules on synthetic events and documents: a clean job passes,
and each kind of violation is found and named (job, package, item, event id)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labelops_cli.check.rules import (
    COVERAGE,
    DEAD_LETTERS,
    ONE_HOLDER,
    REBUILD,
    VIEW,
    AcceptedItems,
    JobLog,
    Violation,
    dead_letter_violation,
    holder_violations,
    package_coverage,
    rebuild_mismatches,
    view_mismatches,
)
from labelops_shared.replay import Replay

JOB = "j1"


def _event(kind: str, event_id: str, **data: Any) -> dict[str, Any]:
    return {"id": event_id, "type": f"labelops.package.{kind}.v1",
            "data": {"job_id": JOB, **data}}


def _accepted(event_id: str, package_id: str, *items: tuple[str, int]) -> dict[str, Any]:
    return _event("accepted", event_id, package_id=package_id, accepter="ava", items=[
        {"item_id": i, "data": {}, "answer": {}, "labeler": "lee", "revision": r}
        for i, r in items])


def _package(pkg_id: str, item_ids: list[str], state: str = "accepted",
             holder: str = "", item_count: int | None = None) -> dict[str, Any]:
    return {"_id": pkg_id, "job_id": JOB, "item_ids": item_ids, "state": state,
            "holder": holder, "item_count": len(item_ids) if item_count is None else item_count}


def _view(item_id: str, revision: int, package_id: str = "p1",
          event_id: str = "e") -> dict[str, Any]:
    return {"item_id": item_id, "revision": revision, "package_id": package_id,
            "event_id": event_id}


# A clean job: two packages, one accepted (an item revised since), one held; one item was
# deleted from the dataset after acceptance and left the package and the view.
EVENTS = [
    _event("created", "c1", package_id="p1", index=0, item_ids=["a", "b", "x"]),
    _event("created", "c2", package_id="p2", index=1, item_ids=["c"]),
    _event("claimed", "k1", package_id="p1", stage="label", holder="lee"),
    _event("submitted", "s1", package_id="p1", labeler="lee", item_count=3),
    _accepted("a1", "p1", ("a", 1), ("b", 1), ("x", 1)),
    _event("item_revised", "r1", package_id="p1", item_id="b", answer={}, revision=2,
           by="ada", reason="typo", data={}),
    _event("items_removed", "d1", package_id="p1", item_ids=["x"], reason="deleted",
           closed=False),
    _event("claimed", "k2", package_id="p2", stage="label", holder="max"),
]
PACKAGES = [_package("p1", ["a", "b"]), _package("p2", ["c"], "labeling", "max")]
VIEW_DOCS = [_view("a", 1, event_id="a1"), _view("b", 2, event_id="r1")]


def _fold(events: Iterable[dict[str, Any]]) -> tuple[Replay, AcceptedItems]:
    log = JobLog(Replay("label"))
    for event in events:
        log.apply(event)
    return log.replay, log.accepted


def _all(events: Iterable[dict[str, Any]], packages: list[dict[str, Any]],
         view: list[dict[str, Any]], package_count: int | None = 2) -> list[Violation]:
    replayed, accepted = _fold(events)
    return [*package_coverage(JOB, package_count, packages),
            *holder_violations(JOB, replayed),
            *rebuild_mismatches(JOB, replayed.packages, packages),
            *view_mismatches(JOB, accepted.latest, view)]


def _named(violations: list[Violation]) -> set[tuple[str, str, str, str]]:
    return {(v.check, v.package_id, v.item_id, v.event_id) for v in violations}


def test_a_clean_job_passes() -> None:
    assert _all(EVENTS, PACKAGES, VIEW_DOCS) == []


def test_the_fold_keeps_the_latest_revision_and_forgets_removed_items() -> None:
    _, accepted = _fold(EVENTS)
    assert accepted.latest == {"a": (1, "a1"), "b": (2, "r1")}
    # A redelivered acceptance of an older revision changes nothing.
    accepted.apply(_accepted("a0", "p1", ("b", 1)))
    assert accepted.latest["b"] == (2, "r1")


def test_re_published_events_change_nothing() -> None:
    """The outbox re-sends what it sent just before a crash, with the same ids: an
    acceptance re-sent after its item was removed does not bring the item back, a claim
    re-sent is not a second claim."""
    again = [e for e in EVENTS if e["id"] in ("c1", "k1", "a1", "k2")]
    assert _all([*EVENTS, *again], PACKAGES, VIEW_DOCS) == []


# --- 1. coverage ---------------------------------------------------------------------------


def test_an_item_in_two_packages_is_named_with_both() -> None:
    packages = [PACKAGES[0], _package("p2", ["c", "a"], "labeling", "max")]
    found = package_coverage(JOB, 2, packages)
    assert [(v.check, v.job_id, v.package_id, v.item_id) for v in found] == [
        (COVERAGE, JOB, "p2", "a")]
    assert "also in package p1" in found[0].detail


def test_an_item_twice_in_one_package_and_a_wrong_count() -> None:
    found = package_coverage(JOB, 1, [_package("p1", ["a", "a"], item_count=3)])
    assert _named(found) == {(COVERAGE, "p1", "a", ""), (COVERAGE, "p1", "", "")}


def test_an_empty_package_is_fine_only_when_closed_or_accepted() -> None:
    fine = [_package("p1", [], "closed"), _package("p2", [], "accepted")]
    assert package_coverage(JOB, 2, fine) == []
    found = package_coverage(JOB, 2, [_package("p1", [], "open"), _package("p2", ["a"], "closed")])
    assert [v.package_id for v in found] == ["p1", "p2"]


def test_the_package_count_the_job_records() -> None:
    assert "records 3 packages, 2 are stored" in package_coverage(JOB, 3, PACKAGES)[0].detail
    assert "still being cut" in package_coverage(JOB, None, PACKAGES)[0].detail


# --- 2. one holder -------------------------------------------------------------------------


def test_a_second_holder_is_named_with_the_claim_event() -> None:
    events = [*EVENTS, _event("claimed", "k3", package_id="p2", stage="label", holder="zoe")]
    packages = [PACKAGES[0], _package("p2", ["c"], "labeling", "zoe")]
    assert _named(_all(events, packages, VIEW_DOCS)) == {(ONE_HOLDER, "p2", "", "k3")}


# --- 3. the log rebuilds the state ---------------------------------------------------------


def test_a_stored_state_the_events_do_not_give() -> None:
    packages = [PACKAGES[0], _package("p2", ["c"], "open")]
    found = _all(EVENTS, packages, VIEW_DOCS)
    assert _named(found) == {(REBUILD, "p2", "", "k2")}
    assert found[0].detail == "stored open, the events give labeling held by max"


def test_packages_only_stored_or_only_announced() -> None:
    packages = [PACKAGES[0], _package("p9", ["c"], "open")]
    found = _all(EVENTS, packages, VIEW_DOCS)
    assert _named(found) == {(REBUILD, "p9", "", ""), (REBUILD, "p2", "", "k2")}


def test_an_item_count_the_events_do_not_give() -> None:
    events = [e for e in EVENTS if e["id"] != "d1"]  # the removal was never announced
    found = _all(events, PACKAGES, [*VIEW_DOCS, _view("x", 1, event_id="a1")])
    assert _named(found) == {(REBUILD, "p1", "", "r1")}  # the package's last event
    assert "stores 2 items, the events give 3" in found[0].detail


# --- 4. the export view --------------------------------------------------------------------


def test_view_missing_stale_extra_and_duplicate_items() -> None:
    view = [_view("b", 1, event_id="a1"), _view("b", 2), _view("z", 1, event_id="e9")]
    found = _all(EVENTS, PACKAGES, view)
    assert _named(found) == {
        (VIEW, "p1", "b", "r1"),  # revision 1 held, 2 is the latest (named by its event)
        (VIEW, "p1", "b", "e"),  # twice in the view
        (VIEW, "p1", "z", "e9"),  # never accepted
        (VIEW, "", "a", "a1"),  # accepted, missing
    }


# --- 5. dead letters -----------------------------------------------------------------------


def test_a_dead_letter_without_a_reason() -> None:
    headers = {"x-labelops-original-topic": "labelops.jobs.events.v1",
               "x-labelops-consumer-group": "labelops-export", "x-labelops-event-id": "ev1"}
    assert dead_letter_violation("dlt/0@5", {**headers, "x-labelops-reason": "bad"}) is None
    found = dead_letter_violation("dlt/0@5", {**headers, "x-labelops-reason": "  "})
    assert found is not None
    assert (found.check, found.event_id) == (DEAD_LETTERS, "ev1")
    assert "dlt/0@5" in found.detail and "labelops-export" in found.detail
    assert dead_letter_violation("dlt/0@6", {}) is not None
