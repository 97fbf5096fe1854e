"""The replay fold: package states rebuilt from events, and the events that break the
one-holder rule named with their package and event id."""

from __future__ import annotations

from typing import Any

from labelops_shared.replay import replay


def _event(kind: str, event_id: str, **data: Any) -> dict[str, Any]:
    return {"id": event_id, "type": f"labelops.package.{kind}.v1",
            "data": {"job_id": "j1", **data}}


def test_a_package_through_label_check_accept() -> None:
    rebuilt = replay("label_check_accept", [
        _event("created", "e1", package_id="p1", index=0, item_ids=["a", "b"]),
        _event("claimed", "e2", package_id="p1", stage="label", holder="lee"),
        _event("submitted", "e3", package_id="p1", labeler="lee", item_count=2),
        _event("claimed", "e4", package_id="p1", stage="check", holder="chen"),
        _event("checked", "e5", package_id="p1", checker="chen", passed=False),
    ])
    assert not rebuilt.violations
    pkg = rebuilt.packages["p1"]
    assert (pkg.state, pkg.holder, pkg.items, pkg.last_event) == ("labeling", "lee", 2, "e5")


def test_a_second_claim_on_a_held_package_is_a_violation() -> None:
    rebuilt = replay("label", [
        _event("created", "e1", package_id="p1", index=0, item_ids=["a"]),
        _event("claimed", "e2", package_id="p1", stage="label", holder="lee"),
        _event("claimed", "e3", package_id="p1", stage="label", holder="max"),
        _event("released", "e4", package_id="p2", stage="label", holder="x", by="", reason=""),
    ])
    assert [(v.package_id, v.event_id) for v in rebuilt.violations] == [("p1", "e3"),
                                                                          ("p2", "e4")]
    assert str(rebuilt.violations[0]) == "p1 claimed by max while lee held it"


def test_a_system_labeled_package_rejected_goes_back_to_the_pool() -> None:
    rebuilt = replay("label_check", [
        _event("created", "e1", package_id="p1", index=0, item_ids=["a"]),
        _event("submitted", "e2", package_id="p1", labeler="prelabel", item_count=1),
        _event("claimed", "e3", package_id="p1", stage="check", holder="chen"),
        _event("checked", "e4", package_id="p1", checker="chen", passed=False),
    ])
    pkg = rebuilt.packages["p1"]
    assert (pkg.state, pkg.holder, pkg.labeler) == ("open", "", "")


def test_a_re_published_event_is_folded_once() -> None:
    created = _event("created", "e1", package_id="p1", index=0, item_ids=["a"])
    claimed = _event("claimed", "e2", package_id="p1", stage="label", holder="lee")
    folded = replay("label", [created, claimed, created, claimed, claimed])
    assert not folded.violations
    assert (folded.packages["p1"].state, folded.packages["p1"].holder) == ("labeling", "lee")
    assert folded.apply(claimed) is False
