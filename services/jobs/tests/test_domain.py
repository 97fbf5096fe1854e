import pytest

from services.jobs.domain.model import (
    JobError,
    Label,
    check_ratio,
    package_size,
    publish,
    topics_for,
    validate_labels,
    validate_name,
)


@pytest.mark.parametrize("name", ["a", "Job_1-x", "情感分析", "9lives", "x" * 100])
def test_valid_names(name: str) -> None:
    validate_name(name)


@pytest.mark.parametrize("name", ["", "_x", "-x", "a b", "x" * 101, "a.b"])
def test_invalid_names_are_refused_naming_the_field(name: str) -> None:
    with pytest.raises(JobError, match="^name:"):
        validate_name(name)


def test_label_rules() -> None:
    validate_labels([Label("a", "#ff0000"), Label("b")])
    with pytest.raises(JobError, match=r"labels\[1\].name: 'a' appears twice"):
        validate_labels([Label("a"), Label("a")])
    with pytest.raises(JobError, match=r"labels\[0\].color"):
        validate_labels([Label("a", "red")])
    with pytest.raises(JobError, match="at least one"):
        validate_labels([])


def test_defaults_and_bounds() -> None:
    assert package_size(0) == 100
    assert check_ratio(0) == 1.0
    with pytest.raises(JobError, match="package_size"):
        package_size(10_001)
    with pytest.raises(JobError, match="check_ratio"):
        check_ratio(1.5)


def test_template_must_fit_the_dataset() -> None:
    topics = topics_for("text_classification", "text", [Label("pos"), Label("neg")])
    assert topics == [{"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}]
    with pytest.raises(JobError, match="needs a text dataset"):
        topics_for("text_classification", "image", [Label("x")])


def test_only_a_draft_is_published() -> None:
    assert publish("draft") == "published"
    with pytest.raises(JobError, match="only a draft"):
        publish("published")
