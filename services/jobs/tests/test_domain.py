"""Job settings rules: every rule of the issue, each violation naming its field."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.jobs.domain import model
from services.jobs.domain.model import (
    DatasetFacts,
    Draft,
    JobError,
    Members,
    PackageRule,
    Prelabel,
    TeamFacts,
    copy_name,
    package_size_bounds,
    validate,
)

TEXT = DatasetFacts("text", 1_000, frozenset({"source", "label", "city"}))
TEAMS = {"t1": TeamFacts("t1", {"ann@x.io": "labeler", "rev@x.io": "reviewer",
                                "boss@x.io": "manager"})}


def draft(**changes: Any) -> Draft:
    base = Draft(name="sentiment-1", template="text_classification",
                 labels=[{"name": "pos", "color": "#00ff00", "shortcut": "1"},
                         {"name": "neg", "shortcut": "2"}],
                 workflow="label_check_accept")
    return replace(base, **changes)


def errors_of(d: Draft, dataset: DatasetFacts = TEXT) -> list[str]:
    with pytest.raises(JobError) as info:
        validate(d, dataset, TEAMS)
    return [str(e) for e in info.value.errors]


def refused(d: Draft, path: str, match: str = "", dataset: DatasetFacts = TEXT) -> None:
    found = errors_of(d, dataset)
    assert any(e.startswith(f"{path}:") and match in e for e in found), found


# -- name and description ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "Job_1-x", "情感分析", "9lives", "x" * 100, "数据-01_a",
                                  "\U00020000abc"])
def test_valid_names(name: str) -> None:
    assert validate(draft(name=name), TEXT).name == name


@pytest.mark.parametrize("name", ["", "_x", "-x", "a b", "x" * 101, "a.b", "é", "a/b", "a\x00"])
def test_invalid_names_are_refused_naming_the_field(name: str) -> None:
    refused(draft(name=name), "name", "starting with a letter, digit or CJK")


def test_description_is_bounded() -> None:
    assert validate(draft(description="d" * 256), TEXT).description == "d" * 256
    refused(draft(description="d" * 257), "description", "at most 256")
    refused(draft(description="a\x00b"), "description", "NUL")


def test_every_broken_rule_is_reported_at_once() -> None:
    found = errors_of(draft(name="_", workflow="nope", check_percent=0,
                            labels=[{"name": "a"}, {"name": "a"}]))
    assert [e.split(":")[0] for e in found] == ["name", "workflow", "labels[1].name",
                                                "check_percent"]


# -- template, dataset fit, labels --------------------------------------------------------

def test_the_template_is_compiled_from_the_shared_model() -> None:
    settings = validate(draft(), TEXT)
    assert settings.topics == [{"name": "label", "kind": "single_choice",
                                "options": ["pos", "neg"]}]
    assert settings.content == [{"kind": "text", "field": "source"}]
    assert settings.labels[0] == {"name": "pos", "color": "#00ff00", "shortcut": "1"}


def test_the_dataset_must_fit_the_templates_content_kinds() -> None:
    refused(draft(), "template", "needs a text dataset",
            dataset=DatasetFacts("image", 10, None))
    refused(draft(template="object_detection"), "template", "needs a image dataset")
    refused(draft(template="nope"), "template", "unknown preset")


def test_content_fields_must_be_fields_of_the_items_when_known() -> None:
    refused(draft(template_options={"field": "body"}), "template_options.content[0].field",
            "'body' is not a field")
    unknown = DatasetFacts("text", 10, None)
    assert validate(draft(template_options={"field": "body"}), unknown).content[0] == {
        "kind": "text", "field": "body"}


@pytest.mark.parametrize(("labels", "path", "match"), [
    ([], "labels", "at least 1"),
    ([{"name": "a"}, {"name": "a"}], "labels[1].name", "appears twice"),
    ([{"name": ""}], "labels[0].name", "1-1024"),
    ([{"name": "x" * 1025}], "labels[0].name", "1-1024"),
    ([{"name": "a", "color": "red"}], "labels[0].color", "hex colour"),
    ([{"name": "a", "color": "#12345"}], "labels[0].color", "hex colour"),
    ([{"name": "a", "shortcut": "1"}, {"name": "b", "shortcut": "1"}], "labels[1].shortcut",
     "already the shortcut"),
    ([{"name": "a", "shortcut": "Q"}, {"name": "b", "shortcut": "q"}], "labels[1].shortcut",
     "already the shortcut"),
    ([{"name": "a", "shortcut": "enter"}], "labels[0].shortcut", "one key"),
    ([{"name": "a", "kind": "relation", "source": ["a"], "target": ["a"]}], "labels[0].kind",
     "no relation labels"),
])
def test_label_set_rules(labels: list[dict[str, Any]], path: str, match: str) -> None:
    refused(draft(labels=labels), path, match)


def test_attributes_and_multiple_labels_per_object() -> None:
    image = DatasetFacts("image", 10, None)
    settings = validate(draft(template="object_detection", template_options={
        "multi_label": True}, labels=[{"name": "car", "attributes": [
            {"name": "colour", "values": ["yellow", "red"]}]}]), image)
    [topic] = settings.topics
    assert topic["multi_label"] is True
    assert topic["attributes"] == {"car": [{"name": "colour", "values": ["yellow", "red"]}]}
    refused(draft(template="object_detection", labels=[{"name": "car", "attributes": [
        {"name": "c"}, {"name": "c"}]}]), "labels[0].attributes[1].name", "appears twice",
        dataset=image)
    refused(draft(template="object_detection", template_options={"multilabel": True},
                  labels=[{"name": "car"}]), "template_options.multilabel", "unknown option",
            dataset=image)


def test_relation_labels_name_declared_entities() -> None:
    labels = [{"name": "PER"}, {"name": "ORG"},
              {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]}]
    settings = validate(draft(template="entity_relations", labels=labels), TEXT)
    assert settings.topics[1]["relations"] == [
        {"name": "works_for", "source": ["PER"], "target": ["ORG"]}]
    bad = [*labels[:2], {"name": "r", "kind": "relation", "source": ["LOC"],
                         "target": ["ORG"]}]
    refused(draft(template="entity_relations", labels=bad), "labels[2].source[0]",
            "not an entity label")


# -- workflow and check proportion --------------------------------------------------------

def test_workflow_and_check_proportion() -> None:
    assert validate(draft(), TEXT).check_percent == 100
    assert validate(draft(check_percent=1), TEXT).check_ratio == 0.01
    assert validate(draft(check_percent=37.5), TEXT).check_percent == 37.5
    refused(draft(workflow=""), "workflow", "one of label")
    for bad in (0, 0.5, 101, float("nan")):
        refused(draft(check_percent=bad), "check_percent", "1-100")
    refused(draft(workflow="label", check_percent=50), "check_percent", "no check step")
    assert validate(draft(workflow="label", check_percent=100), TEXT).workflow == "label"


# -- package rules -------------------------------------------------------------------------

@pytest.mark.parametrize(("items", "bounds"), [
    (0, (1, 200)), (20_000, (1, 200)), (20_001, (5, 200)), (100_000, (5, 200)),
    (100_001, (25, 200)), (500_000, (25, 200)), (500_001, (50, 200)), (1_000_000, (50, 200)),
    (1_000_001, (100, 200)), (50_000_000, (100, 200)),
])
def test_package_size_bounds_by_dataset_size(items: int, bounds: tuple[int, int]) -> None:
    assert package_size_bounds(items) == bounds
    low, high = bounds
    dataset = DatasetFacts("text", items, None)
    assert validate(draft(package_rule=PackageRule(size=low)), dataset).package_size == low
    assert validate(draft(package_rule=PackageRule(size=high)), dataset).package_size == high
    refused(draft(package_rule=PackageRule(size=high + 1)), "package_rule.size",
            f"must be {low}-{high}", dataset=dataset)
    if low > 1:
        refused(draft(package_rule=PackageRule(size=low - 1)), "package_rule.size",
                f"must be {low}-{high} for a dataset of {items:,} items", dataset=dataset)


def test_the_default_package_size_fits_every_dataset() -> None:
    for items in (5, 30_000, 2_000_000):
        settings = validate(draft(), DatasetFacts("text", items, None))
        assert settings.package_rule.size == 100 == settings.package_size


def test_grouping_by_a_field() -> None:
    rule = validate(draft(package_rule=PackageRule("group", field="city")), TEXT).package_rule
    assert (rule.kind, rule.field) == ("group", "city")
    refused(draft(package_rule=PackageRule("group")), "package_rule.field", "needs a dataset")
    refused(draft(package_rule=PackageRule("group", field="zip")), "package_rule.field",
            "'zip' is not a field")
    refused(draft(package_rule=PackageRule("fixed", field="city")), "package_rule.field",
            "only the group rule")
    refused(draft(package_rule=PackageRule("random")), "package_rule.kind", "one of fixed")


def test_targeted_assignment() -> None:
    rule = PackageRule("targeted", labelers=("lea",), teams=("t1",))
    assert validate(draft(package_rule=rule), TEXT, TEAMS).package_rule.teams == ("t1",)
    refused(draft(package_rule=PackageRule("targeted")), "package_rule.labelers",
            "at least one labeler or team")
    refused(draft(package_rule=PackageRule("targeted", teams=("t9",))),
            "package_rule.teams[0]", "no team 't9'")
    restricted = Members({"labelers": ("lea",)}, {"labelers": ("t1",)})
    ok = PackageRule("targeted", labelers=("lea", "ann@x.io"))
    validate(draft(members=restricted, package_rule=ok), TEXT, TEAMS)
    refused(draft(members=restricted, package_rule=PackageRule("targeted", labelers=("bob",))),
            "package_rule.labelers[0]", "'bob' is not a labeler")
    refused(draft(package_rule=PackageRule("fixed", labelers=("lea",))),
            "package_rule.labelers", "only the targeted rule")


# -- members and teams ---------------------------------------------------------------------

def test_users_per_role_people_and_teams() -> None:
    members = Members({"labelers": ("lea",), "checkers": ("cid",), "admins": ("ada",)},
                      {"labelers": ("t1",), "checkers": ("t1",), "accepters": ("t1",)})
    settings = validate(draft(members=members), TEXT, TEAMS)
    assert model.expand_members(settings.members, TEAMS) == {
        "labelers": ["lea", "ann@x.io", "boss@x.io"], "checkers": ["cid", "boss@x.io", "rev@x.io"],
        "accepters": ["boss@x.io"], "admins": ["ada"]}
    refused(draft(members=Members({"labelers": ("lea", "lea")})), "members.labelers[1]",
            "appears twice")
    refused(draft(members=Members({"labelers": (" lea",)})), "members.labelers[0]",
            "without surrounding spaces")
    refused(draft(members=Members(teams={"labelers": ("t2",)})), "members.labeler_teams[0]",
            "no team 't2'")
    refused(draft(members=Members({"owners": ("x",)})), "members.owners", "not a job role")
    refused(draft(workflow="label", members=Members({"checkers": ("cid",)})),
            "members.checkers", "no check step")
    refused(draft(workflow="label_check", members=Members(teams={"accepters": ("t1",)})),
            "members.accepters", "no acceptance step")


# -- pre-labeling and auto-sync --------------------------------------------------------------

def test_prelabel_configurations() -> None:
    assert validate(draft(), TEXT).prelabel.mode == "none"
    offline = validate(draft(prelabel=Prelabel("offline", (("label", "label"),))), TEXT)
    assert offline.prelabel.stage == "prelabel" and offline.prelabel_field == "label"
    first = validate(draft(prelabel=Prelabel("offline", (("label", ""),))), TEXT)
    assert first.prelabel.mapping == (("label", "label"),)
    for url in ("http://10.0.0.5:8080/predict?x=1", "https://[::1]:9000/", "http://model"):
        assert validate(draft(prelabel=Prelabel("online", endpoint=url)), TEXT).prelabel.endpoint
    online = validate(draft(prelabel=Prelabel("online", endpoint="https://m.example:8443/v1",
                                              stage="formal")), TEXT)
    assert (online.prelabel.stage, online.prelabel_field) == ("formal", "")


@pytest.mark.parametrize(("prelabel", "workflow", "path", "match"), [
    (Prelabel("offline"), "label_check", "prelabel.mapping", "at least one"),
    (Prelabel("offline", (("nope", "label"),)), "label_check", "prelabel.mapping[0].field",
     "'nope' is not a field"),
    (Prelabel("offline", (("label", "x"),)), "label_check", "prelabel.mapping[0].topic",
     "'x' is not a topic"),
    (Prelabel("offline", (("label", "label"), ("city", "label"))), "label_check",
     "prelabel.mapping[1].topic", "mapped twice"),
    (Prelabel("online"), "label_check", "prelabel.endpoint", "needs the model service"),
    (Prelabel("online", endpoint="ftp://m/x"), "label_check", "prelabel.endpoint", "http"),
    (Prelabel("online", endpoint="https://u:p@m/x"), "label_check", "prelabel.endpoint",
     "credentials"),
    (Prelabel("online", endpoint="http://m:99999/"), "label_check", "prelabel.endpoint",
     "port '99999'"),
    (Prelabel("online", endpoint="http://:80/"), "label_check", "prelabel.endpoint",
     "not a host name"),
    (Prelabel("online", endpoint="https://m/a b"), "label_check", "prelabel.endpoint",
     "spaces"),
    (Prelabel("online", endpoint="m.example/predict"), "label_check", "prelabel.endpoint",
     "http"),
    (Prelabel("online", endpoint="https://m/x", mapping=(("label", "label"),)), "label_check",
     "prelabel.mapping", "only offline"),
    (Prelabel("online", endpoint="https://m/x", stage="later"), "label_check",
     "prelabel.stage", "one of prelabel, formal"),
    (Prelabel("online", endpoint="https://m/x", stage="formal"), "label", "prelabel.stage",
     "needs a check step"),
    (Prelabel("none", stage="formal"), "label_check", "prelabel.mode", "none takes no"),
    (Prelabel("magic"), "label_check", "prelabel.mode", "one of none"),
])
def test_prelabel_rules(prelabel: Prelabel, workflow: str, path: str, match: str) -> None:
    refused(draft(prelabel=prelabel, workflow=workflow), path, match)


def test_auto_sync_is_kept() -> None:
    assert validate(draft(auto_sync=True), TEXT).auto_sync is True


# -- copies ---------------------------------------------------------------------------------

def test_copy_names_fit_the_name_rule() -> None:
    assert copy_name("job", "a1b2") == "job-copy-a1b2"
    long = copy_name("x" * 100, "a1b2")
    assert len(long) == 100 and long.endswith("-copy-a1b2")
    assert model.name_errors(long) == []
