"""The online pre-labeling contract (docs/prelabel-model-contract.md), transport-free: the
request built from a batch of items, the reply read and judged. Both transports (HTTP/JSON
and gRPC) turn their wire format into :class:`RawItem` values; everything a model answers
is checked here against the job's topics, so a malformed reply labels nothing wrongly.
Pure: values in, values or errors out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labelops_shared.annotations import AnswerChecker
from services.prelabel.domain.mapping import MAX_REASON, Refusal, refuse_invalid

MEDIA_KINDS = frozenset({"image", "video", "audio", "pdf"})
MODEL_FIELD = "model"  # the `field` of a refused online answer


class MalformedReply(ValueError):
    """The reply as a whole does not follow the contract (not a per-item problem)."""


@dataclass(frozen=True)
class Content:
    field: str
    kind: str
    text: str = ""
    uri: str = ""
    url: str = ""

    def as_json(self) -> dict[str, str]:
        found = {"field": self.field, "kind": self.kind}
        for key in ("text", "uri", "url"):
            value = getattr(self, key)
            if value:
                found[key] = value
        return found


@dataclass(frozen=True)
class ModelItem:
    id: str
    data: Mapping[str, Any]
    content: tuple[Content, ...]


def content_of(data: Mapping[str, Any], components: Sequence[Mapping[str, Any]]
               ) -> tuple[Content, ...]:
    """What the template shows of an item: text as text, media by URI (the caller adds a
    readable URL). Without content components the item's ``source`` is the text."""
    if not components:
        components = [{"kind": "text", "field": "source"}]
    found = []
    for component in components:
        kind, name = str(component.get("kind", "text")), str(component.get("field", "source"))
        value = data.get(name)
        if value is None:
            continue
        if kind in MEDIA_KINDS:
            found.append(Content(name, kind, uri=str(value)))
        else:
            found.append(Content(name, kind, text=value if isinstance(value, str)
                                 else str(value)))
    return tuple(found)


def request_json(job_id: str, topics: Sequence[Mapping[str, Any]], labels: Sequence[str],
                 items: Sequence[ModelItem]) -> dict[str, Any]:
    return {"job_id": job_id, "topics": list(topics), "labels": list(labels),
            "items": [{"id": i.id, "data": dict(i.data),
                       "content": [c.as_json() for c in i.content]} for i in items]}


@dataclass(frozen=True)
class RawAnswer:
    topic: str
    answer: Any
    confidence: Any = None
    problem: str = ""  # set by a transport that could not even read the answer


@dataclass(frozen=True)
class RawItem:
    id: str
    answers: tuple[RawAnswer, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class RawReply:
    model_version: str
    items: tuple[RawItem, ...]


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedReply(f"{what}: expected a string, got {type(value).__name__}")
    return value


def reply_from_json(body: Any) -> RawReply:
    """The HTTP reply body (decoded JSON) as a RawReply; MalformedReply says what is wrong
    with its shape. Per-answer problems are left for :func:`judge`."""
    if not isinstance(body, Mapping):
        raise MalformedReply("the reply is not a JSON object")
    items = body.get("items")
    if not isinstance(items, list):
        raise MalformedReply("items: expected a list")
    found = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise MalformedReply(f"items[{i}]: expected an object")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise MalformedReply(f"items[{i}].id: expected the item's id")
        predictions = item.get("predictions", [])
        if not isinstance(predictions, list):
            raise MalformedReply(f"items[{i}].predictions: expected a list")
        answers = []
        for j, p in enumerate(predictions):
            if not isinstance(p, Mapping) or not isinstance(p.get("topic"), str):
                answers.append(RawAnswer("", None, problem=f"predictions[{j}]: expected "
                                         "{topic, answer, confidence}"))
                continue
            if "answer" not in p:
                answers.append(RawAnswer(p["topic"], None, problem="answer: missing"))
                continue
            answers.append(RawAnswer(p["topic"], p["answer"], p.get("confidence")))
        found.append(RawItem(item_id, tuple(answers), _text(item.get("error"),
                                                            f"items[{i}].error")))
    return RawReply(_text(body.get("model_version"), "model_version"), tuple(found))


@dataclass(frozen=True)
class Predicted:
    topic: str
    answer: Any
    confidence: float | None


@dataclass
class Judged:
    """One batch's reply, judged: valid predictions per item, refused answers, failed
    items (an error from the model, or no result for an item asked)."""

    model_version: str
    predictions: dict[str, list[Predicted]] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"


def _confidence(value: Any) -> tuple[float | None, str]:
    if value is None:
        return None, ""
    kind = type(value)
    if kind not in (int, float) or not math.isfinite(value) or not 0 <= value <= 1:
        return None, f"confidence: expected a number in [0, 1], got {value!r}"
    return float(value), ""


def judge(reply: RawReply, asked: Sequence[ModelItem], checker: AnswerChecker) -> Judged:
    """Check every answer against the job's topics (with the item's data, for bounds). An
    item the model did not answer, or answered with an error, is failed; an answer that
    breaks its topic's schema is refused; the rest are predictions. Results for items not
    asked are ignored."""
    by_id = {i.id: i for i in asked}
    judged = Judged(reply.model_version)
    answered: set[str] = set()
    for raw in reply.items:
        item = by_id.get(raw.id)
        if item is None or raw.id in answered:
            continue
        answered.add(raw.id)
        if raw.error:
            judged.failed[raw.id] = _clip(f"the model answered with an error: {raw.error}")
            continue
        answers: dict[str, Any] = {}
        confidences: dict[str, float | None] = {}
        for answer in raw.answers:
            problem = answer.problem
            confidence, bad = _confidence(answer.confidence)
            if not problem and answer.topic not in checker.names:
                problem = f"{answer.topic!r} is not a topic of the job"
            elif not problem and answer.topic in answers:
                problem = "answered twice"
            elif not problem and answer.answer is None:
                problem = "answer: null (leave the topic out instead)"
            problem = problem or bad
            if problem:
                judged.refused.append(Refusal(raw.id, MODEL_FIELD, answer.topic,
                                              _clip(f"{answer.topic or 'answer'}: {problem}")))
                continue
            answers[answer.topic] = answer.answer
            confidences[answer.topic] = confidence
        judged.refused += refuse_invalid(checker, answers, item.data, raw.id,
                                         dict.fromkeys(answers, MODEL_FIELD))
        if answers:
            judged.predictions[raw.id] = [Predicted(t, a, confidences[t])
                                          for t, a in answers.items()]
    for item in asked:
        if item.id not in answered:
            judged.failed[item.id] = "the model returned no result for this item"
    return judged
