"""Answers on the shared answer model: validation with the item's data, the compiled-topics
cache, and label renames and deletions on every kind of topic that holds labels."""

from __future__ import annotations

from typing import Any

from services.assignment.domain.answers import (
    TopicsCache,
    compile_job_topics,
    delete_label,
    rename_label,
    topics_version,
)

CHOICES = [
    {"name": "label", "kind": "single_choice", "options": ["cat", "dog"]},
    {"name": "tags", "kind": "multiple_choice", "options": ["cat", "dog", "fox"]},
]
SHAPES = [{"name": "objects", "kind": "shape", "field": "image", "labels": ["car", "dog"],
           "inside": True}]
MULTI = [{"name": "objects", "kind": "shape", "field": "image", "labels": ["car", "dog"],
          "multi_label": True}]
NER = [
    {"name": "entities", "kind": "span", "field": "text", "labels": ["PER", "ORG"]},
    {"name": "relations", "kind": "relation", "spans_topic": "entities", "relations": [
        {"name": "works_for", "source": ["PER"], "target": ["ORG"]}]},
]
SEGMENTS = [{"name": "segments", "kind": "time_segment", "field": "audio", "classes": [
    {"name": "speaker", "labels": ["man", "woman"]},
    {"name": "noise", "labels": ["man", "street"]}]}]


def test_shapes_are_checked_against_the_image_size_of_the_item() -> None:
    compiled = compile_job_topics(SHAPES)
    assert compiled.needs_item
    answer = {"objects": [{"type": "polygon", "label": "car",
                           "points": [[0, 0], [10, 0], [10, 500]]}]}
    assert compiled.validate(answer, {"width": 100, "height": 100}) == [
        "topic 'objects' at objects[0].points[2]: (10, 500) is outside the image (100 x 100)"]
    assert compiled.validate(answer, {"width": 100, "height": 600}) == []


def test_spans_are_checked_against_the_text_and_relations_against_entity_types() -> None:
    compiled = compile_job_topics(NER)
    item = {"text": "Alice works at Acme"}
    good = {"entities": [{"id": "e1", "label": "PER", "start": 0, "end": 5},
                         {"id": "e2", "label": "ORG", "start": 15, "end": 19}],
            "relations": [{"label": "works_for", "from": "e1", "to": "e2"}]}
    assert compiled.validate(good, item) == []
    past_end = {"entities": [{"id": "e1", "label": "PER", "start": 0, "end": 50}],
                "relations": []}
    assert any(e.startswith("topic 'entities' at entities[0]")
               for e in compiled.validate(past_end, item))
    wrong_types = {**good, "relations": [{"label": "works_for", "from": "e2", "to": "e1"}]}
    assert any(e.startswith("topic 'relations' at relations[0]")
               for e in compiled.validate(wrong_types, item))


def test_choice_topics_need_no_item_and_errors_name_topic_path_and_reason() -> None:
    compiled = compile_job_topics(CHOICES)
    assert not compiled.needs_item
    assert compiled.validate({"label": "cat", "tags": ["fox"]}) == []
    assert compiled.validate({"label": "cow", "tags": ["fox"]}) == [
        "topic 'label' at label: 'cow' is not one of 'cat', 'dog'"]
    assert compiled.validate(["cat"])[0].startswith("answer: expected an object")
    assert compiled.validate({"tags": ["fox"]}) == [
        "topic 'label' at label: required topic has no answer"]


def test_the_cache_compiles_once_per_topics_version_and_stays_bounded() -> None:
    cache = TopicsCache(size=2)
    first = cache.get("j1", CHOICES)
    assert cache.get("j1", [dict(t) for t in CHOICES]) is first  # same version, same entry
    renamed = [{**CHOICES[0], "options": ["kitty", "dog"]}, CHOICES[1]]
    assert topics_version(renamed) != topics_version(CHOICES)
    second = cache.get("j1", renamed)
    assert second is not first and len(cache) == 1  # the stale version was dropped
    cache.get("j2", SHAPES)
    cache.get("j3", NER)
    assert len(cache) == 2
    assert cache.get("j1", renamed) is not second  # evicted (least recently used)


def test_a_rename_reaches_choices_shapes_and_multi_labels() -> None:
    answer = {"label": "dog", "tags": ["cat", "dog"]}
    assert rename_label(CHOICES, answer, kind="entity", old="dog", new="hound") == {
        "label": "hound", "tags": ["cat", "hound"]}
    assert rename_label(CHOICES, {"label": "cat", "tags": ["fox"]}, kind="entity",
                        old="dog", new="hound") is None
    shapes = {"objects": [{"type": "point", "label": "dog", "x": 1, "y": 2},
                          {"type": "point", "label": "car", "x": 1, "y": 2}]}
    renamed = rename_label(SHAPES, shapes, kind="entity", old="dog", new="hound")
    assert renamed is not None
    assert [o["label"] for o in renamed["objects"]] == ["hound", "car"]
    assert shapes["objects"][0]["label"] == "dog"  # the input is left alone
    multi = {"objects": [{"type": "point", "labels": ["car", "dog"], "x": 1, "y": 2}]}
    assert rename_label(MULTI, multi, kind="entity", old="dog", new="hound") == {
        "objects": [{"type": "point", "labels": ["car", "hound"], "x": 1, "y": 2}]}


def test_a_rename_is_idempotent() -> None:
    answer = {"label": "dog", "tags": ["dog"]}
    once = rename_label(CHOICES, answer, kind="entity", old="dog", new="hound")
    assert once is not None
    assert rename_label(CHOICES, once, kind="entity", old="dog", new="hound") is None


def test_entity_and_relation_renames_touch_only_their_kind() -> None:
    answer = {"entities": [{"id": "e1", "label": "PER", "start": 0, "end": 5},
                           {"id": "e2", "label": "ORG", "start": 6, "end": 9}],
              "relations": [{"label": "works_for", "from": "e1", "to": "e2"}]}
    entity = rename_label(NER, answer, kind="entity", old="PER", new="PERSON")
    assert entity is not None
    assert [e["label"] for e in entity["entities"]] == ["PERSON", "ORG"]
    assert entity["relations"] == answer["relations"]
    relation = rename_label(NER, answer, kind="relation", old="works_for", new="employed_by")
    assert relation is not None
    assert relation["relations"][0]["label"] == "employed_by"
    assert relation["entities"] == answer["entities"]
    # A relation label named like an entity label is not an entity label.
    assert rename_label(NER, answer, kind="relation", old="PER", new="X") is None


def test_segment_renames_keep_to_their_label_class() -> None:
    answer = {"segments": [{"start": 0, "end": 1, "classes": {"speaker": "man",
                                                              "noise": "man"}}]}
    scoped = rename_label(SEGMENTS, answer, kind="entity", old="man", new="male",
                          label_class="speaker")
    assert scoped == {"segments": [{"start": 0, "end": 1, "classes": {"speaker": "male",
                                                                     "noise": "man"}}]}


def test_deleting_a_choice_label_empties_topics_and_reports_an_only_label() -> None:
    removal = delete_label(CHOICES, {"label": "dog", "tags": ["cat", "dog"]},
                           kind="entity", name="dog")
    assert removal is not None
    assert removal.answer == {"tags": ["cat"]} and not removal.only_label
    only = delete_label(CHOICES, {"label": "dog", "tags": ["dog"]}, kind="entity", name="dog")
    assert only is not None and only.answer == {} and only.only_label
    assert delete_label(CHOICES, {"label": "cat", "tags": ["fox"]}, kind="entity",
                        name="dog") is None


def test_deleting_a_shape_label_drops_its_objects_and_keeps_the_others() -> None:
    answer: dict[str, Any] = {"objects": [
        {"type": "rectangle", "label": "dog", "x": 0, "y": 0, "width": 1, "height": 1},
        {"type": "point", "label": "car", "x": 1, "y": 1}]}
    removal = delete_label(SHAPES, answer, kind="entity", name="dog")
    assert removal is not None and not removal.only_label
    assert removal.answer == {"objects": [{"type": "point", "label": "car", "x": 1, "y": 1}]}
    multi = {"objects": [{"type": "point", "labels": ["car", "dog"], "x": 1, "y": 2},
                         {"type": "point", "labels": ["dog"], "x": 3, "y": 4}]}
    removal = delete_label(MULTI, multi, kind="entity", name="dog")
    assert removal is not None
    assert removal.answer == {"objects": [{"type": "point", "labels": ["car"], "x": 1, "y": 2}]}


def test_deleting_an_entity_label_drops_relations_to_its_spans() -> None:
    answer = {"entities": [{"id": "e1", "label": "PER", "start": 0, "end": 5},
                           {"id": "e2", "label": "ORG", "start": 6, "end": 9}],
              "relations": [{"label": "works_for", "from": "e1", "to": "e2"}]}
    removal = delete_label(NER, answer, kind="entity", name="ORG")
    assert removal is not None
    assert removal.answer == {"entities": [{"id": "e1", "label": "PER", "start": 0, "end": 5}]}
    relation = delete_label(NER, answer, kind="relation", name="works_for")
    assert relation is not None
    assert relation.answer == {"entities": answer["entities"]} and not relation.only_label


def test_deleting_a_class_label_keeps_the_other_classes() -> None:
    answer = {"segments": [{"start": 0, "end": 1, "classes": {"speaker": "man",
                                                              "noise": "street"}},
                           {"start": 2, "end": 3, "classes": {"speaker": "man"}}]}
    removal = delete_label(SEGMENTS, answer, kind="entity", name="man",
                           label_class="speaker")
    assert removal is not None and not removal.only_label
    assert removal.answer == {"segments": [{"start": 0, "end": 1,
                                            "classes": {"noise": "street"}}]}
