"""Offline mapping (domain, pure): values checked against the topic's answer schema."""

from __future__ import annotations

import pytest

from services.prelabel.domain.mapping import (
    FieldMapping,
    MappingError,
    OfflineMapper,
    Refusal,
    Tally,
    coerce,
    resolve,
)

SINGLE = {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}
MULTI = {"name": "tags", "kind": "multiple_choice", "options": ["a", "b"]}
SPANS = {"name": "ents", "kind": "span", "field": "source", "labels": ["PER", "ORG"]}
SHAPES = {"name": "boxes", "kind": "shape", "field": "source", "labels": ["car"],
          "inside": True, "shapes": ["rectangle"]}


def mapper(*pairs: tuple[str, dict[str, object]]) -> OfflineMapper:
    topics = [t for _, t in pairs]
    return OfflineMapper([FieldMapping(f, t) for f, t in pairs], topics)


def test_resolve_maps_fields_to_named_or_first_topics() -> None:
    found = resolve([("label", ""), ("tags_col", "tags")], [SINGLE, MULTI])
    assert [(m.field, m.topic_name) for m in found] == [("label", "label"), ("tags_col", "tags")]
    with pytest.raises(MappingError, match=r"mapping\[1\]\.topic: 'nope' is not a topic"):
        resolve([("label", ""), ("x", "nope")], [SINGLE, MULTI])
    with pytest.raises(MappingError, match="'label' is mapped twice"):
        resolve([("a", "label"), ("b", "")], [SINGLE])
    with pytest.raises(MappingError, match=r"mapping\[0\]\.field: required"):
        resolve([("", "label")], [SINGLE])
    with pytest.raises(MappingError, match="no dataset field is mapped"):
        resolve([], [SINGLE])


def test_single_choice_value_must_be_a_label() -> None:
    m = mapper(("label", SINGLE))
    assert m.map("i1", {"label": "pos"}).answers == {"label": "pos"}
    for value, reason in (("meh", "'meh' is not one of 'pos', 'neg'"),
                          (["pos"], "single choice: expected one label, got a list of 1"),
                          (7, "7 is not one of"), ("POS", "'POS' is not one of")):
        found = m.map("i1", {"label": value})
        assert found.answers == {}
        [refusal] = found.refused
        assert (refusal.item_id, refusal.field, refusal.topic) == ("i1", "label", "label")
        assert reason in refusal.reason, refusal.reason


def test_multiple_choice_takes_a_lone_label_a_list_or_json_text() -> None:
    m = mapper(("tags_col", MULTI))
    assert m.map("i", {"tags_col": "a"}).answers == {"tags": ["a"]}
    assert m.map("i", {"tags_col": ["a", "b"]}).answers == {"tags": ["a", "b"]}
    assert m.map("i", {"tags_col": '["b"]'}).answers == {"tags": ["b"]}
    assert "appears twice" in m.map("i", {"tags_col": ["a", "a"]}).refused[0].reason
    assert "expected 1 to 2 labels, got 0" in m.map("i", {"tags_col": []}).refused[0].reason
    assert "'z' is not one of" in m.map("i", {"tags_col": ["a", "z"]}).refused[0].reason


def test_structured_topics_are_checked_with_the_item() -> None:
    m = mapper(("boxes_col", SHAPES))
    box = {"type": "rectangle", "label": "car", "x": 1, "y": 1, "width": 5, "height": 5}
    item = {"source": "s3://b/a.png", "width": 10, "height": 10}
    assert m.map("i", {**item, "boxes_col": [box]}).answers == {"boxes": [box]}
    far = {**box, "x": 8}
    [refusal] = m.map("i", {**item, "boxes_col": [far]}).refused
    assert "leaves the image" in refusal.reason and refusal.field == "boxes_col"
    assert "expected a list of objects" in m.map("i", {**item, "boxes_col": "[oops"}
                                                 ).refused[0].reason


def test_every_mapping_of_an_item_is_judged_on_its_own() -> None:
    m = mapper(("label", SINGLE), ("tags_col", MULTI), ("ents_col", SPANS))
    found = m.map("i9", {"source": "Alice at ACME", "label": "pos", "tags_col": "zz",
                         "ents_col": [{"id": "e1", "label": "PER", "start": 0, "end": 5}]})
    assert found.answers == {"label": "pos",
                             "ents": [{"id": "e1", "label": "PER", "start": 0, "end": 5}]}
    assert [(r.field, r.topic) for r in found.refused] == [("tags_col", "tags")]
    missing = m.map("i10", {"source": "x", "label": None})
    assert missing.answers == {} and missing.missing == ["label", "tags_col", "ents_col"]


def test_coerce_leaves_text_topics_alone() -> None:
    assert coerce(SINGLE, '["pos"]') == '["pos"]'
    assert coerce(MULTI, "a") == ["a"]


def test_tally_keeps_the_first_reasons() -> None:
    tally = Tally("label", max_reasons=2)
    for n in range(5):
        tally.refuse(Refusal(f"i{n}", "label", "label", "bad"))
    fields = tally.as_fields()
    assert fields["invalid"] == 5
    assert fields["invalid_values"] == [
        {"item_id": "i0", "field": "label", "topic": "label", "reason": "bad"},
        {"item_id": "i1", "field": "label", "topic": "label", "reason": "bad"}]
    again = Tally.from_fields(fields, max_reasons=2)
    assert again.invalid == 5 and again.invalid_values == fields["invalid_values"]
