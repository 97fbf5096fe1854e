"""The rules of job-level acceptance, without I/O: sampling, decisions, scopes, the
overwrite policy and the report."""

from __future__ import annotations

import pytest

from services.assignment.domain.acceptance import (
    AcceptanceError,
    Decision,
    Overwrite,
    Sampling,
    Scope,
    Verdict,
    decision,
    package_outcome,
    report,
    sample,
    total_outcome,
)

ITEMS = [f"i{n:03d}" for n in range(40)]
PASS_A, REJECT = Decision(Verdict.PASS, rating="A"), Decision(Verdict.REJECT, reason="blurry")


@pytest.mark.parametrize(("by", "value", "total", "size"), [
    ("percent", 25, 40, 10), ("percent", 10, 5, 1), ("percent", 100, 7, 7),
    ("percent", 33.4, 3, 2), ("percent", 10.000000000000002, 50, 5),
    ("quantity", 3, 40, 3), ("quantity", 100, 40, 40), ("quantity", 1, 0, 0),
])
def test_the_sample_size_follows_the_policy(by: str, value: float, total: int,
                                            size: int) -> None:
    assert Sampling(by, value).size(total) == size


@pytest.mark.parametrize(("by", "value", "field"), [
    ("percent", 0, "percent"), ("percent", 100.5, "percent"), ("percent", float("nan"), "percent"),
    ("quantity", 0, "quantity"), ("quantity", 2.5, "quantity"), ("", 0, "sample"),
])
def test_a_sampling_policy_out_of_bounds_is_refused(by: str, value: float, field: str) -> None:
    with pytest.raises(AcceptanceError, match=f"^{field}:"):
        Sampling(by, value).validate()


def test_the_sample_is_deterministic_per_session_and_kept_in_item_order() -> None:
    first = sample("job-a001", ITEMS, Sampling("percent", 25))
    assert first == sample("job-a001", ITEMS, Sampling("percent", 25))
    assert len(first) == 10 and first == sorted(first)
    assert first != sample("job-a002", ITEMS, Sampling("percent", 25))
    # a larger sample of the same session holds the smaller one
    assert set(first) <= set(sample("job-a001", ITEMS, Sampling("quantity", 20)))


def test_a_decision_needs_a_rating_to_pass_and_a_reason_to_reject() -> None:
    sampled = {"i1": {}}
    assert decision("i1", "pass", "B", "", sampled) == Decision(Verdict.PASS, rating="B")
    assert decision("i1", "reject", "", " cut off ", sampled) == Decision(
        Verdict.REJECT, reason="cut off")
    for args, why in [(("i1", "pass", "", ""), "rating A-D"),
                      (("i1", "pass", "E", ""), "rating A-D"),
                      (("i1", "reject", "A", "  "), "needs a reason"),
                      (("i1", "", "A", "x"), "needs a verdict"),
                      (("i9", "pass", "A", ""), "not a sampled item")]:
        with pytest.raises(AcceptanceError, match=why):
            decision(*args, sampled)


def _outcome(scope: Scope, overwrite: Overwrite = Overwrite.KEEP,
             earlier: dict[str, str] | None = None) -> dict[str, tuple[bool, str, str, bool]]:
    # i0 passed, i1 rejected, i2 sampled but undecided, i3 not sampled
    found = package_outcome(["i0", "i1", "i2", "i3"], {"i0": PASS_A, "i1": REJECT}, scope,
                            overwrite, earlier or {}, "s1")
    return {o.item_id: (o.passed, o.rating, o.reason, o.kept) for o in found.items}


def test_all_pass_passes_rejected_items_too() -> None:
    assert _outcome(Scope.ALL_PASS) == {
        "i0": (True, "A", "", False), "i1": (True, "", "", False),
        "i2": (True, "", "", False), "i3": (True, "", "", False)}


def test_all_reject_rejects_passed_items_too_keeping_given_reasons() -> None:
    found = _outcome(Scope.ALL_REJECT)
    assert not any(passed for passed, *_ in found.values())
    assert found["i1"][2] == "blurry"
    assert found["i0"][2] == found["i3"][2] == "rejected with every item of acceptance s1"


def test_remaining_pass_keeps_rejections_and_passes_the_rest() -> None:
    found = _outcome(Scope.REMAINING_PASS)
    assert {i for i, (passed, *_) in found.items() if not passed} == {"i1"}
    assert found["i0"][1] == "A"


def test_remaining_reject_keeps_passes_and_rejects_the_rest() -> None:
    found = _outcome(Scope.REMAINING_REJECT)
    assert {i for i, (passed, *_) in found.items() if passed} == {"i0"}
    assert found["i1"][2] == "blurry"
    assert found["i2"][2] == found["i3"][2] == "not passed in acceptance s1"


def test_keep_lets_an_earlier_pass_win_and_overwrite_replaces_it() -> None:
    kept = _outcome(Scope.ALL_REJECT, Overwrite.KEEP, earlier={"i1": "C", "i3": "B"})
    assert kept["i1"] == (True, "C", "", True) and kept["i3"] == (True, "B", "", True)
    assert not kept["i0"][0]
    replaced = _outcome(Scope.ALL_REJECT, Overwrite.OVERWRITE, earlier={"i1": "C"})
    assert replaced["i1"] == (False, "", "blurry", False)


def test_a_package_is_accepted_only_when_every_item_passes() -> None:
    rejected = package_outcome(["a", "b"], {"b": REJECT}, Scope.REMAINING_PASS,
                               Overwrite.KEEP, {}, "s")
    assert not rejected.accepted and rejected.rejections == [("b", "blurry")]
    accepted = package_outcome(["a", "b"], {"b": REJECT}, Scope.ALL_PASS, Overwrite.KEEP,
                               {}, "s")
    assert accepted.accepted and accepted.rejections == []
    total = total_outcome([rejected, accepted,
                           package_outcome(["c"], {}, Scope.ALL_PASS, Overwrite.KEEP,
                                           {"c": "A"}, "s")], left_out=2)
    assert total.packages_accepted == 2 and total.packages_returned == 1
    assert total.packages_left_out == 2
    assert (total.items_passed, total.items_rejected, total.items_kept) == (4, 1, 1)


def test_the_report_counts_the_sample() -> None:
    found = report(10, ["pass", "pass", "reject", "", ""])
    assert (found.sampled, found.accepted, found.pending, found.passed, found.rejected) == (
        10, 3, 7, 2, 1)
    assert found.pass_rate == 66.67
    empty = report(4, [])
    assert (empty.pass_rate, empty.pending, empty.accepted) == (0.0, 4, 0)
