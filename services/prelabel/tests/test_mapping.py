import pytest

from services.prelabel.domain.mapping import InvalidPrelabel, Tally, supports, to_answer

SINGLE = {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}
MULTI = {"name": "label", "kind": "multiple_choice", "options": ["a", "b"]}


def test_single_choice_value_must_be_a_label() -> None:
    assert to_answer(SINGLE, "pos") == "pos"
    with pytest.raises(InvalidPrelabel, match="'meh' is not one of the labels"):
        to_answer(SINGLE, "meh")
    with pytest.raises(InvalidPrelabel, match="got list"):
        to_answer(SINGLE, ["pos"])
    with pytest.raises(InvalidPrelabel, match="got int 1"):
        to_answer(SINGLE, 1)
    with pytest.raises(InvalidPrelabel, match="'POS' is not one"):  # no case folding
        to_answer(SINGLE, "POS")


def test_multiple_choice_accepts_one_or_many_distinct_labels() -> None:
    assert to_answer(MULTI, "a") == ["a"]
    assert to_answer(MULTI, ["a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidPrelabel, match="'z' is not one of the labels"):
        to_answer(MULTI, ["a", "z"])
    with pytest.raises(InvalidPrelabel, match="empty list"):
        to_answer(MULTI, [])
    with pytest.raises(InvalidPrelabel, match="appears twice"):
        to_answer(MULTI, ["a", "a"])
    with pytest.raises(InvalidPrelabel, match="got dict"):
        to_answer(MULTI, [{"a": 1}])


def test_other_topic_kinds_take_no_prelabels() -> None:
    assert supports(SINGLE) and supports(MULTI)
    assert not supports({"name": "note", "kind": "free_text"})
    with pytest.raises(InvalidPrelabel, match="cannot take offline pre-labels"):
        to_answer({"name": "note", "kind": "free_text"}, "x")


def test_tally_keeps_the_first_reasons() -> None:
    tally = Tally("label", max_reasons=2)
    for n in range(5):
        tally.refuse(f"i{n}", "bad")
    fields = tally.as_fields()
    assert fields["invalid"] == 5
    assert fields["invalid_values"] == [{"item_id": "i0", "field": "label", "reason": "bad"},
                                        {"item_id": "i1", "field": "label", "reason": "bad"}]
