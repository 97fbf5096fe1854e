from datetime import UTC, datetime, timedelta

import pytest

from services.assignment.domain.workflow import (
    Stage,
    State,
    WorkflowError,
    after_acceptance,
    after_review,
    after_submit,
    back_to_labeler,
    check_sample,
    claim,
    claim_refusal,
    editing_stage,
    inspection,
    latest_answers,
    may_work,
    stage_of,
    validate_rejections,
    visible_to_worker,
    work_refusal,
)


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


def test_the_stage_follows_the_state() -> None:
    assert [stage_of(s) for s in State] == [
        "label", "label", "check", "check", "accept", "accept", "done", "done"]


def test_answers_are_saved_only_while_labeling_checking_or_accepting() -> None:
    assert editing_stage("labeling") == Stage.LABEL
    assert editing_stage("checking") == Stage.CHECK
    assert editing_stage("accepting") == Stage.ACCEPT
    for state in ("open", "to_check", "to_accept", "accepted", "closed"):
        with pytest.raises(WorkflowError, match=state):
            editing_stage(state)


def test_the_check_sample_keeps_package_order_and_handles_empty_packages() -> None:
    items = [f"i{n}" for n in range(20)]
    sample = check_sample("p1", items, 0.25)
    assert sample == sorted(sample, key=items.index) and len(sample) == 5
    assert check_sample("p2", items, 0.25) != sample  # another package, another sample
    assert check_sample("p1", [], 0.5) == []


def test_rejections_need_items_of_the_package_and_reasons() -> None:
    assert validate_rejections(["a", "b"], [("a", "blurry")]) == []
    assert validate_rejections(["a"], []) == [
        "rejections: a rejection needs at least one item with a reason"]
    assert validate_rejections(["a"], [("z", "why")]) == [
        "rejections: 'z' is not an item of this package"]
    assert validate_rejections(["a"], [("a", " ")]) == ["rejections: 'a' needs a reason"]
    assert back_to_labeler("lee", 1, [("a", "blurry")]) == {
        "state": "labeling", "holder": "lee", "rework_count": 2,
        "rejections": [{"item_id": "a", "reason": "blurry"}]}


def test_the_latest_saved_answer_of_any_stage_wins() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    label = {"item_id": "i1", "stage": "label", "saved_at": t0, "answer": "L"}
    check = {"item_id": "i1", "stage": "check", "saved_at": t0 + timedelta(1), "answer": "C"}
    rework = {**label, "saved_at": t0 + timedelta(2), "answer": "L2"}
    only = {"item_id": "i2", "stage": "label", "saved_at": t0, "answer": "X"}
    assert {k: v["answer"] for k, v in latest_answers([label, check, only]).items()} == {
        "i1": "C", "i2": "X"}
    assert latest_answers([check, rework])["i1"]["answer"] == "L2"


def test_workers_see_waiting_packages_of_their_stages_and_their_own() -> None:
    def pkg(state: str, holder: str = "", labeler: str = "") -> dict[str, str]:
        return {"state": state, "holder": holder, "labeler": labeler}

    assert visible_to_worker(pkg("open"), "lee", ["labeler"])
    assert not visible_to_worker(pkg("labeling", "eve", "eve"), "lee", ["labeler"])
    assert visible_to_worker(pkg("labeling", "lee", "lee"), "lee", ["labeler"])
    assert not visible_to_worker(pkg("to_check", "", "eve"), "lee", ["labeler"])
    assert visible_to_worker(pkg("to_check", "", "eve"), "cho", ["checker"])
    assert visible_to_worker(pkg("to_check", "", "lee"), "lee", ["labeler"])  # own work
    assert not visible_to_worker(pkg("accepted", "", "eve"), "acc", ["accepter"])


def test_only_a_published_job_hands_out_packages() -> None:
    assert claim_refusal("j1", "published") is None
    assert claim_refusal("j1", "") is None  # stored before lifecycle events: published
    for status in ("unpublished", "finished", "deleted"):
        assert claim_refusal("j1", status) == f"job j1 is {status}"


def test_work_in_hand_goes_on_while_unpublished_but_not_once_finished_or_deleted() -> None:
    assert work_refusal("j1", "published") is None
    assert work_refusal("j1", "unpublished") is None
    assert work_refusal("j1", "finished") == "job j1 is finished"
    assert work_refusal("j1", "deleted") == "job j1 is deleted"


def test_members_and_teams_decide_who_works_in_a_role() -> None:
    assert may_work({"labelers": []}, "labelers", "lee")  # open to the workspace role
    assert may_work({"labelers": ["lee"]}, "labelers", "lee")
    assert not may_work({"labelers": ["eve"]}, "labelers", "lee")
    # A role given to teams only: their members (resolved into the list) and nobody else.
    assert may_work({"labelers": ["tia"], "labeler_teams": ["t1"]}, "labelers", "tia")
    assert not may_work({"labelers": [], "labeler_teams": ["t1"]}, "labelers", "lee")
    assert not may_work({"checkers": [], "checker_teams": ["t1"]}, "checkers", "cho")


def test_each_inspected_item_has_one_verdict_and_a_pass_needs_the_whole_sample() -> None:
    items = ["a", "b", "c", "d"]
    verdicts, errors, missing = inspection(
        items, ["d", "a", "b"], approved=["b", "a", "a"], modified=["a", "c"], rejected=[],
        passed=True)
    # a version the checker saved outranks their approval; lists follow the package order
    assert verdicts == {"approved": ["b"], "modified": ["a", "c"], "rejected": []}
    assert (errors, missing) == ([], ["d"])

    verdicts, errors, missing = inspection(
        items, ["a", "b"], approved=["b"], modified=["a"], rejected=["a"], passed=False)
    assert verdicts == {"approved": ["b"], "modified": [], "rejected": ["a"]}
    assert (errors, missing) == ([], [])

    _, errors, _ = inspection(items, [], approved=["x", "b"], modified=[],
                                 rejected=["b"], passed=True)
    assert errors == ["approved: 'x' is not an item of this package",
                      "approved: 'b' is also rejected; an item has one verdict",
                      "rejections: a passed package rejects nothing; set passed to false "
                      "to send it back to its labeler"]


def test_the_latest_version_wins_and_a_later_stage_breaks_a_tie() -> None:
    t0, t1 = datetime(2026, 1, 1), datetime(2026, 1, 2)
    saved = [{"item_id": "a", "stage": "label", "saved_at": t0},
             {"item_id": "a", "stage": "accept", "saved_at": t0},
             {"item_id": "a", "stage": "check", "saved_at": t0},
             {"item_id": "b", "stage": "accept", "saved_at": t0},
             {"item_id": "b", "stage": "label", "saved_at": t1}]  # a rework after it
    latest = latest_answers(saved)
    assert (latest["a"]["stage"], latest["b"]["stage"]) == ("accept", "label")
