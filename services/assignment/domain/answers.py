"""Answers against the job's template: validation on the shared answer model, a bounded cache
of compiled topics per job, and the rewrites a label rename or deletion makes to a stored
answer (the rewrites themselves are shared: ``labelops_shared.label_rewrites``). Pure.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelops_shared.annotations import AnnotationError, AnswerChecker, compile_topics
from labelops_shared.label_rewrites import LabelRemoval, delete_label, rename_label

__all__ = ["LabelRemoval", "delete_label", "rename_label"]

# Kinds whose checks read the item (text of spans, image size, duration, page count).
ITEM_KINDS = frozenset({"span", "shape", "table", "time_segment", "page"})
CACHE_JOBS = 256


# -- validation ----------------------------------------------------------------------------


def topics_version(topics: Sequence[Mapping[str, Any]]) -> str:
    """A short hash of the topic definitions: a changed template compiles anew."""
    canonical = json.dumps(list(topics), sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CompiledTopics:
    checker: AnswerChecker
    needs_item: bool  # some topic's checks read the item's data

    def validate(self, answer: Any, item: Mapping[str, Any] | None = None) -> list[str]:
        return [describe(e) for e in self.checker.validate(answer, item)]


def compile_job_topics(topics: Sequence[Mapping[str, Any]]) -> CompiledTopics:
    return CompiledTopics(compile_topics(topics),
                          any(t.get("kind") in ITEM_KINDS for t in topics))


class TopicsCache:
    """Compiled topics of the most recently used jobs (LRU), keyed by job id and the hash
    of its topics, so a renamed label or a changed template is never checked by a stale
    checker and memory stays bounded whatever the number of jobs."""

    def __init__(self, size: int = CACHE_JOBS) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], CompiledTopics] = OrderedDict()

    def get(self, job_id: str, topics: Sequence[Mapping[str, Any]]) -> CompiledTopics:
        key = (job_id, topics_version(topics))
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        compiled = compile_job_topics(topics)
        # One entry per job: an older version of this job's topics is dropped at once.
        for stale in [k for k in self._entries if k[0] == job_id]:
            del self._entries[stale]
        self._entries[key] = compiled
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return compiled

    def __len__(self) -> int:
        return len(self._entries)


def describe(error: AnnotationError) -> str:
    """``topic 'boxes' at boxes[0].points[2]: (10, 500) is outside the image (100 x 100)``."""
    if not error.topic:
        return f"answer: {error.reason}"
    return f"topic {error.topic!r} at {error.path or error.topic}: {error.reason}"
