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


def test_a_batch_delivered_again_long_after_is_folded_once() -> None:
    """A package's whole history sent again after it went on for many more events (an
    operator re-publishing, a producer retrying a batch): none of it is folded twice."""
    history = [
        _event("created", "e1", package_id="p1", index=0, item_ids=["a"]),
        _event("claimed", "e2", package_id="p1", stage="label", holder="lee"),
        _event("submitted", "e3", package_id="p1", labeler="lee", item_count=1),
        _event("claimed", "e4", package_id="p1", stage="check", holder="chen"),
        _event("checked", "e5", package_id="p1", checker="chen", passed=False),
    ]
    later = [
        _event("submitted", "e6", package_id="p1", labeler="lee", item_count=1),
        *[e for n in range(4) for e in (
            _event("claimed", f"c{n}", package_id="p1", stage="check", holder="chen"),
            _event("released", f"r{n}", package_id="p1", stage="check", holder="chen",
                   by="chen", reason="break"))],
        _event("claimed", "e7", package_id="p1", stage="check", holder="chen"),
        _event("checked", "e8", package_id="p1", checker="chen", passed=True, rating="A"),
        _event("claimed", "e9", package_id="p1", stage="accept", holder="ava"),
        _event("accepted", "e10", package_id="p1", accepter="ava", items=[]),
    ]
    folded = replay("label_check_accept", [*history, *later, *history, *later[:3]])
    assert not folded.violations
    pkg = folded.packages["p1"]
    assert (pkg.state, pkg.holder, pkg.last_event) == ("accepted", "", "e10")
