import pytest

from services.jobs.domain.model import (
    JobError,
    Label,
    check_ratio,
    package_size,
    publish,
    template_for,
    topics_for,
    validate_answer,
    validate_labels,
    validate_name,
    validate_prelabel_field,
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


def test_presets_carry_their_layout() -> None:
    preset = template_for("text_multi_classification", "text")
    assert preset.layout() == {"content": [{"kind": "text", "field": "source"}]}
    assert preset.topics(["a", "b"]) == [
        {"name": "label", "kind": "multiple_choice", "options": ["a", "b"]}]
    with pytest.raises(JobError, match="template: unknown 'nope'"):
        template_for("nope", "text")


def test_prelabel_field_is_checked_only_against_known_fields() -> None:
    validate_prelabel_field("", ["source"])
    validate_prelabel_field("label", None)
    validate_prelabel_field("label", ["source", "label"])
    with pytest.raises(JobError, match=r"prelabel_field: 'lbl' is not a field .*\(label, source\)"):
        validate_prelabel_field("lbl", ["source", "label"])


TOPICS = [{"name": "label", "kind": "single_choice", "options": ["pos", "neg"]},
          {"name": "tags", "kind": "multiple_choice", "options": ["x", "y"]}]


def test_validate_answer_names_topic_and_reason() -> None:
    assert validate_answer(TOPICS, {"label": "pos", "tags": ["x", "y"]}) == []
    assert validate_answer(TOPICS, {"label": "meh", "tags": ["x", "x"], "extra": 1}) == [
        "topic 'extra': not a topic of this job",
        "topic 'label': 'meh' is not one of ['pos', 'neg']",
        "topic 'tags': a label appears twice",
    ]
    assert validate_answer(TOPICS, {"tags": []}) == [
        "topic 'label': no answer", "topic 'tags': expected a non-empty list of ['x', 'y']"]
