import pytest

from services.assignment.domain.workflow import (
    Stage,
    State,
    WorkflowError,
    after_acceptance,
    after_review,
    after_submit,
    check_sample,
    claim,
    validate_answer,
)

TOPICS = [{"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}]


def test_the_full_workflow_moves_label_check_accept() -> None:
    state = claim("open", Stage.LABEL)
    state = after_submit(state, "label_check_accept")
    assert state == State.TO_CHECK
    state = after_review(claim(state, Stage.CHECK), "label_check_accept", passed=True)
    assert state == State.TO_ACCEPT
    assert after_acceptance(claim(state, Stage.ACCEPT), accepted=True) == State.ACCEPTED


def test_shorter_workflows_skip_their_missing_steps() -> None:
    assert after_submit("labeling", "label") == State.ACCEPTED
    assert after_review("checking", "label_check", passed=True) == State.ACCEPTED


def test_rejections_return_the_package_to_labeling() -> None:
    assert after_review("checking", "label_check_accept", passed=False) == State.LABELING
    assert after_acceptance("accepting", accepted=False) == State.LABELING


@pytest.mark.parametrize(("state", "stage"), [("labeling", Stage.LABEL), ("open", Stage.CHECK),
                                              ("to_check", Stage.ACCEPT)])
def test_a_package_is_claimed_only_from_its_stage_pool(state: str, stage: Stage) -> None:
    with pytest.raises(WorkflowError):
        claim(state, stage)


def test_submitting_twice_is_refused() -> None:
    with pytest.raises(WorkflowError, match="to_check"):
        after_submit("to_check", "label_check")


def test_check_sample_is_deterministic_and_sized_by_ratio() -> None:
    items = [f"i{n}" for n in range(10)]
    sample = check_sample("p1", items, 0.3)
    assert len(sample) == 3
    assert sample == check_sample("p1", items, 0.3)
    assert check_sample("p1", items, 1.0) == items
    assert len(check_sample("p1", items, 0.01)) == 1


def test_answers_are_validated_against_the_topics() -> None:
    assert validate_answer(TOPICS, {"label": "pos"}) == []
    assert validate_answer(TOPICS, {"label": "meh"}) == [
        "topic 'label': 'meh' is not one of ['pos', 'neg']"]
    assert "not a topic of this job" in validate_answer(TOPICS, {"label": "pos", "x": 1})[0]
    assert validate_answer(TOPICS, {}) == ["answer: expected an object {topic name: answer}"]
