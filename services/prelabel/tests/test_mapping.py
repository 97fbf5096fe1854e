import pytest

from services.prelabel.domain.mapping import InvalidPrelabel, to_answer

SINGLE = {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}
MULTI = {"name": "label", "kind": "multiple_choice", "options": ["a", "b"]}


def test_single_choice_value_must_be_a_label() -> None:
    assert to_answer(SINGLE, "pos") == "pos"
    with pytest.raises(InvalidPrelabel, match="'meh' is not one of the labels"):
        to_answer(SINGLE, "meh")
    with pytest.raises(InvalidPrelabel):
        to_answer(SINGLE, ["pos"])


def test_multiple_choice_accepts_one_or_many_labels() -> None:
    assert to_answer(MULTI, "a") == ["a"]
    assert to_answer(MULTI, ["a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidPrelabel):
        to_answer(MULTI, ["a", "z"])
    with pytest.raises(InvalidPrelabel):
        to_answer(MULTI, [])
