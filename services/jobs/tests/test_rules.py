"""Lifecycle, label management, teams and progress rules (pure)."""

from __future__ import annotations

import pytest

from services.jobs.domain import labels, lifecycle, progress, teams
from services.jobs.domain.lifecycle import JobState, Transition
from services.jobs.domain.model import JobError, Refused
from services.jobs.domain.progress import Counters

# -- lifecycle ----------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "action", "to", "transition"), [
    ("draft", "publish", JobState.PUBLISHED, Transition.PUBLISH),
    ("published", "unpublish", JobState.UNPUBLISHED, Transition.UNPUBLISH),
    ("unpublished", "publish", JobState.PUBLISHED, Transition.REPUBLISH),
    ("published", "complete", JobState.COMPLETED, Transition.COMPLETE),
    ("unpublished", "complete", JobState.COMPLETED, Transition.COMPLETE),
])
def test_allowed_moves(state: str, action: str, to: JobState, transition: Transition) -> None:
    assert lifecycle.move(state, action) == (to, transition)


@pytest.mark.parametrize(("state", "action"), [
    ("published", "publish"), ("completed", "publish"), ("draft", "unpublish"),
    ("unpublished", "unpublish"), ("completed", "unpublish"), ("draft", "complete"),
    ("completed", "complete"),
])
def test_refused_moves_name_the_state(state: str, action: str) -> None:
    with pytest.raises(JobError, match=f"^state: the job is {state}; only"):
        lifecycle.move(state, action)


def test_delete_is_refused_while_packages_are_claimed_unless_forced_by_an_admin() -> None:
    assert lifecycle.may_delete(0, force=False, can_force=False).allowed
    refused = lifecycle.may_delete(2, force=False, can_force=True)
    assert not refused.allowed and "2 package(s) are claimed" in refused.reason
    assert not lifecycle.may_delete(2, force=True, can_force=False).allowed
    forced = lifecycle.may_delete(2, force=True, can_force=True)
    assert forced.allowed and forced.forced
    with pytest.raises(JobError, match="completed"):
        lifecycle.editable_labels("completed")


# -- labels -------------------------------------------------------------------------------

NER = [{"name": "PER", "color": "#ff0000"}, {"name": "ORG"},
       {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]}]


def test_add_rename_and_look_changes() -> None:
    added = labels.add(NER, {"name": "LOC", "color": ""})
    assert added[-1] == {"name": "LOC"} and len(NER) == 3
    renamed, old = labels.update(NER, labels.LabelRef("PER"), {"name": "PERSON"})
    assert old == "PER" and renamed[0] == {"name": "PERSON", "color": "#ff0000"}
    assert renamed[2]["source"] == ["PERSON"]  # the relation label follows
    recoloured, old = labels.update(NER, labels.LabelRef("ORG"), {"color": "#00ff00"})
    assert old is None and recoloured[1] == {"name": "ORG", "color": "#00ff00"}
    relation, old = labels.update(NER, labels.LabelRef("works_for", "relation"),
                                  {"name": "employs"})
    assert old == "works_for" and relation[2]["name"] == "employs"
    with pytest.raises(JobError, match="no entity label 'LOC'"):
        labels.update(NER, labels.LabelRef("LOC"), {"name": "X"})


def test_entity_labels_used_by_relations_cannot_be_deleted() -> None:
    with pytest.raises(JobError, match="'PER' is used by relation label.*'works_for'"):
        labels.delete(NER, labels.LabelRef("PER"))
    without = labels.delete(NER, labels.LabelRef("works_for", "relation"))
    assert [x["name"] for x in labels.delete(without, labels.LabelRef("PER"))] == ["ORG"]


def test_labels_in_custom_topics() -> None:
    topics = [{"name": "e", "kind": "span", "field": "source", "labels": ["PER", "ORG"],
               "attributes": {"PER": [{"name": "role"}]}},
              {"name": "r", "kind": "relation", "spans_topic": "e",
               "relations": [{"name": "works_for", "source": ["PER"], "target": ["ORG"]}]},
              {"name": "c", "kind": "single_choice", "options": ["PER", "other"]}]
    renamed = labels.rename_in_topics(topics, "PER", "PERSON")
    assert renamed[0]["labels"] == ["PERSON", "ORG"] and "PERSON" in renamed[0]["attributes"]
    assert renamed[1]["relations"][0]["source"] == ["PERSON"]
    assert renamed[2]["options"] == ["PERSON", "other"]
    assert topics[0]["labels"] == ["PER", "ORG"]  # the original is untouched
    assert labels.relation_users(topics, "ORG") == ["works_for"]
    removed = labels.remove_from_topics(topics, "works_for", "relation")
    assert removed[1]["relations"] == []
    assert labels.remove_from_topics(topics, "PER")[0] == {
        "name": "e", "kind": "span", "field": "source", "labels": ["ORG"], "attributes": {}}


# -- teams --------------------------------------------------------------------------------

LIMITS = teams.Limits(teams=2, members=3)


def test_team_limits_and_names() -> None:
    team = teams.create("t1", "ws", "Annotators", "", {}, LIMITS)
    assert team.members == {}
    with pytest.raises(Refused, match="a team named 'annotators' exists"):
        teams.create("t2", "ws", "annotators", "", {"t1": "Annotators"}, LIMITS)
    with pytest.raises(Refused, match="at most 2 teams"):
        teams.create("t3", "ws", "c", "", {"t1": "a", "t2": "b"}, LIMITS)
    with pytest.raises(JobError, match="^name:"):
        teams.create("t2", "ws", " padded", "", {}, LIMITS)


def test_members_roles_and_one_manager() -> None:
    team = teams.create("t1", "ws", "A", "", {}, LIMITS)
    team = teams.add_member(team, "Ann@Example.com ", "labeler", LIMITS)
    assert team.members == {"ann@example.com": "labeler"}
    with pytest.raises(Refused, match="already a member"):
        teams.add_member(team, "ANN@example.com", "reviewer", LIMITS)
    with pytest.raises(JobError, match="^email: not an email"):
        teams.add_member(team, "ann", "labeler", LIMITS)
    with pytest.raises(JobError, match="^role: one of labeler"):
        teams.add_member(team, "bob@example.com", "owner", LIMITS)
    team = teams.add_member(team, "boss@example.com", "manager", LIMITS)
    with pytest.raises(Refused, match="already has a manager"):
        teams.add_member(team, "bob@example.com", "manager", LIMITS)
    with pytest.raises(Refused, match="already has a manager"):
        teams.change_role(team, "ann@example.com", "manager")
    team = teams.add_member(team, "rev@example.com", "reviewer", LIMITS)
    with pytest.raises(Refused, match="at most 3 members"):
        teams.add_member(team, "dan@example.com", "labeler", LIMITS)
    assert team.manager == "boss@example.com"


def test_a_member_holding_work_cannot_be_removed() -> None:
    team = teams.add_member(teams.create("t1", "ws", "A", "", {}, LIMITS), "a@b.io", "labeler",
                            LIMITS)
    with pytest.raises(Refused, match="holds 1 claimed package"):
        teams.remove_member(team, "a@b.io", held_packages=1)
    assert teams.remove_member(team, "A@b.io", held_packages=0).members == {}


def test_who_manages_members() -> None:
    team = teams.add_member(teams.create("t1", "ws", "A", "", {}, LIMITS), "boss@b.io",
                            "manager", LIMITS)
    teams.may_manage_members(team, "ada", is_admin=True, role="manager")
    teams.may_manage_members(team, "Boss@b.io", is_admin=False, role="labeler")
    with pytest.raises(JobError, match="only an administrator names"):
        teams.may_manage_members(team, "boss@b.io", is_admin=False, role="manager")
    with pytest.raises(JobError, match="team's manager"):
        teams.may_manage_members(team, "eve@b.io", is_admin=False, role="labeler")


# -- progress -------------------------------------------------------------------------------


def test_counters_follow_a_package_through_rework_to_acceptance() -> None:
    counters = Counters()
    view = progress.created("j", "p1", 10)

    def step(after: progress.PackageView) -> None:
        nonlocal counters, view
        counters = progress.apply(counters, view, after)
        view = after

    counters = progress.apply(counters, None, view)
    assert (counters.packages, counters.labeled) == (1, 0)
    step(progress.claimed(view, "label", "lea"))
    assert (counters.held, counters.holders) == (1, {"lea": 1})
    step(progress.submitted(view, "lea", 10))
    assert (counters.labeled, counters.held, counters.holders) == (10, 0, {})
    step(progress.claimed(view, "check", "cid"))
    step(progress.checked(view, passed=False))
    step(progress.rejected(view, 3))
    assert (counters.rejected, counters.held, counters.holders) == (3, 1, {"lea": 1})
    step(progress.submitted(view, "lea", 10))
    assert (counters.labeled, counters.rejected) == (10, 0)
    step(progress.claimed(view, "check", "cid"))
    step(progress.checked(view, passed=True))
    assert counters.checked == 10
    step(progress.claimed(view, "accept", "ace"))
    step(progress.accepted(view))
    assert counters == Counters(packages=1, labeled=10, checked=10, accepted=10)


def test_the_same_move_twice_counts_once() -> None:
    view = progress.created("j", "p1", 4)
    counters = progress.apply(Counters(), None, view)
    done = progress.submitted(view, "lea", 4)
    once = progress.apply(counters, view, done)
    assert progress.apply(once, done, progress.submitted(done, "lea", 4)) == once
    assert Counters.from_doc(once.to_doc()) == once


def test_holders_with_dots_are_stored_as_values() -> None:
    counters = Counters(held=1, holders={"a.b@c.io": 1})
    doc = counters.to_doc()
    assert doc["holders"] == [{"who": "a.b@c.io", "n": 1}]
    assert Counters.from_doc(doc) == counters
