"""The online contract, transport-free (domain, pure): requests built, replies read and
judged against the job's topics."""

from __future__ import annotations

import pytest

from labelops_shared.annotations import compile_topics
from services.prelabel.domain.contract import (
    Content,
    MalformedReply,
    ModelItem,
    RawAnswer,
    RawItem,
    RawReply,
    content_of,
    judge,
    reply_from_json,
    request_json,
)

SINGLE = {"name": "label", "kind": "single_choice", "options": ["pos", "neg"]}
MULTI = {"name": "tags", "kind": "multiple_choice", "options": ["a", "b"]}
CHECKER = compile_topics([SINGLE, MULTI])


def items(*ids: str) -> list[ModelItem]:
    return [ModelItem(i, {"source": f"text {i}"}, (Content("source", "text", text="t"),))
            for i in ids]


def test_request_carries_content_topics_and_labels() -> None:
    content = content_of({"source": "s3://b/k.png", "caption": 3},
                         [{"kind": "image", "field": "source"},
                          {"kind": "text", "field": "caption"},
                          {"kind": "text", "field": "absent"}])
    assert content == (Content("source", "image", uri="s3://b/k.png"),
                       Content("caption", "text", text="3"))
    assert content_of({"source": "hello"}, []) == (Content("source", "text", text="hello"),)
    body = request_json("j1", [SINGLE], ["pos", "neg"],
                        [ModelItem("i1", {"source": "s3://b/k.png"},
                                   (Content("source", "image", uri="s3://b/k.png",
                                            url="http://x/k.png"),))])
    assert body == {"job_id": "j1", "topics": [SINGLE], "labels": ["pos", "neg"],
                    "items": [{"id": "i1", "data": {"source": "s3://b/k.png"},
                               "content": [{"field": "source", "kind": "image",
                                            "uri": "s3://b/k.png", "url": "http://x/k.png"}]}]}


def test_reply_shape_errors_are_malformed() -> None:
    for body, message in (([], "not a JSON object"), ({}, "items: expected a list"),
                          ({"items": [3]}, r"items\[0\]: expected an object"),
                          ({"items": [{"predictions": []}]}, r"items\[0\]\.id"),
                          ({"items": [{"id": "i", "predictions": {}}]}, "predictions"),
                          ({"items": [], "model_version": 3}, "model_version")):
        with pytest.raises(MalformedReply, match=message):
            reply_from_json(body)


def test_valid_answers_become_predictions_with_their_confidence() -> None:
    reply = reply_from_json({"model_version": "m1", "items": [
        {"id": "i1", "predictions": [{"topic": "label", "answer": "pos", "confidence": 0.9},
                                     {"topic": "tags", "answer": ["a"]}]},
        {"id": "i2", "predictions": [{"topic": "label", "answer": "neg", "confidence": 1}]},
    ]})
    judged = judge(reply, items("i1", "i2"), CHECKER)
    assert judged.model_version == "m1" and not judged.refused and not judged.failed
    assert [(p.topic, p.answer, p.confidence) for p in judged.predictions["i1"]] == [
        ("label", "pos", 0.9), ("tags", ["a"], None)]
    assert judged.predictions["i2"][0].confidence == 1.0


def test_bad_answers_are_refused_one_by_one() -> None:
    reply = reply_from_json({"items": [
        {"id": "i1", "predictions": [{"topic": "label", "answer": "meh", "confidence": 0.9},
                                     {"topic": "tags", "answer": ["b"], "confidence": 0.5}]},
        {"id": "i2", "predictions": [{"topic": "nope", "answer": "x"},
                                     {"topic": "label", "answer": "pos", "confidence": 1.5},
                                     {"topic": "tags", "answer": None},
                                     {"topic": "tags"}, "junk"]},
        {"id": "i3", "predictions": [{"topic": "label", "answer": "pos"},
                                     {"topic": "label", "answer": "neg"}]},
    ]})
    judged = judge(reply, items("i1", "i2", "i3"), CHECKER)
    assert [p.topic for p in judged.predictions["i1"]] == ["tags"]
    assert "i2" not in judged.predictions
    assert [p.answer for p in judged.predictions["i3"]] == ["pos"]
    reasons = [(r.item_id, r.field, r.topic, r.reason) for r in judged.refused]
    assert reasons == [
        ("i1", "model", "label", "label: 'meh' is not one of 'pos', 'neg'"),
        ("i2", "model", "nope", "nope: 'nope' is not a topic of the job"),
        ("i2", "model", "label", "label: confidence: expected a number in [0, 1], got 1.5"),
        ("i2", "model", "tags", "tags: answer: null (leave the topic out instead)"),
        ("i2", "model", "tags", "tags: answer: missing"),
        ("i2", "model", "", "answer: predictions[4]: expected {topic, answer, confidence}"),
        ("i3", "model", "label", "label: answered twice"),
    ]


def test_errors_and_missing_results_fail_the_item_and_strangers_are_ignored() -> None:
    reply = RawReply("m", (RawItem("i1", error="out of memory"),
                           RawItem("zz", (RawAnswer("label", "pos"),)),
                           RawItem("i2", (RawAnswer("label", "pos", problem="answer_json: x"),))))
    judged = judge(reply, items("i1", "i2", "i3"), CHECKER)
    assert judged.failed == {"i1": "the model answered with an error: out of memory",
                             "i3": "the model returned no result for this item"}
    assert judged.predictions == {} and judged.refused[0].reason == "label: answer_json: x"
